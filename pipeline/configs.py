"""Pipeline-level settings: the pipeline's name, the Evaluator's gate, and PipelineConfig, which holds a run's settings whole.

Everything else has its home with the code that uses it: extraction settings
in frame_path/config.py (ExtractionConfig), model hyperparameters in
trainer/model.py (HParams), split names and video extensions in
video_datasets/manifest.py.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from frame_path.backbone import FEATURE_DIM
from frame_path.config import ExtractionConfig
from trainer.hparams import training_config

PIPELINE_NAME = "video-action-recognition"

# The Evaluator blesses a model at this test accuracy or above ...
MIN_TEST_ACCURACY = 0.5
# ... and when it is at most this much worse than the last blessed model (0: never worse).
MAX_ACCURACY_REGRESSION = 0.0


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What the pipeline does, wherever it runs: the data, how features are made, how the model is trained and judged.

    `hparams` overrides the model defaults of trainer/model.py; with
    `enable_tuning` a Tuner searches trainer/tuner.py's space around them first
    and the Trainer takes its best hyperparameters. The Evaluator blesses a model
    at `min_test_accuracy` or above and at most `max_accuracy_regression` worse
    than the last blessed one.
    """

    data_root: str
    extraction: ExtractionConfig = ExtractionConfig()
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    enable_tuning: bool = False
    min_test_accuracy: float = MIN_TEST_ACCURACY
    max_accuracy_regression: float = MAX_ACCURACY_REGRESSION

    def __post_init__(self) -> None:
        self.trainer_config()  # the one check of the hyperparameters (trainer.hparams.HParamError)

    def trainer_config(self) -> dict[str, Any]:
        """The Trainer's (and Tuner's) custom_config: the hyperparameters plus the feature shape."""
        return training_config(self.hparams, self.extraction.max_seq_length, FEATURE_DIM)
