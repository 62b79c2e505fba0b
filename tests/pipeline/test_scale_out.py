"""The whole pipeline with its Beam steps in Beam worker processes.

Two ways, as the pipeline scales out:
- the direct runner with worker processes (--direct_running_mode=multi_processing);
- Beam's portable Job API, as Flink and Spark run Python: a job service and an
  external SDK worker pool, started and stopped here.

Every worker loads pipeline/beam_plugin.py (the --beam_plugin that
create_pipeline sets) and, with VIDEO_PIPELINE_WORKER_TRACE, writes when it
started and which component libraries it imported. Matched with the
executions in the metadata store, that is the evidence that VideoExampleGen,
StatisticsGen, Transform and the Evaluator each ran in worker processes
(other than this one) that ran that component's library.
"""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from pipeline import beam_plugin
from tests.conftest import GATE_OFF, run_pipeline
from video_datasets import demo

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


@pytest.fixture(scope="module")
def tiny_data(demo_dataset):
    """The demo classes with 3 train and 1 test clip each: the smallest set every component accepts."""
    return demo_dataset(3, 1)


@pytest.fixture
def worker_trace(tmp_path, monkeypatch):
    """Worker processes inherit this environment (the direct runner's directly, the pool's through the boot)."""
    trace_dir = str(tmp_path / "worker_trace")
    monkeypatch.setenv(beam_plugin.WORKER_TRACE_ENV, trace_dir)
    # Workers import this project's code by module path, whatever their working directory.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [PROJECT_ROOT, os.environ.get("PYTHONPATH")])))
    return trace_dir


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


def workers_by_component(trace_dir, metadata_path):
    """{component id: [(pid, modules)]}: each worker process under the component execution during which it started."""
    windows = component_windows(metadata_path)
    workers = {}
    for name in os.listdir(trace_dir):
        with open(os.path.join(trace_dir, name)) as trace_file:
            first, *modules = trace_file.read().splitlines()
        plugin, started_ms = first.split()
        assert plugin == beam_plugin.PLUGIN_MODULE  # loaded before any component code
        during = [component for component, start, end in windows if start <= int(started_ms) <= end]
        assert len(during) == 1, (name, first, windows)
        workers.setdefault(during[0], []).append((int(name.split(".")[0]), modules))
    return workers


def assert_beam_components_ran_in_workers(trace_dir, output_dir):
    workers = workers_by_component(trace_dir, os.path.join(output_dir, "metadata.sqlite"))
    assert set(workers) == set(BEAM_COMPONENTS), workers
    for component, processes in workers.items():
        for pid, modules in processes:
            assert pid != os.getpid()
            assert BEAM_COMPONENTS[component] in modules, (component, pid, modules)


def _run(data_root, output_dir, *beam_args):
    return run_pipeline(data_root, output_dir, "--epochs", "1", *GATE_OFF, "--no-cache", *beam_args)


def _assert_whole_run(summary):
    assert summary["blessed"] is True
    assert os.path.exists(os.path.join(summary["pushed_model_dir"], "saved_model.pb"))
    assert summary["splits"]["test"] == len(demo.DEMO_CLASSES)
    assert {*BEAM_COMPONENTS, "Trainer", "Pusher"} <= set(summary["seconds"]["components"])


@pytest.mark.e2e
def test_whole_pipeline_on_multi_process_direct_runner(tiny_data, tmp_path, worker_trace):
    output_dir = str(tmp_path / "out")
    summary = _run(tiny_data, output_dir, "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    _assert_whole_run(summary)
    assert_beam_components_ran_in_workers(worker_trace, output_dir)


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
            sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={pool_port}",
            "--container_executable=" + os.path.join(PROJECT_ROOT, "pipeline", "beam_worker_boot.py"),
        ],
        "job_service": [
            sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", f"--port={job_port}",
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
                    subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
                    log_path,
                )
        _wait_for_port(pool_port, *processes["worker_pool"], deadline)
        _wait_for_port(job_port, *processes["job_service"], deadline)
        yield job_port, pool_port
    finally:
        watchdog.cancel()
        for process, _ in processes.values():
            _stop(process)


def test_services_are_stopped_even_when_the_run_fails(tmp_path):
    started = {}
    with pytest.raises(RuntimeError, match="the run failed"):
        with job_service_and_worker_pool(str(tmp_path), started) as (job_port, pool_port):
            assert job_port != pool_port
            raise RuntimeError("the run failed")
    assert set(started) == {"job_service", "worker_pool"}
    for process, _ in started.values():
        assert process.returncode is not None
        with pytest.raises(ProcessLookupError):  # nothing of its process group is left
            os.killpg(process.pid, 0)


@pytest.mark.e2e
def test_whole_pipeline_through_job_service_and_external_workers(tiny_data, tmp_path, worker_trace):
    log_dir, output_dir = tmp_path / "services", str(tmp_path / "out")
    log_dir.mkdir()
    with job_service_and_worker_pool(str(log_dir)) as (job_port, pool_port):
        summary = _run(
            tiny_data,
            output_dir,
            "--beam_runner=PortableRunner",
            f"--job_endpoint=localhost:{job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{pool_port}",
        )
    _assert_whole_run(summary)
    assert_beam_components_ran_in_workers(worker_trace, output_dir)
