"""The whole pipeline through the real runners on tiny demo data: bless, push, cache, gate, Beam."""
import glob
import json
import os

import numpy as np
import pytest

from tests.conftest import SKIPPED_CLIPS, run_pipeline
from video_datasets import demo

pytestmark = pytest.mark.e2e  # whole-pipeline runs

def test_first_run_is_blessed_pushed_and_summarized(local_runs):
    output_dir, first, _, _ = local_runs
    assert first["blessed"] is True and first["baseline_model_uri"] is None
    pushed = first["pushed_model_dir"]
    assert os.path.dirname(pushed) == os.path.join(output_dir, "serving")
    assert os.path.basename(pushed).isdigit()  # a numbered version folder, as TF Serving expects
    assert os.path.exists(os.path.join(pushed, "saved_model.pb"))
    assert first["splits"] == {"train": 20, "eval": 4, "test": 10}  # test: 8 demo clips + the 1080p and grayscale ODD_VALID_CLIPS
    assert sum(figures["support"] for figures in first["per_class"].values()) == 10
    assert set(first["per_class"]) == set(demo.DEMO_CLASSES)
    counts = np.asarray(first["confusion_matrix"]["counts"])
    assert first["test_accuracy"] == pytest.approx(np.trace(counts) / counts.sum(), abs=1e-4) and first["weights"] == "none"
    assert first["feature_extraction"]["frames"] > 0
    reasons = {os.path.basename(item["path"]): item["reason"] for item in first["skipped_videos"]}
    assert reasons.keys() == SKIPPED_CLIPS.keys()
    assert all(reasons[name].startswith(reason) for name, reason in SKIPPED_CLIPS.items())
    expected_components = {"VideoExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Trainer", "Evaluator", "Pusher"}
    assert expected_components <= set(first["seconds"]["components"])
    assert first["seconds"]["total"] > 0 and first["cached_components"] == []


def test_second_run_reuses_features_and_compares_with_the_blessed_model(local_runs):
    _, first, second, _ = local_runs
    assert "VideoExampleGen" in second["cached_components"] and "Transform" in second["cached_components"]
    assert "Trainer" not in second["cached_components"]  # epochs changed: a new model
    assert second["examples_uri"] == first["examples_uri"]
    assert second["baseline_model_uri"] == first["model_uri"]
    assert second["model_uri"] != first["model_uri"]


def test_unreachable_threshold_blesses_and_pushes_nothing_and_says_why(local_runs):
    output_dir, first, second, unreachable = local_runs
    assert unreachable["blessed"] is False and unreachable["pushed_model_dir"] is None
    assert unreachable["gate"]["required"]["min_lift_over_majority"] == 1.0
    assert "min_lift_over_majority" in unreachable["gate"]["failed"]
    assert any("majority class" in reason for reason in unreachable["not_blessed_because"])
    pushed_versions = sorted(os.listdir(os.path.join(output_dir, "serving")))
    # With the gate's other bounds off, the second run is blessed exactly when it is no worse than the first.
    assert second["blessed"] == (second["test_accuracy"] >= first["test_accuracy"])
    assert len(pushed_versions) == 1 + second["blessed"]


def test_summary_of_a_run_with_a_baseline_is_tfmas_candidate(local_runs):
    """The second run has a blessed baseline: its figures are the candidate's, not the diff's nor the sum of both."""
    import tensorflow_model_analysis as tfma

    output_dir, first, second, _ = local_runs
    assert second["baseline_model_uri"] is not None
    evaluations = sorted(glob.glob(os.path.join(output_dir, "pipeline_root", "Evaluator", "evaluation", "*")), key=lambda path: int(os.path.basename(path)))
    metrics = next(iter(tfma.load_metrics(evaluations[1])))
    candidate_accuracy = [
        item.value.double_value.value
        for item in metrics.metric_keys_and_values
        if item.key.name == "sparse_categorical_accuracy" and item.key.model_name == "candidate" and not item.key.is_diff
    ]
    assert second["test_examples"] == first["test_examples"] == 10
    assert second["test_accuracy"] == pytest.approx(candidate_accuracy[0], abs=1e-4)
    assert sum(figures["support"] for figures in second["per_class"].values()) == 10
    assert sum(map(sum, second["confusion_matrix"]["counts"])) == 10


def test_tuner_chooses_the_trainers_hyperparameters(local_runs):
    from trainer import tuner

    *_, summary = local_runs  # the third run has --tune
    assert "Tuner" in summary["seconds"]["components"]
    tuned = summary["tuned_hyperparameters"]
    assert set(tuned) == set(tuner.SEARCH_SPACE)
    assert all(tuned[name] in values for name, values in tuner.SEARCH_SPACE.items())
    with open(os.path.join(summary["model_uri"], "Format-Serving", "assets.extra", "model_info.json")) as info_file:
        trained_with = json.load(info_file)["hparams"]
    assert {name: trained_with[name] for name in tuned} == tuned


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


def test_a_model_no_better_than_the_majority_class_is_not_blessed(tmp_path, capsys):
    import tensorflow_model_analysis as tfma

    output_dir = str(tmp_path / "out")
    summary = run_pipeline(_black_clips_dataset(tmp_path / "data"), output_dir, "--epochs", "2")
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
        item.key.name: item.value.double_value.value for item in next(iter(tfma.load_metrics(summary["evaluation_uri"]))).metric_keys_and_values
    }
    assert metrics["majority_class_share"] == pytest.approx(gate["majority_class_share"], abs=1e-4)
    assert metrics["accuracy_over_majority"] == pytest.approx(gate["accuracy_over_majority"], abs=1e-4)
    assert metrics["accuracy_over_majority"] == pytest.approx(metrics["sparse_categorical_accuracy"] - metrics["majority_class_share"], abs=1e-6)
    failed = {failure.metric_key.name for failures in tfma.load_validation_result(summary["evaluation_uri"]).metric_validations_per_slice for failure in failures.failures}
    assert "accuracy_over_majority" in failed
    with open(summary["report"]["report"]) as report_file:
        report = report_file.read()
    assert "no better than always answering the majority class" in report and "FAILED" in report
    console = capsys.readouterr().out
    assert "NOT blessed: test accuracy 0.5000 is no better than always answering the majority class" in console
