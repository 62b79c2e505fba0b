#!/usr/bin/env python3
"""Beam's external SDK worker pool (apache_beam.runners.worker.worker_pool_main), shared by several TaskManagers.

    python -m tools.flink_worker_pool --service_port 50000 --container_executable pipeline/beam_worker_boot.py

Beam's pool keeps its workers by worker id, and every TaskManager numbers its workers alike ("1-1", ...): in
Beam's Kubernetes layout each TaskManager has its own pool (a sidecar), but on one machine the TaskManagers of
tools/flink_cluster.py share one. Then the second TaskManager's worker replaced the first's under "1-1", and when
the first TaskManager stopped its worker the pool killed the second's: measured, the second TaskManager waited
("Still waiting for startup of environment ... for worker id 1-1") until the run was stopped. Here a stop
request kills a worker only while it is the one live worker of its id; the others end when their TaskManager
closes their control channel, as every SDK worker does, and the pool's process group goes with `down`.
"""

from __future__ import annotations

import argparse
import threading
import time

from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.worker import worker_pool_main


class SharedWorkerPool(worker_pool_main.BeamFnExternalWorkerPoolServicer):
    """The pool, with every worker kept under its id, several a worker id."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._workers_by_id: dict[str, list] = {}
        self._lock = threading.Lock()

    def StartWorker(self, start_worker_request, unused_context):
        with self._lock:
            response = super().StartWorker(start_worker_request, unused_context)
            process = self._worker_processes.pop(start_worker_request.worker_id, None)
            if process is not None:
                self._workers_by_id.setdefault(start_worker_request.worker_id, []).append(process)
        return response

    def StopWorker(self, stop_worker_request, unused_context):
        with self._lock:
            live = [process for process in self._workers_by_id.get(stop_worker_request.worker_id, []) if process.poll() is None]
            self._workers_by_id[stop_worker_request.worker_id] = live
            if len(live) == 1:
                live[0].kill()
                live[0].wait()
                self._workers_by_id.pop(stop_worker_request.worker_id)
        return beam_fn_api_pb2.StopWorkerResponse()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service_port", type=int, required=True)
    parser.add_argument("--container_executable", required=True)
    args = parser.parse_args(argv)
    address, server = SharedWorkerPool.start(use_process=True, port=args.service_port, container_executable=args.container_executable)
    print(f"Listening for workers at {address}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop(1)


if __name__ == "__main__":
    main()
