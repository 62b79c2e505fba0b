"""Beam worker start-up hook of this pipeline (`--beam_plugin=pipeline.beam_plugin`).

Beam's SDK worker (apache_beam.runners.worker.sdk_worker_main, which every
runner's Python worker boots through: the multi-process direct runner, the SDK
container's boot on Flink, Spark and Dataflow, and pipeline/beam_worker_boot.py
for a local worker pool) imports each --beam_plugin module before it runs any
bundle. This one imports tfx first: TFDV 1.16.1 imports tfx_bsl.arrow.sql_util,
which tfx-bsl 1.21 lacks, and `import tfx` installs TFX's stand-in for it. A
worker that unpickles StatisticsGen's (or Transform's, or the Evaluator's)
DoFns without it fails with "ImportError: cannot import name 'sql_util'".

create_pipeline() adds the plugin, and the local engine of pipeline/beam_engine.py
unless the user names a --runner, to every component's Beam arguments
(with_default_beam_args).

Set VIDEO_PIPELINE_WORKER_TRACE=DIR to have every Beam worker process write
DIR/PID.txt: "pipeline.beam_plugin MILLISECONDS PROCESS_STARTED_MS" when the
plugin loads (Unix times: tests match the first with the component executions
in the metadata store; the two apart are the worker's start-up, which
benchmarks/flink_extract.py measures), then one line per library of TRACED_MODULES it imports, i.e. whose
DoFns it unpickled and ran. That is the evidence of which component's work
ran in which worker process (tests/beam_workers.py reads it).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

import tfx  # noqa: F401  (first: installs the sql_util stand-in before TFDV is imported)

from pipeline import beam_engine

PLUGIN_MODULE = "pipeline.beam_plugin"
WORKER_TRACE_ENV = "VIDEO_PIPELINE_WORKER_TRACE"
# The code of the Beam components: this project's extractor, TFDV (StatisticsGen),
# TFT (Transform), TFMA (Evaluator); and infer's. A worker imports them when it unpickles their DoFns.
TRACED_MODULES = (
    "components.video_example_gen.executor",
    "tensorflow_data_validation",
    "tensorflow_transform",
    "tensorflow_model_analysis",
    "inference.beam",
)
# Set in an SDK worker's environment by every runner (sdk_worker_main reads it), never in the launching process.
_WORKER_ENV = "CONTROL_API_SERVICE_DESCRIPTOR"


def with_default_beam_args(beam_pipeline_args: Sequence[str] | None) -> list[str]:
    """The pipeline's default Beam arguments (the worker plugin; the local engine unless the user's name a --runner), then the user's."""
    users = list(beam_pipeline_args or [])
    engine = [] if beam_engine.names_a_runner(users) else beam_engine.local_engine_args()
    return [f"--beam_plugin={PLUGIN_MODULE}", *engine, *users]


def _trace_imports(trace_dir: str) -> None:
    """Records, per worker process, which TRACED_MODULES it imports (a PEP 578 audit hook: no patching)."""
    os.makedirs(trace_dir, exist_ok=True)
    trace_path = os.path.join(trace_dir, f"{os.getpid()}.txt")
    seen: set[str] = set()

    def hook(event: str, args: tuple) -> None:
        if event == "import" and args[0] in TRACED_MODULES and args[0] not in seen:
            seen.add(args[0])
            with open(trace_path, "a") as trace_file:
                trace_file.write(args[0] + "\n")

    sys.addaudithook(hook)
    loaded_ms = int(time.time() * 1000)
    with open(trace_path, "a") as trace_file:
        trace_file.write(f"{PLUGIN_MODULE} {loaded_ms} {_process_started_ms(loaded_ms)}\n")


def _process_started_ms(now_ms: int) -> int:
    """When this process started (Unix ms), from its age in /proc; `now_ms` where there is no /proc.

    Its age rather than boot time + start ticks: /proc/stat's boot time is in whole seconds.
    """
    try:
        with open("/proc/self/stat") as stat_file:
            start_ticks = int(stat_file.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime") as uptime_file:
            uptime = float(uptime_file.read().split()[0])
    except (OSError, IndexError, ValueError):
        return now_ms
    return now_ms - max(0, round((uptime - start_ticks / os.sysconf("SC_CLK_TCK")) * 1000))


if os.environ.get(WORKER_TRACE_ENV) and _WORKER_ENV in os.environ:
    _trace_imports(os.environ[WORKER_TRACE_ENV])
