"""The local Beam engine: every Beam pipeline of a run on Beam's FnApiRunner, none on Prism, nothing downloaded.

tests/helpers.py's recording proxy stands in for the network. (A whole run behind it:
tests/pipeline/test_scale_out.py.)
"""

import glob
import os
import sys
import tempfile

from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor

from pipeline import beam_engine, beam_plugin
from tests.helpers import PROJECT_ROOT, run_behind_proxy

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


def test_default_beam_args_pin_the_local_engine_keep_the_plugin_and_yield_to_a_users_runner():
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.runners.runner import create_runner

    def runner_of(args):
        return PipelineOptions(args).view_as(StandardOptions).runner

    plugin, engine = f"--beam_plugin={beam_plugin.PLUGIN_MODULE}", beam_engine.local_engine_args()
    assert engine[0] == f"--runner={beam_engine.LOCAL_RUNNER}"
    assert beam_plugin.with_default_beam_args(None) == [plugin, *engine]
    assert beam_plugin.with_default_beam_args(["--direct_num_workers=2"]) == [plugin, *engine, "--direct_num_workers=2"]
    assert isinstance(create_runner(runner_of(beam_plugin.with_default_beam_args(None))), beam_engine.LocalRunner)
    for users in (["--runner=FlinkRunner"], ["--runner", "FlinkRunner", "--flink_master=localhost:8081"]):
        args = beam_plugin.with_default_beam_args(users)
        assert args == [plugin, *users] and runner_of(args) == "FlinkRunner"


class _NoWorkExecutor(BaseBeamExecutor):
    def Do(self, input_dict, output_dict, exec_properties):
        pass


def test_tfx_packs_no_copy_of_itself_for_the_local_engine_and_does_for_a_named_runner(tmp_path, monkeypatch):
    """A TFX Beam executor repackages TFX (~50 MB into $TMPDIR) for remote workers, never for the local engine's."""

    def executor_args(temp_dir, users):
        """The Beam arguments a TFX Beam executor runs with, and what it left in its temp folder."""
        os.makedirs(temp_dir)
        monkeypatch.setenv("TMPDIR", str(temp_dir))
        tempfile.tempdir = None  # re-read TMPDIR
        try:
            context = BaseBeamExecutor.Context(beam_pipeline_args=beam_plugin.with_default_beam_args(users))
            return _NoWorkExecutor(context)._beam_pipeline_args, os.listdir(temp_dir)
        finally:
            tempfile.tempdir = None

    local, left = executor_args(tmp_path / "local", [])
    assert not any(arg.startswith("--extra_package") for arg in local) and left == []
    remote, left = executor_args(tmp_path / "remote", ["--runner=FlinkRunner"])
    assert any(arg.startswith("--extra_package") for arg in remote) and left != []


def test_the_proxy_sees_the_prism_runner_ask_github_for_its_binary(tmp_path):
    """The positive control: Beam's PrismRunner downloads its binary from GitHub, and the proxy records it.

    (Beam >= 2.68's DirectRunner tries Prism first, so there it asks too; the pinned Beam 2.62 does not.)
    """
    command = [sys.executable, "-c", TINY_PIPELINE, "--runner=PrismRunner"]
    _, requests, log, _ = run_behind_proxy(command, tmp_path / "home", tmp_path / "log.txt", timeout=300)
    assert any("github.com" in request for request in requests), (requests, log[-2000:])


def test_the_default_engine_asks_for_nothing(tmp_path):
    command = [sys.executable, "-c", TINY_PIPELINE]
    exit_code, requests, log, _ = run_behind_proxy(command, tmp_path / "home", tmp_path / "log.txt", timeout=300)
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
            plugin, loaded_ms, process_started_ms = trace.readline().split()
        # The worker's start-up (process start -> plugin loaded) is what benchmarks/flink_extract.py measures.
        assert plugin == beam_plugin.PLUGIN_MODULE
        assert 0 <= int(loaded_ms) - int(process_started_ms) < 300_000


def test_pipelines_built_without_options_run_on_the_local_engine_meanwhile():
    """As TFX's BeamDagRunner builds its orchestrating pipeline: `beam.Pipeline()`."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import StandardOptions

    default = StandardOptions.DEFAULT_RUNNER
    with beam_engine.local_default_runner():
        assert isinstance(beam.Pipeline().runner, beam_engine.LocalRunner)
    assert StandardOptions.DEFAULT_RUNNER == default
