# make setup: install everything into .venv, then run the main job on the built-in demo data.
# make test:  install if needed, then run the test suite (what CI runs).
# make test-fast: the fast loop, without the whole-pipeline (e2e) tests.
PYTHON ?= python3
VENV := .venv
DEMO_OUTPUT := outputs/demo

.PHONY: setup install test test-fast demo flink-assemble flink-up flink-down

setup: install demo

install: $(VENV)/.installed

# uv resolves the pinned TFX 1.21 stack with the held-back packages of
# overrides.txt; pip stays in the venv because TFX pip-installs user code.
# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (as on this CI) no
# process writes .pyc files, so each one compiled TF/TFX/Beam from source again:
# ~25 s per process, 400 -> 220 s for the Kubeflow step-by-step test.
$(VENV)/.installed: requirements.txt overrides.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --compile-bytecode --python $(VENV)/bin/python -r requirements.txt --override overrides.txt
	touch $@

demo: install
	$(VENV)/bin/python pipeline_runner.py run --demo --output-dir $(DEMO_OUTPUT)

# On both cores (pytest-xdist; tests/conftest.py keeps each module's tests on one worker).
# The 15 slowest tests are listed at the end, so that a slow new test shows.
PYTEST := $(VENV)/bin/python -m pytest -p no:cacheprovider -n 2
test: install
	$(PYTEST) --durations=15 tests

test-fast: install
	$(PYTEST) -m "not e2e" tests

# A local Flink 1.19.0 session cluster (REST API on localhost:8081, two TaskManagers), Beam 2.62.0's Flink job
# server (localhost:8099) and the project's SDK worker pool (localhost:50000), assembled from PyPI and Maven
# Central into ~/.cache/video-pipeline/flink and ~/.m2 (once), for `pipeline_runner.py ... --runner flink`.
# flink-down stops everything flink-up started. Needs Java 17 and Maven.
flink-assemble: install
	$(VENV)/bin/python -m tools.flink_cluster assemble

flink-up: install
	$(VENV)/bin/python -m tools.flink_cluster up

flink-down:
	$(VENV)/bin/python -m tools.flink_cluster down
