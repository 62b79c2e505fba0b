"""The whole pipeline on tiny demo data, twice into one output dir: bless, push, summarize, cache, compare with the baseline."""

import glob
import os

import numpy as np
import pytest

from tests.conftest import SKIPPED_CLIPS
from tests.helpers import EXECUTED_COMPONENTS
from video_datasets import demo

pytestmark = pytest.mark.e2e  # whole-pipeline runs


def test_first_run_is_blessed_pushed_and_summarized(local_runs):
    output_dir, first, _ = local_runs
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
    assert set(EXECUTED_COMPONENTS) <= set(first["seconds"]["components"])
    assert first["seconds"]["total"] > 0 and first["cached_components"] == []


def test_second_run_reuses_features_and_compares_with_the_blessed_model(local_runs):
    output_dir, first, second = local_runs
    assert "VideoExampleGen" in second["cached_components"] and "Transform" in second["cached_components"]
    assert "Trainer" not in second["cached_components"]  # epochs changed: a new model
    assert second["examples_uri"] == first["examples_uri"]
    assert second["baseline_model_uri"] == first["model_uri"]
    assert second["model_uri"] != first["model_uri"]
    # With the gate's other bounds off, the second run is blessed exactly when it is no worse than the first,
    # and only a blessed run adds a version.
    assert second["blessed"] == (second["test_accuracy"] >= first["test_accuracy"])
    assert len(os.listdir(os.path.join(output_dir, "serving"))) == 1 + second["blessed"]


def test_summary_of_a_run_with_a_baseline_is_tfmas_candidate(local_runs):
    """The second run has a blessed baseline: its figures are the candidate's, not the diff's nor the sum of both."""
    import tensorflow_model_analysis as tfma

    output_dir, first, second = local_runs
    assert second["baseline_model_uri"] is not None
    evaluations = sorted(
        glob.glob(os.path.join(output_dir, "pipeline_root", "Evaluator", "evaluation", "*")), key=lambda path: int(os.path.basename(path))
    )
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


def test_the_streams_the_trainer_chose_and_each_candidates_figures_are_in_the_summary_and_the_report(local_runs, tmp_path):
    """The first run keeps the default frame_streams=auto: one model per candidate, the lowest eval loss kept,
    averaged with the second lowest when that is close enough. The second run is configured with one (ONE_STREAM)."""
    from pipeline.reporting.report import REPORT_MARKDOWN_FILE, write_report
    from trainer.hparams import STREAM_CANDIDATES
    from trainer.stream_selection import SECOND_LOSS_RATIO

    output_dir, first, second = local_runs
    selection = first["stream_selection"]
    assert selection["configured"] == "auto" and list(selection["candidates"]) == list(STREAM_CANDIDATES)
    figures = selection["candidates"]
    kept = [name for name in STREAM_CANDIDATES if figures[name]["weight"] > 0]
    assert selection["chosen"] == "+".join(kept) and selection["averaged"] == (len(kept) == 2) and len(kept) in (1, 2)
    assert [figures[name]["weight"] for name in kept] == [1 / len(kept)] * len(kept)
    assert min(figures[name]["eval_loss"] for name in kept) == min(candidate["eval_loss"] for candidate in figures.values())
    assert (
        max(figures[name]["eval_loss"] for name in kept)
        <= SECOND_LOSS_RATIO * min(candidate["eval_loss"] for candidate in figures.values()) + 1e-3
    )
    assert selection["eval_clips"] == first["splits"]["eval"]
    assert all(figures["epochs_run"] >= figures["kept_epoch"] >= 1 for figures in selection["candidates"].values())
    with open(write_report(first, str(tmp_path))["report"]) as report_file:  # the first run's report (the second's replaced it)
        report = report_file.read()
    assert f"frame streams {selection['chosen']}" in report and f"from {len(STREAM_CANDIDATES)} candidates" in report
    assert all(f"{name:<10} eval accuracy" in report for name in STREAM_CANDIDATES)
    assert second["stream_selection"]["candidates"].keys() == {"change"}
    with open(os.path.join(output_dir, "report", REPORT_MARKDOWN_FILE)) as report_file:
        assert "frame streams change (configured)" in report_file.read()
