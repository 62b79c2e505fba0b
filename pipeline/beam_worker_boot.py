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
"""
from __future__ import annotations

import argparse
import os
import sys

import grpc
from google.protobuf import json_format, text_format

from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker_environment(provision_endpoint: str, worker_id: str) -> dict[str, str]:
    """The environment sdk_worker_main reads, from the provision service (as Beam's boot does)."""
    with grpc.insecure_channel(provision_endpoint) as channel:
        stub = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
        info = stub.GetProvisionInfo(
            beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=[("worker_id", worker_id)]
        ).info
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--id", required=True, help="worker id")
    parser.add_argument("--provision_endpoint", required=True)
    # Given by the pool too; the provision info carries the same endpoints.
    for endpoint in ("--logging_endpoint", "--artifact_endpoint", "--control_endpoint"):
        parser.add_argument(endpoint)
    args = parser.parse_args(argv)
    environment = {**os.environ, **worker_environment(args.provision_endpoint, args.id)}
    python_path = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = PROJECT_ROOT + (os.pathsep + python_path if python_path else "")
    command = [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main"]
    os.execve(sys.executable, command, environment)


if __name__ == "__main__":
    main()
