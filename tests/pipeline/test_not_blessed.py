"""A run that must not be blessed, with the Tuner: a model no better than the majority class, on the default gate."""

import contextlib
import io
import json
import os

import numpy as np
import pytest

from tests.conftest import run_pipeline
from video_datasets import demo

pytestmark = pytest.mark.e2e  # a whole-pipeline run


def _black_clips_dataset(root):
    """UCF101 class folders of all-black clips, two classes told apart only by length (all longer than the 8 frames sampled).

    Every clip gives the model the same input, so every prediction is the same
    class: the test accuracy is at most the majority class's share (0.5 here).
    Lengths differ from clip to clip too, as identical files are refused.
    """
    black = np.zeros((48, 64, 3), dtype=np.uint8)
    for label, shortest in (("Short", 9), ("Long", 20)):
        os.makedirs(os.path.join(root, label))
        for index, group in enumerate([1, 2, 3, *range(8, 14)]):  # groups 1-7 are the test split
            path = os.path.join(root, label, demo.clip_name(label, group, 1, ".avi"))
            demo.write_clip(path, [black] * (shortest + index), "MJPG")
    return str(root)


@pytest.fixture(scope="module")
def black_clips_run(tmp_path_factory):
    """(output dir, run summary, console output) of `run --tune` on the black clips, every gate setting at its default."""
    work_dir = tmp_path_factory.mktemp("black_clips")
    output_dir = str(work_dir / "out")
    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        summary = run_pipeline(_black_clips_dataset(work_dir / "data"), output_dir, "--epochs", "2", "--tune")
    return output_dir, summary, console.getvalue()


def test_a_model_no_better_than_the_majority_class_is_not_blessed(black_clips_run):
    import tensorflow_model_analysis as tfma

    output_dir, summary, console = black_clips_run
    assert summary["splits"]["test"] == 6
    assert summary["test_accuracy"] == 0.5  # one answer for all: the default --min-test-accuracy 0.5 alone would bless it
    assert summary["blessed"] is False and summary["pushed_model_dir"] is None
    serving = os.path.join(output_dir, "serving")
    assert not os.path.exists(serving) or not os.listdir(serving)
    gate = summary["gate"]
    assert gate["required"] == {"min_test_accuracy": 0.5, "min_lift_over_majority": 1e-10, "max_accuracy_regression": 0.0}
    assert gate["majority_class_share"] == 0.5 and gate["accuracy_over_majority"] == 0.0
    assert gate["failed"] == ["min_lift_over_majority"]
    assert any("no better than always answering the majority class (0.5000" in reason for reason in summary["not_blessed_because"])
    # The summary says what TFMA computed and decided.
    metrics = {
        item.key.name: item.value.double_value.value
        for item in next(iter(tfma.load_metrics(summary["evaluation_uri"]))).metric_keys_and_values
    }
    assert metrics["majority_class_share"] == pytest.approx(gate["majority_class_share"], abs=1e-4)
    assert metrics["accuracy_over_majority"] == pytest.approx(gate["accuracy_over_majority"], abs=1e-4)
    assert metrics["accuracy_over_majority"] == pytest.approx(
        metrics["sparse_categorical_accuracy"] - metrics["majority_class_share"], abs=1e-6
    )
    failed = {
        failure.metric_key.name
        for failures in tfma.load_validation_result(summary["evaluation_uri"]).metric_validations_per_slice
        for failure in failures.failures
    }
    assert "accuracy_over_majority" in failed
    with open(summary["report"]["report"]) as report_file:
        report = report_file.read()
    assert "no better than always answering the majority class" in report and "FAILED" in report
    assert "NOT blessed: test accuracy 0.5000 is no better than always answering the majority class" in console


def test_the_tuner_chooses_the_trainers_hyperparameters(black_clips_run):
    from trainer import tuner

    _, summary, _ = black_clips_run
    assert "Tuner" in summary["seconds"]["components"]
    tuned = summary["tuned_hyperparameters"]
    assert set(tuned) == set(tuner.SEARCH_SPACE)
    assert all(tuned[name] in values for name, values in tuner.SEARCH_SPACE.items())
    with open(os.path.join(summary["model_uri"], "Format-Serving", "assets.extra", "model_info.json")) as info_file:
        trained_with = json.load(info_file)["hparams"]
    assert {name: trained_with[name] for name in tuned} == tuned
