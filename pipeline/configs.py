"""Pipeline-level settings: the pipeline's name, the Evaluator's gate (GateConfig), the spans a run uses (SpanConfig),
and PipelineConfig, which holds a run's settings whole.

Everything else has its home with the code that uses it: extraction settings
in frame_path/config.py (ExtractionConfig, composing FeatureConfig), model hyperparameters in
trainer/hparams.py (HParams), split names and video extensions in
video_datasets/manifest.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from frame_path.config import ExtractionConfig
from trainer.hparams import training_config
from typed_config import InvalidOption, check_fields, option
from video_datasets.spans import LATEST as LATEST_SPAN

PIPELINE_NAME = "video-action-recognition"

# Added to the bounds of the gate so that "better than" is strict and "no worse than" lets an equal model pass.
ACCURACY_TOLERANCE = 1e-10


@dataclasses.dataclass(frozen=True)
class GateConfig:
    """When the Evaluator blesses a model (and the Pusher pushes it): every bound must hold on the test split.

    Each field is an option of every front end (`--min-test-accuracy`,
    VIDEO_MIN_TEST_ACCURACY, ...), with its bounds checked here.
    """

    min_test_accuracy: float = option(0.5, "the Evaluator blesses a model only at this test accuracy or above", minimum=0.0, maximum=1.0)
    # The share of the majority class is at least 1/num_classes: beating it beats chance too.
    min_lift_over_majority: float = option(
        ACCURACY_TOLERANCE,
        "the Evaluator blesses a model only when its test accuracy beats the test split's majority-class share (the accuracy "
        "of always answering its most frequent class) by at least this much; the tiny default means strictly better, -1 "
        "turns the check off",
        minimum=-1.0,
        maximum=1.0,
    )
    max_accuracy_regression: float = option(
        0.0,
        "the Evaluator blesses a model only when its test accuracy is at most this much below the last blessed model's",
        minimum=0.0,
        maximum=1.0,
    )

    def __post_init__(self) -> None:
        check_fields(self)


@dataclasses.dataclass(frozen=True)
class SpanConfig:
    """Which spans of a growing data root (video_datasets/spans.py: DATA_ROOT/span-N/, or {SPAN} in it) a run uses."""

    span: int = option(
        LATEST_SPAN,
        "the span VideoExampleGen extracts, of a data root holding span-N folders (or with {SPAN} in it); -1: the latest",
        minimum=LATEST_SPAN,
    )
    train_spans: int = option(
        1,
        "Transform, the Tuner and the Trainer use the Examples of the latest N spans extracted so far (TFX's rolling "
        "range); the Evaluator always tests on this run's span",
        minimum=1,
    )

    def __post_init__(self) -> None:
        check_fields(self)


# The tag `make image` gives the project's image (tools/container); a cluster needs it pushed to a registry.
DEFAULT_IMAGE = "localhost/video-action-pipeline:latest"


@dataclasses.dataclass(frozen=True)
class SpecConfig:
    """Where a compiled Kubeflow spec runs: its steps' image, its artifact root, its schema."""

    image: str = option(DEFAULT_IMAGE, "container image with this project, built from the Dockerfile (what `make image` tags)")
    pipeline_root: str = option("gs://YOUR_BUCKET/pipeline_root", "artifact root URI")
    pipeline_spec_2_1: bool = option(
        False,
        "write PipelineSpec schema 2.1.0, which recent self-hosted Kubeflow Pipelines 2.x backends need (2.0.0 is what Vertex AI runs)",
    )

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.image.strip():
            raise InvalidOption(
                "image", "must name the container image built from this project's Dockerfile (TFX's stock image lacks its code)"
            )


@dataclasses.dataclass(frozen=True)
class GpuConfig:
    """The GPUs a compiled Kubeflow spec asks for (the Trainer's, and VideoExampleGen's on request)."""

    gpus: int = option(0, "GPUs the Trainer asks for", minimum=0)
    gpu_type: str = option(
        "NVIDIA_TESLA_T4", "accelerator type: Vertex AI names it like the default; self-hosted Kubeflow Pipelines wants nvidia.com/gpu"
    )
    extraction_gpus: bool = option(False, "give VideoExampleGen the same GPUs as the Trainer")
    cpu_limit: float = option(0.0, "CPU limit of the GPU components, e.g. 8; 0: none", minimum=0.0)
    memory_limit_gb: float = option(0.0, "memory limit of the GPU components in GB, e.g. 32; 0: none", minimum=0.0)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.extraction_gpus and self.gpus == 0:
            raise InvalidOption("extraction_gpus", "needs GPUs for the Trainer (--gpus 1 or more)")


def check_compilable(config: PipelineConfig) -> None:
    """InvalidOption for what a Kubeflow Pipelines v2 spec cannot hold: TFX 1.21's KubeflowV2DagRunner compiles no
    resolver function ("Only single Channel is supported"), so a spec trains on its run's span only."""
    if config.spans.train_spans > 1:
        raise InvalidOption(
            "train_spans",
            "must be 1 in a Kubeflow Pipelines v2 spec (it trains on its run's span only); train on several spans with run or the tfx CLI",
        )


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What the pipeline does, wherever it runs: the data, how features are made, how the model is trained and judged.

    `hparams` overrides the model defaults of trainer/hparams.py; with
    `enable_tuning` a Tuner searches trainer/tuner.py's space around them first
    and the Trainer takes its best hyperparameters. The Evaluator blesses a
    model when it passes every bound of `gate`. `spans` picks the span to
    extract and how many spans the Trainer uses.
    """

    data_root: str
    extraction: ExtractionConfig = ExtractionConfig()
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    enable_tuning: bool = False
    gate: GateConfig = GateConfig()
    spans: SpanConfig = SpanConfig()

    def __post_init__(self) -> None:
        self.trainer_config()  # the one check of the hyperparameters (trainer.hparams.HParamError)

    def trainer_config(self) -> dict[str, Any]:
        """The Trainer's (and Tuner's) custom_config: the hyperparameters plus the feature shape."""
        return training_config(self.hparams, self.extraction.features.shape)
