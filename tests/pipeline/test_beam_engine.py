"""The local Beam engine: every Beam pipeline of a run on Beam's FnApiRunner, none on Prism, nothing downloaded.

A recording proxy on 127.0.0.1 stands in for the network. Each process under test gets it as
its HTTP(S) proxy (NO_PROXY unset) and a fresh HOME (so no Prism binary cached from before);
the proxy records the first line of every request (for HTTPS, the CONNECT host) and answers
403, never forwarding anything.
"""
import contextlib
import glob
import json
import os
import socketserver
import subprocess
import sys
import threading

import pytest

from pipeline import beam_engine, beam_plugin
from tests.conftest import GATE_OFF, SMALL

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
# A two-element Beam pipeline on the Beam arguments given after `-c`, or the pipeline's defaults if none.
TINY_PIPELINE = (
    "import sys\n"
    "import apache_beam as beam\n"
    "args = sys.argv[1:]\n"
    "if not args:\n"
    "    from pipeline.beam_plugin import with_default_beam_args\n"
    "    args = with_default_beam_args([])\n"
    "with beam.Pipeline(argv=args) as p:\n"
    "    p | beam.Create([1, -2]) | beam.Map(abs)\n"
)


class _Refuse(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(5)
        with contextlib.suppress(OSError):
            self.server.requests.append(self.request.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class _RecordingProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self):
        self.requests = []
        super().__init__(("127.0.0.1", 0), _Refuse)


@contextlib.contextmanager
def recording_proxy(home):
    """Yields (the environment of a process behind the proxy, the list of requests it made); stops the proxy."""
    proxy = _RecordingProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    environment = {name: value for name, value in os.environ.items() if name.lower() != "no_proxy"}
    environment.update({name: url for name in PROXY_VARIABLES}, HOME=str(home))
    try:
        yield environment, proxy.requests
    finally:
        proxy.shutdown()
        proxy.server_close()


def _run_behind_proxy(command, home, log_path, timeout):
    """Runs `command` in the project root behind a recording proxy; returns (exit code, requests, log tail)."""
    with recording_proxy(home) as (environment, requests), open(log_path, "w") as log:
        exit_code = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, timeout=timeout).returncode
    with open(log_path) as log:
        return exit_code, list(requests), log.read()[-3000:]


def test_default_beam_args_pin_the_local_engine_keep_the_plugin_and_yield_to_a_users_runner():
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.runners.runner import create_runner

    def runner_of(args):
        return PipelineOptions(args).view_as(StandardOptions).runner

    plugin, engine = f"--beam_plugin={beam_plugin.PLUGIN_MODULE}", f"--runner={beam_engine.LOCAL_RUNNER}"
    assert beam_plugin.with_default_beam_args(None) == [plugin, engine]
    assert beam_plugin.with_default_beam_args(["--direct_num_workers=2"]) == [plugin, engine, "--direct_num_workers=2"]
    assert isinstance(create_runner(runner_of(beam_plugin.with_default_beam_args(None))), beam_engine.LocalRunner)
    for users in (["--runner=FlinkRunner"], ["--runner", "FlinkRunner", "--flink_master=localhost:8081"]):
        args = beam_plugin.with_default_beam_args(users)
        assert args == [plugin, *users] and runner_of(args) == "FlinkRunner"


def test_the_proxy_sees_the_direct_runner_ask_github_for_prism(tmp_path):
    """The positive control: Beam's DirectRunner tries to download Prism, and the proxy records it."""
    command = [sys.executable, "-c", TINY_PIPELINE, "--runner=DirectRunner"]
    exit_code, requests, log = _run_behind_proxy(command, tmp_path / "home", tmp_path / "log.txt", timeout=300)
    assert exit_code == 0, log  # it falls back to the FnApiRunner when the download fails
    assert any("github.com" in request for request in requests), requests


def test_the_default_engine_asks_for_nothing(tmp_path):
    command = [sys.executable, "-c", TINY_PIPELINE]
    exit_code, requests, log = _run_behind_proxy(command, tmp_path / "home", tmp_path / "log.txt", timeout=300)
    assert exit_code == 0, log
    assert requests == []


def test_the_local_engines_worker_processes_get_the_pipeline_options(tmp_path, monkeypatch):
    """Each SDK worker process loads --beam_plugin (a bare --runner=FnApiRunner gives its workers no options)."""
    import apache_beam as beam

    trace_dir = str(tmp_path / "worker_trace")
    monkeypatch.setenv(beam_plugin.WORKER_TRACE_ENV, trace_dir)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [PROJECT_ROOT, os.environ.get("PYTHONPATH")])))
    args = beam_plugin.with_default_beam_args(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    with beam.Pipeline(argv=args) as pipeline:
        pipeline | beam.Create(range(10)) | beam.Map(abs)
    traces = glob.glob(os.path.join(trace_dir, "*.txt"))
    assert traces and str(os.getpid()) not in {os.path.basename(path)[:-4] for path in traces}
    for path in traces:
        with open(path) as trace:
            assert trace.readline().startswith(beam_plugin.PLUGIN_MODULE + " ")


def test_pipelines_built_without_options_run_on_the_local_engine_meanwhile():
    """As TFX's BeamDagRunner builds its orchestrating pipeline: `beam.Pipeline()`."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import StandardOptions

    default = StandardOptions.DEFAULT_RUNNER
    with beam_engine.local_default_runner():
        assert isinstance(beam.Pipeline().runner, beam_engine.LocalRunner)
    assert StandardOptions.DEFAULT_RUNNER == default


@pytest.mark.e2e
def test_a_whole_run_asks_the_network_for_nothing(tmp_path, demo_dataset):
    """`run` on the Beam DAG runner: its orchestrating pipeline and every component's Beam pipeline, behind the proxy.

    (The local DAG runner starts no Beam pipeline of its own; the components' are the same under both.)
    """
    data_root = demo_dataset(3, 1)
    output_dir = str(tmp_path / "out")
    command = [
        sys.executable, "pipeline_runner.py", "run", "--runner", "beam", "--data-root", data_root, "--output-dir", output_dir,
        *SMALL, "--epochs", "1", *GATE_OFF,
    ]
    exit_code, requests, log = _run_behind_proxy(command, tmp_path / "home", tmp_path / "run.log", timeout=1800)
    assert exit_code == 0, log
    assert requests == []
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        summary = json.load(summary_file)
    # The Beam DAG runner ran the whole pipeline to a pushed model.
    assert {"VideoExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator", "Pusher"} <= set(summary["seconds"]["components"])
    assert summary["splits"] == {"train": 8, "eval": 4, "test": 4}
    assert summary["blessed"] is True and os.path.exists(os.path.join(summary["pushed_model_dir"], "saved_model.pb"))
