"""What the Trainer (and the Tuner) read: the Examples through the transform graph, and the extraction report that says
how their features were made."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from frame_path.config import SPAN_MISMATCH_HINT, span_feature_mismatch
from frame_path.records import EXTRACTION_REPORT_FILE
from trainer.preprocessing import FEATURE_KEYS, LABEL_ID_KEY

TRAINING_SEED = 0  # same Examples and hyperparameters -> the same model
# TFX datasets have no known length, so Keras warns at the end of every epoch.
warnings.filterwarnings("ignore", message="Your input ran out of data")


def dataset(
    fn_args: tfx.components.FnArgs, file_pattern: list[str], tf_transform_output: tft.TFTransformOutput, batch_size: int, shuffle: bool
) -> tf.data.Dataset:
    """Raw Examples through the transform graph -> (model inputs, label id) batches."""
    transform_layer = tf_transform_output.transform_features_layer()

    def transform(raw_features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        transformed = transform_layer(raw_features)
        return {key: transformed[key] for key in FEATURE_KEYS}, transformed[LABEL_ID_KEY]

    raw_examples = fn_args.data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=1, shuffle=shuffle, shuffle_seed=0),
        tf_transform_output.raw_metadata.schema,
    )
    return raw_examples.map(transform, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _extraction_reports(file_patterns: list[str]) -> list[dict[str, Any]]:
    """The VideoExampleGen report of each span a split's file patterns come from.

    FnArgs carries file patterns, not artifacts, so the reports are found by TFX's split layout
    (<examples uri>/Split-<name>/*, as artifact_utils.get_split_uri builds it).
    """
    reports = []
    for file_pattern in file_patterns:
        split_dir = os.path.dirname(file_pattern)
        with tf.io.gfile.GFile(os.path.join(os.path.dirname(split_dir), EXTRACTION_REPORT_FILE)) as report_file:
            reports.append(json.load(report_file))
    return reports


def extraction_report(fn_args: tfx.components.FnArgs) -> dict[str, Any]:
    """The VideoExampleGen report of the Examples being trained on (it names the backbone weights); of the newest span
    when there are several (--train-spans), after checking that they all hold features made the same way."""
    reports = _extraction_reports(fn_args.train_files)
    newest = max(reports, key=lambda report: report.get("span", 0))
    for report in reports:
        mismatch = span_feature_mismatch(report.get("span", 0), report, newest.get("span", 0), newest)
        if mismatch:
            raise ValueError(f"the spans to train on hold features made differently: {mismatch} ({SPAN_MISMATCH_HINT})")
    return newest


def eval_clip_count(fn_args: tfx.components.FnArgs) -> int:
    """Clips in the eval split, over every span evaluated on: the extraction reports' counts, no pass over the records."""
    return sum(report["splits"]["eval"] for report in _extraction_reports(fn_args.eval_files))
