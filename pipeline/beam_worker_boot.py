#!/usr/bin/env python3
"""A Beam SDK worker boot for a local external worker pool, in Python.

    python -m apache_beam.runners.worker.worker_pool_main --service_port Q \\
        --container_executable /path/to/this/project/pipeline/beam_worker_boot.py

worker_pool_main on its own starts each worker as a bare SdkHarness
(`python -c "SdkHarness(...).run()"`), which never reads the pipeline options
and so never imports --beam_plugin modules (pipeline/beam_plugin.py): then
StatisticsGen fails there with "cannot import name 'sql_util'". With
--container_executable the pool runs this file with the SDK container's
arguments instead; it does what the SDK container's boot program
(/opt/apache/beam/boot in Beam's and TFX's images) does before it starts
apache_beam.runners.worker.sdk_worker_main: asks the provision service for the
pipeline options and endpoints, and hands them over in the environment.
sdk_worker_main then imports the plugins before any bundle runs.

It installs nothing (no staged packages): the worker runs with this Python and
the project on its path, as the launching process does. Run the pool from the
project root with the project's venv first on PATH.

It is also the image's ENTRYPOINT (Dockerfile), and so keeps Beam's SDK
container contract as Beam's own boot does:
    IMAGE --id=ID --provision_endpoint=HOST:PORT [--control_endpoint ...]   one SDK worker
                                                                              (Dataflow, Flink and Spark
                                                                              with --environment_type=DOCKER)
    IMAGE --worker_pool [--service_port=50000]   Beam's worker pool, each worker booted by this file
                                                 (--environment_type=EXTERNAL, e.g. a Kubernetes sidecar)
    IMAGE --setup_only ...                       exits: the image already holds every package
Any other command runs as given (`IMAGE python pipeline_runner.py run --demo ...`).
Kubeflow sets each container's command itself, which replaces the ENTRYPOINT.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc
from google.protobuf import json_format, text_format

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker_environment(provision_endpoint: str, worker_id: str) -> dict[str, str]:
    """The environment sdk_worker_main reads, from the provision service (as Beam's boot does)."""
    with grpc.insecure_channel(provision_endpoint) as channel:
        stub = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
        info = stub.GetProvisionInfo(beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=[("worker_id", worker_id)]).info
    environment = {
        "WORKER_ID": worker_id,
        "PIPELINE_OPTIONS": json_format.MessageToJson(info.pipeline_options),
        "CONTROL_API_SERVICE_DESCRIPTOR": text_format.MessageToString(info.control_endpoint),
        "LOGGING_API_SERVICE_DESCRIPTOR": text_format.MessageToString(info.logging_endpoint),
        "RUNNER_CAPABILITIES": " ".join(info.runner_capabilities),
    }
    if info.HasField("status_endpoint"):
        environment["STATUS_API_SERVICE_DESCRIPTOR"] = text_format.MessageToString(info.status_endpoint)
    return environment


# Beam's SDK containers serve their worker pool on this port (the boot's --worker_pool).
WORKER_POOL_PORT = 50000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--id", help="worker id (required unless --worker_pool)")
    parser.add_argument("--provision_endpoint", help="required unless --worker_pool")
    # Given by the pool too; the provision info carries the same endpoints.
    for endpoint in ("--logging_endpoint", "--artifact_endpoint", "--control_endpoint"):
        parser.add_argument(endpoint)
    parser.add_argument("--semi_persist_dir", help="accepted as Beam's boot does; nothing is kept there")
    parser.add_argument("--setup_only", action="store_true", help="install the staged packages and exit: nothing to install here")
    parser.add_argument("--worker_pool", action="store_true", help="serve Beam's external worker pool instead of one worker")
    parser.add_argument(
        "--service_port",
        type=int,
        default=WORKER_POOL_PORT,
        help=f"the worker pool's port (default {WORKER_POOL_PORT}, as Beam's SDK containers; another where several share a host network)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and not argv[0].startswith("-"):
        os.execvp(argv[0], argv)  # a command, not Beam's boot flags: run it as the container's
    parser = _parser()
    args = parser.parse_args(argv)
    if args.setup_only:
        return
    if args.worker_pool:
        command = [
            sys.executable,
            "-m",
            "apache_beam.runners.worker.worker_pool_main",
            f"--service_port={args.service_port}",
            f"--container_executable={os.path.abspath(__file__)}",
        ]
        os.execv(sys.executable, command)
    if not (args.id and args.provision_endpoint):
        parser.error("one SDK worker needs --id and --provision_endpoint (or --worker_pool, or a command to run)")
    environment = {**os.environ, **worker_environment(args.provision_endpoint, args.id)}
    python_path = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = PROJECT_ROOT + (os.pathsep + python_path if python_path else "")
    command = [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main"]
    os.execve(sys.executable, command, environment)


if __name__ == "__main__":
    main()
