"""The local Beam engine of this pipeline: Beam's FnApiRunner, never Prism.

Beam >= 2.68's DirectRunner (SwitchingDirectRunner) first tries the PrismRunner,
which downloads its binary from GitHub (measured: a CONNECT github.com:443 for
each Beam pipeline), and falls back to the FnApiRunner only when that fails. On a
connected machine the components would run on Prism, which this project has
never run (TFX 1.21's release notes list differences: BulkInferrer shards,
Transform metrics); behind a firewall that drops packets each pipeline would
wait for a time-out. The FnApiRunner is what the tests have always run on: in
process, or in SDK worker processes (--direct_num_workers=N
--direct_running_mode=multi_processing).

`--runner=FnApiRunner` is not quite that engine: Beam then builds it without
the pipeline's options, so its worker processes get none, and without
--beam_plugin they cannot unpickle TFDV's DoFns. LocalRunner builds it as
DirectRunner does, with the options handed to the workers.

pipeline/beam_plugin.py's with_default_beam_args pins LOCAL_RUNNER unless the
user names a --runner (Flink, Spark, Dataflow, a PortableRunner): the
arguments of local_engine_args.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineResult, PipelineRunner

LOCAL_RUNNER = "pipeline.beam_engine.LocalRunner"  # as --runner takes it: the module path of the class below


def local_engine_args() -> list[str]:
    """The Beam arguments of a component on the local engine: LOCAL_RUNNER, and the SDK image Beam defaults to.

    Unless a dependency flag is set, every TFX Beam executor packs its own copy of TFX for remote workers: 1.3-3.2 s
    of a 20-s `extract` rerun and ~50 MB in $TMPDIR per component and run (measured). The local engine's workers
    run in this environment and never read it. Naming Beam's default image changes nothing for Beam (its docker
    environment, the only reader, would take that one) and is such a flag.
    """
    from apache_beam.transforms.environments import DockerEnvironment

    return [f"--runner={LOCAL_RUNNER}", f"--sdk_container_image={DockerEnvironment.default_docker_image()}"]


class LocalRunner(PipelineRunner):
    """Beam's FnApiRunner, with the pipeline's options for its SDK workers (as DirectRunner starts it)."""

    def run_pipeline(self, pipeline, options: PipelineOptions) -> PipelineResult:
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded_options = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision_info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded_options))
        return fn_runner.FnApiRunner(provision_info=provision_info).run_pipeline(pipeline, options)


def names_a_runner(beam_args: list[str]) -> bool:
    """Whether Beam would read a --runner in `beam_args` (in any spelling it accepts)."""
    return PipelineOptions(beam_args).view_as(StandardOptions).runner is not None


@contextlib.contextmanager
def local_default_runner() -> Iterator[None]:
    """Beam's default runner is LOCAL_RUNNER meanwhile, for pipelines built without options.

    TFX 1.21's BeamDagRunner builds its orchestrating pipeline as `beam.Pipeline()`;
    its `beam_orchestrator_args` would select the legacy, non-IR runner instead,
    whose metadata layout (no "node" contexts) the run summary cannot read.
    """
    saved = StandardOptions.DEFAULT_RUNNER
    StandardOptions.DEFAULT_RUNNER = LOCAL_RUNNER
    try:
        yield
    finally:
        StandardOptions.DEFAULT_RUNNER = saved
