"""The pipeline as the `tfx` command line (local engine) wants it: configured by environment variables.

    tfx pipeline create --engine local --pipeline_path tfx_pipeline.py
    tfx run create --engine local --pipeline_name video-action-recognition

Both commands execute tfx_pipeline.py: `pipeline create` inside the `tfx`
process with a patched `LocalDagRunner.run()` that only records the pipeline
name and root; `run create` starts `python tfx_pipeline.py`, and that run is
real. There are no flags then, so, as in TFX's templates, the settings come
from these environment variables (read when the file runs, i.e. at
`run create` time, not remembered from `pipeline create`):

    VIDEO_OUTPUT_DIR         pipeline root, metadata.sqlite and serving/ go under it (default: outputs/tfx_cli)
    VIDEO_DATA_ROOT          folder of videos (default: the demo dataset, generated into VIDEO_OUTPUT_DIR/demo_data)
    VIDEO_SERVING_DIR        where blessed models are pushed (default: VIDEO_OUTPUT_DIR/serving)
    VIDEO_<SETTING>          any setting of frame_path/config.py's ExtractionConfig and FeatureConfig, upper-cased:
                             VIDEO_WEIGHTS ('none' by default on the demo dataset), VIDEO_MAX_SEQ_LENGTH,
                             VIDEO_IMAGE_SIZE, VIDEO_SAMPLING, VIDEO_FRAME_BATCH_SIZE, VIDEO_PRECISION, ...
    VIDEO_EPOCHS             training epochs (default: trainer/hparams.py's)
    VIDEO_TUNE               1 to run the Tuner before the Trainer (default: 0)
                             (flags take 1/true/yes/on or 0/false/no/off; anything else is an error)
    VIDEO_HPARAMS            JSON object of more model hyperparameters, e.g. '{"learning_rate": 0.001}'
    VIDEO_<GATE SETTING>     any setting of pipeline/configs.py's GateConfig, upper-cased: VIDEO_MIN_TEST_ACCURACY,
                             VIDEO_MIN_LIFT_OVER_MAJORITY (-1: off), VIDEO_MAX_ACCURACY_REGRESSION
    VIDEO_SPAN, VIDEO_TRAIN_SPANS the span to extract (-1: the latest) and the spans to train on (pipeline/configs.py's SpanConfig)
    VIDEO_PIPELINE_NAME      the pipeline's name (default: pipeline/configs.py's)
    VIDEO_ENABLE_CACHE       0 to run every component again (default: 1)
    VIDEO_BEAM_PIPELINE_ARGS Beam options for the components, space-separated

The `tfx` CLI keeps its own record of created pipelines (pipeline_args.json)
under $LOCAL_HOME/PIPELINE_NAME/, by default ~/tfx/local/PIPELINE_NAME/.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from typing import Any

from frame_path.config import ExtractionConfig
from pipeline import configs, front_end, options, runner
from trainer.hparams import HParamError

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT_DIR = os.path.join(PROJECT_DIR, "outputs", "tfx_cli")
PREFIX = "VIDEO_"


def _env(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(PREFIX + name, "").strip() or None


def _value(environ: Mapping[str, str], name: str, parse: type) -> Any | None:
    text = _env(environ, name)
    return None if text is None else options.parse_value(PREFIX + name, text, parse)


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """1/true/yes/on or 0/false/no/off; anything else is an error (VIDEO_TUNE=off must never mean on)."""
    value = _value(environ, name, bool)
    return default if value is None else value


def _beam_args(environ: Mapping[str, str]) -> tuple[str, ...]:
    """VIDEO_BEAM_PIPELINE_ARGS, each one an option Beam's PipelineOptions knows (as pipeline_runner.py checks them)."""
    try:
        items = shlex.split(_env(environ, "BEAM_PIPELINE_ARGS") or "")
    except ValueError as error:
        raise options.OptionError(f"{PREFIX}BEAM_PIPELINE_ARGS cannot be split as a shell would: {str(error).lower()}") from None
    try:
        return tuple(options.beam_args_of(items))
    except options.OptionError as error:
        raise options.OptionError(f"{PREFIX}BEAM_PIPELINE_ARGS: {error}") from None


def _hparams(environ: Mapping[str, str]) -> dict[str, Any]:
    hparams: dict[str, Any] = {}
    text = _env(environ, "HPARAMS")
    if text is not None:
        try:
            hparams = json.loads(text)
        except ValueError as error:
            raise options.OptionError(f"{PREFIX}HPARAMS must be a JSON object: {error}") from None
        if not isinstance(hparams, dict):
            raise options.OptionError(f"{PREFIX}HPARAMS must be a JSON object")
    epochs = _value(environ, "EPOCHS", int)
    if epochs is not None:
        if "epochs" in hparams:
            raise options.OptionError(f"{PREFIX}EPOCHS and {PREFIX}HPARAMS epochs both set the epochs: give one")
        hparams["epochs"] = epochs
    return hparams


def output_dir_of(environ: Mapping[str, str] = os.environ) -> str:
    """VIDEO_OUTPUT_DIR, absolute, or the default."""
    return os.path.abspath(_env(environ, "OUTPUT_DIR") or DEFAULT_OUTPUT_DIR)


def settings_from_environment(environ: Mapping[str, str] = os.environ) -> runner.RunSettings:
    """The run settings of the VIDEO_* variables, with the layout of `pipeline_runner.py run`."""
    output_dir = output_dir_of(environ)
    extraction_values = options.environment_values(ExtractionConfig, PREFIX, environ)
    data_root = _env(environ, "DATA_ROOT")
    if data_root is None:
        extraction_values.setdefault("weights", runner.DEMO_WEIGHTS)
    serving_dir = _env(environ, "SERVING_DIR")
    epochs_given = _env(environ, "EPOCHS") is not None

    def variable_name(error: options.InvalidOption) -> str:
        if isinstance(error, HParamError):
            return PREFIX + "EPOCHS" if error.option == "epochs" and epochs_given else f"{PREFIX}HPARAMS {error.option}"
        return options.env_name(PREFIX, error.option)

    with options.named_as(variable_name):  # every setting checked before anything is written or generated
        pipeline = options.pipeline_config(
            runner.absolute(data_root) if data_root else runner.demo_data_root(output_dir, generate=False),
            extraction_values,
            options.environment_values(configs.GateConfig, PREFIX, environ),
            _hparams(environ),
            _flag(environ, "TUNE", default=False),
            options.environment_values(configs.SpanConfig, PREFIX, environ),
        )
    settings = runner.RunSettings(
        output_dir=output_dir,
        pipeline=pipeline,
        serving_dir=runner.absolute(serving_dir) if serving_dir else None,
        enable_cache=_flag(environ, "ENABLE_CACHE", default=True),
        beam_args=_beam_args(environ),
        pipeline_name=_env(environ, "PIPELINE_NAME") or configs.PIPELINE_NAME,
    )
    runner.prepare_output_dir(output_dir, PREFIX + "OUTPUT_DIR")
    if data_root is None:
        runner.demo_data_root(output_dir)
    return settings


def run_with_local_dag_runner() -> dict[str, Any] | None:
    """Builds the pipeline of the VIDEO_* variables and runs it with LocalDagRunner; returns the run's summary.

    Under `tfx pipeline create/update/compile` the CLI patches LocalDagRunner.run() to only record the pipeline:
    then the pipeline is handed to it and nothing else happens (None). Under `tfx run create` (or plain
    `python tfx_pipeline.py`) the run is `pipeline_runner.py run`'s: the same input checks first, then the
    same run_summary.json and report.
    """
    settings = settings_from_environment()  # bad variables fail here, before TFX is imported
    if not _recording_only():
        return runner.run(settings)
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    LocalDagRunner().run(runner.build_pipeline(settings))
    return None


def _recording_only() -> bool:
    """Whether the `tfx` CLI patched LocalDagRunner.run() to record the pipeline (its patcher wraps run with
    functools.wraps); the check imports TFX only where the CLI already did."""
    import sys

    local_dag_runner = sys.modules.get("tfx.orchestration.local.local_dag_runner")
    return local_dag_runner is not None and hasattr(local_dag_runner.LocalDagRunner.run, "__wrapped__")


def main() -> int:
    """The whole pipeline of the VIDEO_* variables, with the front ends' error handling (pipeline/front_end.py)."""
    return front_end.run_command(_run_and_print_summary, lambda: (PREFIX + "OUTPUT_DIR", output_dir_of()))


def _run_and_print_summary() -> int:
    summary = run_with_local_dag_runner()
    if summary is not None:
        runner.print_summary(summary, output_dir_of())
    return 0
