# make setup: install everything into .venv, then run the main job on the built-in demo data.
# make test:  install if needed, then run the test suite (what CI runs).
# make test-fast: the fast loop, without the whole-pipeline (e2e) tests.
# make lock:  resolve requirements.txt + overrides.txt again into requirements.lock (commit it).
# make image: build the container image (tools/container: Podman or Docker, base image made if missing).
PYTHON ?= python3
VENV := .venv
DEMO_OUTPUT := outputs/demo
# The uv that installs the lock, here and in the image (the Dockerfile's default is the same).
export UV_VERSION := 0.13.10
IMAGE ?= localhost/video-action-pipeline:latest

.PHONY: setup install lock image test test-deps test-fast lint demo flink-assemble flink-up flink-down

setup: install demo

install: $(VENV)/.installed

# The venv gets exactly the versions of requirements.lock, checked against its hashes, as the image
# does; pip stays in the venv (it is in the lock) because TFX pip-installs user code. --no-deps: the
# lock is the whole resolution, made with overrides.txt; resolved again without it, Beam 2.62's
# pyarrow<17 would refuse the locked pyarrow 18.
# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (as on this CI) no
# process writes .pyc files, so each one compiled TF/TFX/Beam from source again:
# ~25 s per process, 400 -> 220 s for the Kubeflow step-by-step test.
$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --compile-bytecode --python $(VENV)/bin/python --no-deps --require-hashes -r requirements.lock
	touch $@

# requirements.txt names what the project needs, overrides.txt what is held back; the lock is the
# whole resolved stack for Linux and Python 3.11, every file with its hash. After changing either
# file: make lock, then make install, and commit requirements.lock. uv keeps the lock's versions
# where they still fit; `make lock LOCK_FLAGS=--upgrade` takes the newest that the files allow.
# The uv here is the venv's, or any uv on PATH before the first install.
UV = $(firstword $(wildcard $(VENV)/bin/uv) uv)
lock:
	$(UV) pip compile requirements.txt --override overrides.txt --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 $(LOCK_FLAGS) -o requirements.lock

# The image of every Kubeflow step and of Beam's SDK workers (Dockerfile); tools/container knows the engine.
image:
	tools/container build $(IMAGE)

demo: install
	$(VENV)/bin/python pipeline_runner.py run --demo --output-dir $(DEMO_OUTPUT)

# On both cores (pytest-xdist; tests/conftest.py keeps each module's tests on one worker).
# The 15 slowest tests are listed at the end, so that a slow new test shows.
PYTEST := $(VENV)/bin/python -m pytest -p no:cacheprovider -n 2
test: install lint test-deps
	$(PYTEST) --durations=15 tests

# Podman, runc and debootstrap where missing (tools/install_test_deps), and Flink with Beam's Flink job server for
# tests/pipeline/test_flink.py, from PyPI and Maven Central (cached in ~/.cache/video-pipeline/flink and ~/.m2; a
# first download takes ~20 s), before the clock of the tests.
test-deps: install
	tools/install_test_deps
	$(VENV)/bin/python -m tools.flink_cluster assemble

# ruff (pyproject.toml): the linter and the formatter, pinned, run from uv's cache (uvx fetches it from PyPI once).
RUFF := $(VENV)/bin/uvx ruff@0.16.9
lint: install
	$(RUFF) check .
	$(RUFF) format --check .

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
