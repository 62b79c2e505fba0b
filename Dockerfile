# The pipeline's one image: every Kubeflow step's container (pipeline/kubeflow.py) and Beam's SDK
# worker on Dataflow, Flink and Spark. Build it with `make image` (tools/container build), which also
# makes the base image locally when no registry serves it.
#
# BASE_IMAGE: Debian 12 (bookworm), whose own python3 is the 3.11 this project pins. The default,
# localhost/debian:bookworm-slim, is the registry's debian:bookworm-slim made here with debootstrap
# (tools/container); docker.io/library/debian:bookworm-slim works as it is. python:3.11-slim-bookworm
# (its own Python in /usr/local) or TFX's gcr.io/tfx-oss-public/tfx:1.21.0 (Ubuntu) work too, as long
# as apt-get can install python3 3.11 there. Debian's own python3 is the one tested, so it is the default.
ARG BASE_IMAGE=localhost/debian:bookworm-slim

# --- build: the locked stack into /opt/venv, with the compiler that pyfarmhash (TFDV's dependency,
# no wheel for Python 3.11) needs; the final stage copies only the venv.
FROM ${BASE_IMAGE} AS build
ARG UV_VERSION=0.13.10
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv python3-dev g++ ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.lock /tmp/requirements.lock
# host-ca: the building machine's CA bundle, lent to this step only (tools/container passes it
# where it exists; nothing of it stays in a layer). --compile-bytecode: every container starts
# fresh, and without .pyc files each step's Python compiled TF/TFX/Beam again (~25 s a process).
# --no-deps: the lock is the whole resolution (made with overrides.txt), installed as it is.
# UV_LINK_MODE=copy: the cache mount is another file system, where uv cannot hard-link.
# tensorflow/include: TensorFlow's C++ headers (430 MB of the 3.9 GB image), only for compiling
# custom ops, which nothing here does.
RUN --mount=type=secret,id=host-ca --mount=type=cache,target=/root/.cache/uv \
    if [ -s /run/secrets/host-ca ]; then export SSL_CERT_FILE=/run/secrets/host-ca PIP_CERT=/run/secrets/host-ca; fi \
    && python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}" \
    && /opt/uv/bin/uv venv --python /usr/bin/python3.11 /opt/venv \
    && UV_LINK_MODE=copy /opt/uv/bin/uv pip install --python /opt/venv/bin/python --no-deps --require-hashes --compile-bytecode -r /tmp/requirements.lock \
    && rm -rf /opt/venv/lib/python3.11/site-packages/tensorflow/include

# --- the image: Debian's python3 and the venv, no compiler. apt-get clean: apt's package caches
# (/var/cache/apt/*.bin, 87 MB) would stay in the layer otherwise.
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv

# Every Kubeflow container runs a TFX entry point (python -m tfx.orchestration.kubeflow.v2...),
# which imports this project's code by module path (components.video_example_gen.executor.Executor,
# trainer.preprocessing.preprocessing_fn, trainer.run_fn.run_fn, --beam_plugin=pipeline.beam_plugin):
# hence the project in /pipeline, on PYTHONPATH. `python` is the venv's.
WORKDIR /pipeline
COPY . ./
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/pipeline \
    PYTHONUNBUFFERED=1

# Beam's SDK container contract (what /opt/apache/beam/boot does in Beam's images): started with
# --id/--provision_endpoint/... it boots one SDK worker; with --worker_pool it serves a worker pool
# (port 50000). Any other command runs as given (`podman run IMAGE python pipeline_runner.py ...`);
# Kubeflow sets each container's command, which replaces this entrypoint.
ENTRYPOINT ["python", "-m", "pipeline.beam_worker_boot"]
