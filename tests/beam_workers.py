"""Evidence that Beam work ran in worker processes, and a Beam job service with a worker pool to run it on.

Every worker loads pipeline/beam_plugin.py (the --beam_plugin that create_pipeline sets) and, with
VIDEO_PIPELINE_WORKER_TRACE (conftest.py's `worker_trace`), writes when it started and which component
libraries it imported. Matched with when each component ran (the executions in the metadata store, or the
steps of a Kubeflow run), that is the evidence that VideoExampleGen, StatisticsGen, Transform and the
Evaluator each ran in worker processes, other than the launching ones, that ran that component's library.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from pipeline import beam_plugin
from tests.helpers import PROJECT_ROOT

# Each Beam component, and the library whose DoFns its workers run.
BEAM_COMPONENTS = {
    "VideoExampleGen": "components.video_example_gen.executor",
    "StatisticsGen": "tensorflow_data_validation",
    "Transform": "tensorflow_transform",
    "Evaluator": "tensorflow_model_analysis",
}
SERVICE_START_SECONDS = 120
# The services are stopped after this long even while the pipeline still runs: the run then fails
# instead of hanging (it took 7.3 min on 2 busy cores).
SERVICE_MAX_SECONDS = 30 * 60


def component_windows(metadata_path):
    """[(component id, started ms, finished ms)] of the run's executions, from the metadata store."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    store = metadata_store.MetadataStore(config)
    windows = []
    for execution in store.get_executions():
        for context in store.get_contexts_by_execution(execution.id):
            if store.get_context_types_by_id([context.type_id])[0].name == "node":
                component_id = context.name.split(".", 1)[1]
                windows.append((component_id, execution.create_time_since_epoch, execution.last_update_time_since_epoch))
    return windows


def worker_traces(trace_dir):
    """{pid: (started ms, [traced modules it imported])} of every worker process that wrote a trace."""
    traces = {}
    for name in os.listdir(trace_dir):
        with open(os.path.join(trace_dir, name)) as trace_file:
            first, *modules = trace_file.read().splitlines()
        plugin, started_ms, _process_started_ms = first.split()
        assert plugin == beam_plugin.PLUGIN_MODULE  # loaded before any component code
        traces[int(name.split(".")[0])] = (int(started_ms), modules)
    return traces


def workers_by_component(trace_dir, windows):
    """{component id: [(pid, modules)]}: each worker process under the component window (id, start ms, end ms)
    during which it started."""
    workers = {}
    for pid, (started_ms, modules) in worker_traces(trace_dir).items():
        during = [component for component, start, end in windows if start <= started_ms <= end]
        assert len(during) == 1, (pid, started_ms, windows)
        workers.setdefault(during[0], []).append((pid, modules))
    return workers


def assert_beam_components_ran_in_workers(trace_dir, windows, launcher_pids):
    """Each Beam component ran its library in worker processes, none of them one of `launcher_pids` (the run's)."""
    workers = workers_by_component(trace_dir, windows)
    assert set(workers) == set(BEAM_COMPONENTS), workers
    for component, processes in workers.items():
        for pid, modules in processes:
            assert pid not in launcher_pids
            assert BEAM_COMPONENTS[component] in modules, (component, pid, modules)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def _wait_for_port(port, process, log_path, deadline):
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log_path) as log:
                raise RuntimeError(f"exited with {process.returncode}: {log.read()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on port {port} after {SERVICE_START_SECONDS} s")


def _stop(process):
    """Stops a service and everything it started (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):  # workers the pool left behind
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def job_service_and_worker_pool(log_dir, started=None):
    """A Beam job service and an external SDK worker pool on free ports; always stopped on exit.

    `started` (a dict), if given, gets the service processes, for checks after the exit.
    """
    job_port, pool_port = _free_port(), _free_port()
    environment = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    commands = {
        "worker_pool": [
            sys.executable,
            "-m",
            "apache_beam.runners.worker.worker_pool_main",
            f"--service_port={pool_port}",
            "--container_executable=" + os.path.join(PROJECT_ROOT, "pipeline", "beam_worker_boot.py"),
        ],
        "job_service": [
            sys.executable,
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            f"--port={job_port}",
            f"--staging_dir={os.path.join(log_dir, 'staging')}",
        ],
    }
    processes = {} if started is None else started
    deadline = time.monotonic() + SERVICE_START_SECONDS
    watchdog = threading.Timer(SERVICE_MAX_SECONDS, lambda: [_stop(process) for process, _ in list(processes.values())])
    watchdog.daemon = True
    watchdog.start()
    try:
        for name, command in commands.items():
            log_path = os.path.join(log_dir, f"{name}.log")
            with open(log_path, "w") as log:
                processes[name] = (
                    subprocess.Popen(
                        command, cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    ),
                    log_path,
                )
        _wait_for_port(pool_port, *processes["worker_pool"], deadline)
        _wait_for_port(job_port, *processes["job_service"], deadline)
        yield job_port, pool_port
    finally:
        watchdog.cancel()
        for process, _ in processes.values():
            _stop(process)
