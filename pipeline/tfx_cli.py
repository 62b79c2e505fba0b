"""The pipeline as the `tfx` command line (local engine) wants it: configured by environment variables.

    tfx pipeline create --engine local --pipeline_path pipeline_runner.py
    tfx run create --engine local --pipeline_name video-action-recognition

Both commands execute `pipeline_runner.py` with no arguments: `pipeline create`
imports it inside the `tfx` process with a patched `LocalDagRunner.run()` that
only records the pipeline name and root; `run create` starts
`python pipeline_runner.py` again, and that run is real. There are no flags
then, so, as in TFX's templates, everything comes from `pipeline/configs.py`
and these environment variables (read when the file runs, i.e. at
`run create` time, not remembered from `pipeline create`):

    VIDEO_OUTPUT_DIR         pipeline root, metadata.sqlite and serving/ go under it (default: outputs/tfx_cli)
    VIDEO_DATA_ROOT          folder of videos (default: the demo dataset, generated into VIDEO_OUTPUT_DIR/data if missing)
    VIDEO_SERVING_DIR        where blessed models are pushed (default: VIDEO_OUTPUT_DIR/serving)
    VIDEO_WEIGHTS            'imagenet', 'none' or a weights file (default: 'none' on the demo dataset, else configs.WEIGHTS)
    VIDEO_MAX_SEQ_LENGTH, VIDEO_IMAGE_SIZE, VIDEO_SAMPLING, VIDEO_FRAME_BATCH_SIZE
    VIDEO_EPOCHS             training epochs (default: trainer/model.py's)
    VIDEO_HPARAMS            JSON object of more model hyperparameters, e.g. '{"learning_rate": 0.001}'
    VIDEO_MIN_TEST_ACCURACY  the Evaluator's gate
    VIDEO_PIPELINE_NAME      (read by configs.py)
    VIDEO_ENABLE_CACHE       0 to run every component again (default: 1)
    VIDEO_BEAM_PIPELINE_ARGS Beam options for the components, space-separated

The `tfx` CLI keeps its own record of created pipelines (pipeline_args.json)
under $LOCAL_HOME/PIPELINE_NAME/, by default ~/tfx/local/PIPELINE_NAME/.
"""
from __future__ import annotations

import json
import os
import shlex
from typing import Any, Optional

from pipeline import configs

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT_DIR = os.path.join(PROJECT_DIR, "outputs", "tfx_cli")
DEMO_WEIGHTS = "none"  # the demo runs offline, like `pipeline_runner.py run --demo`


class ConfigError(ValueError):
    """An environment variable with a value that cannot work."""


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name, "").strip()
    return value or None


def _env_int(name: str, default: int, minimum: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {number}")
    return number


def _env_float(name: str, default: float) -> float:
    value = _env(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None


def _hparams_from_environment() -> dict[str, Any]:
    hparams: dict[str, Any] = {}
    text = _env("VIDEO_HPARAMS")
    if text is not None:
        try:
            hparams = json.loads(text)
        except ValueError as error:
            raise ConfigError(f"VIDEO_HPARAMS must be a JSON object: {error}") from None
        if not isinstance(hparams, dict):
            raise ConfigError("VIDEO_HPARAMS must be a JSON object")
    if _env("VIDEO_EPOCHS") is not None:
        hparams["epochs"] = _env_int("VIDEO_EPOCHS", 0, minimum=1)
    return hparams


def _demo_data_root(output_dir: str) -> str:
    """The demo dataset under `output_dir`, generated once (regenerating would defeat the cache)."""
    data_root = os.path.join(output_dir, "data")
    if not all(os.path.exists(os.path.join(data_root, name)) for name in ("train.csv", "test.csv")):
        from video_datasets import demo

        demo.generate_demo_dataset(data_root)
    return data_root


def _absolute(path: str) -> str:
    """Local paths made absolute (the CLI runs the file from any folder); URLs (gs://...) kept."""
    return path if "://" in path else os.path.abspath(path)


def _check_hparams(hparams: dict[str, Any], max_seq_length: int) -> None:
    """Fails now on an unknown or bad hyperparameter rather than in the Trainer, minutes later."""
    from pipeline.pipeline import trainer_config

    try:
        trainer_config(hparams, max_seq_length)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"VIDEO_HPARAMS / VIDEO_EPOCHS: {error}") from None


def metadata_path(output_dir: str) -> str:
    return os.path.join(output_dir, "metadata.sqlite")


def pipeline_from_environment():
    """The whole pipeline, configured from pipeline.configs and the VIDEO_* environment variables.

    Same layout as `pipeline_runner.py run`: OUTPUT_DIR/pipeline_root,
    OUTPUT_DIR/metadata.sqlite, OUTPUT_DIR/serving.
    """
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    output_dir = os.path.abspath(_env("VIDEO_OUTPUT_DIR") or DEFAULT_OUTPUT_DIR)
    os.makedirs(output_dir, exist_ok=True)
    data_root = _env("VIDEO_DATA_ROOT")
    if data_root is None:
        data_root = _demo_data_root(output_dir)
        default_weights = DEMO_WEIGHTS
    else:
        data_root = _absolute(data_root)
        default_weights = configs.WEIGHTS
    sampling = _env("VIDEO_SAMPLING") or configs.SAMPLING
    if sampling not in configs.SAMPLING_MODES:
        raise ConfigError(f"VIDEO_SAMPLING must be one of {', '.join(configs.SAMPLING_MODES)}, got {sampling!r}")
    enable_cache = (_env("VIDEO_ENABLE_CACHE") or "1").lower() not in ("0", "false", "no")
    max_seq_length = _env_int("VIDEO_MAX_SEQ_LENGTH", configs.MAX_SEQ_LENGTH, minimum=1)
    hparams = _hparams_from_environment()
    _check_hparams(hparams, max_seq_length)
    return create_pipeline(
        pipeline_name=_env("VIDEO_PIPELINE_NAME") or configs.PIPELINE_NAME,
        pipeline_root=os.path.join(output_dir, "pipeline_root"),
        data_root=data_root,
        max_seq_length=max_seq_length,
        image_size=_env_int("VIDEO_IMAGE_SIZE", configs.IMAGE_SIZE, minimum=32),
        weights=_env("VIDEO_WEIGHTS") or default_weights,
        sampling=sampling,
        frame_batch_size=_env_int("VIDEO_FRAME_BATCH_SIZE", configs.FRAME_BATCH_SIZE, minimum=1),
        hparams=hparams,
        serving_model_dir=_absolute(_env("VIDEO_SERVING_DIR") or os.path.join(output_dir, "serving")),
        min_test_accuracy=_env_float("VIDEO_MIN_TEST_ACCURACY", configs.MIN_TEST_ACCURACY),
        enable_cache=enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            metadata_path(output_dir)
        ),
        beam_pipeline_args=shlex.split(_env("VIDEO_BEAM_PIPELINE_ARGS") or ""),
    )


def run_with_local_dag_runner() -> None:
    """Builds pipeline_from_environment() and runs it with LocalDagRunner.

    Under `tfx pipeline create/update/compile` the run() call is patched by the
    CLI and does nothing but record the pipeline; under `tfx run create` (or
    plain `python pipeline_runner.py`) it runs the pipeline.
    """
    from tfx import v1 as tfx

    tfx.orchestration.LocalDagRunner().run(pipeline_from_environment())
