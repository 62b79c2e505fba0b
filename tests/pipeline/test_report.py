"""The run report: real matplotlib pictures and a Markdown page, from a hand-built run summary."""

import json
import os
import re

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from pipeline.reporting.console import console_summary, gate_checks
from pipeline.reporting.report import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LABELS = ["Grow", "Shrink", "Brighten", "Darken"]
# Rows: actual class, columns: predicted class.
COUNTS = [[3, 1, 0, 0], [0, 4, 0, 0], [0, 0, 2, 2], [1, 0, 0, 3]]
HISTORY = {
    "loss": [1.40, 1.20, 0.95, 0.80, 0.70, 0.66],
    "sparse_categorical_accuracy": [0.25, 0.40, 0.50, 0.62, 0.70, 0.72],
    "val_loss": [1.38, 1.25, 1.05, 0.92, 0.98, 1.01],
    "val_sparse_categorical_accuracy": [0.25, 0.31, 0.50, 0.56, 0.56, 0.62],
}


def _per_class(labels, counts):
    """Precision, recall and support per class, as pipeline.run_summary computes them."""
    counts = np.asarray(counts)
    per_class = {}
    for index, label in enumerate(labels):
        predicted, support = counts[:, index].sum(), counts[index].sum()
        per_class[label] = {
            "precision": round(float(counts[index, index] / predicted), 4) if predicted else 0.0,
            "recall": round(float(counts[index, index] / support), 4) if support else 0.0,
            "support": int(support),
        }
    return per_class


def _summary(tmp_path, labels=LABELS, counts=COUNTS, history=HISTORY, **overrides):
    model_run = tmp_path / "pipeline_root" / "Trainer" / "model_run" / "7"
    model_run.mkdir(parents=True)
    (model_run / "history.json").write_text(json.dumps(history))
    counts_array = np.asarray(counts)
    summary = {
        "examples_uri": str(tmp_path / "pipeline_root" / "VideoExampleGen" / "examples" / "1"),
        "splits": {"train": 48, "eval": 16, "test": int(counts_array.sum())},
        "skipped_videos": [{"path": "train/Grow/broken.avi", "split": "train", "reason": "no frames could be decoded"}],
        "weights": "imagenet",
        "weights_id": "imagenet",
        "frame_pooling": "max",
        "model_uri": str(tmp_path / "pipeline_root" / "Trainer" / "model" / "7"),
        "model_run_uri": str(model_run),
        "kept_epoch": 4,
        "warmup_epochs": 0,
        "test_accuracy": round(float(np.trace(counts_array) / counts_array.sum()), 4),
        "test_examples": int(counts_array.sum()),
        "per_class": _per_class(labels, counts),
        "confusion_matrix": {"labels": list(labels), "counts": counts_array.tolist()},
        "validation_failures": [],
        "gate": {
            "required": {"min_test_accuracy": 0.5, "min_lift_over_majority": 1e-10, "max_accuracy_regression": 0.0},
            "majority_class_share": 0.25,
            "accuracy_over_majority": 0.5,
            "accuracy_change_vs_baseline": None,
            "failed": [],
        },
        "blessed": True,
        "baseline_model_uri": None,
        "pushed_model_dir": str(tmp_path / "serving" / "1712345678"),
    }
    summary.update(overrides)
    return summary


def _check_png(path, min_bytes=5_000):
    with open(path, "rb") as picture:
        assert picture.read(8) == PNG_SIGNATURE
    assert os.path.getsize(path) > min_bytes
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image.std() > 0.01  # not a blank picture
    return image


def _table_rows(markdown):
    """Per-class table rows: label -> (precision text, recall text, support text)."""
    lines = markdown.splitlines()
    start = lines.index("| Class | Precision | Recall | Support |")
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == 4, line
        rows[cells[0]] = tuple(cells[1:])
    return rows


def test_writes_pictures_and_report(tmp_path):
    summary = _summary(tmp_path)
    report_dir = tmp_path / "report" / "nested"
    paths = write_report(summary, str(report_dir))

    assert set(paths) == {"report", "confusion_matrix", "training_curves"}
    assert paths["report"] == os.path.join(str(report_dir), "report.md")
    assert paths["confusion_matrix"] == os.path.join(str(report_dir), "confusion_matrix.png")
    assert paths["training_curves"] == os.path.join(str(report_dir), "training_curves.png")
    _check_png(paths["confusion_matrix"])
    curves = _check_png(paths["training_curves"])
    assert curves.shape[1] > curves.shape[0]  # two panels side by side
    assert plt.get_fignums() == []  # every figure closed

    markdown = open(paths["report"], encoding="utf-8").read()
    assert markdown.startswith("# ")
    assert "75.00%" in markdown and "0.7500" in markdown
    assert "train 48, eval 16, test 16" in markdown
    assert "BLESSED" in markdown and "NOT BLESSED" not in markdown
    assert summary["pushed_model_dir"] in markdown
    assert "no earlier blessed model" in markdown
    assert "`imagenet`" in markdown and "NOT pretrained" not in markdown
    assert "feature map pooled by `max`" in markdown
    assert "train/Grow/broken.avi" in markdown and "no frames could be decoded" in markdown
    assert "![Confusion matrix](confusion_matrix.png)" in markdown
    assert "![Training curves](training_curves.png)" in markdown
    assert paths["confusion_matrix"] in markdown and paths["training_curves"] in markdown
    assert "The Trainer kept the weights of epoch 4: val_loss 0.9200, the lowest" in markdown


@pytest.mark.parametrize(
    "kept_epoch, warmup_epochs, expected",
    [
        # The lowest val_loss (epoch 4) lies in the warm-up; the report names the epoch the Trainer kept.
        (5, 5, "kept the weights of epoch 5: val_loss 0.9800, the lowest after the 5-epoch warm-up"),
        (6, 10, "kept the weights of epoch 6: val_loss 1.0100, the last epoch: training was no longer than the 10-epoch warm-up"),
    ],
)
def test_the_report_names_the_epoch_the_trainer_recorded(tmp_path, kept_epoch, warmup_epochs, expected):
    summary = _summary(tmp_path, kept_epoch=kept_epoch, warmup_epochs=warmup_epochs)
    markdown = open(write_report(summary, str(tmp_path / "report"))["report"], encoding="utf-8").read()
    assert expected in markdown and "epoch 4" not in markdown


def test_per_class_table_matches_the_summary(tmp_path):
    summary = _summary(tmp_path)
    markdown = open(write_report(summary, str(tmp_path / "report"))["report"], encoding="utf-8").read()

    rows = _table_rows(markdown)
    assert list(rows) == LABELS  # every class, in the summary's order
    for label, figures in summary["per_class"].items():
        assert rows[label] == (f"{figures['precision']:.2f}", f"{figures['recall']:.2f}", str(figures["support"]))
    # Spot checks against the counts: Shrink is predicted 5 times, 4 rightly; Brighten recalled 2 of 4.
    assert rows["Shrink"] == ("0.80", "1.00", "4")
    assert rows["Brighten"] == ("1.00", "0.50", "4")


def test_not_blessed_shows_reasons_and_unpretrained_weights(tmp_path):
    reasons = [
        "sparse_categorical_accuracy 0.2500: Threshold 0.6 not met",
        "sparse_categorical_accuracy 0.2500: worse than the baseline model",
    ]
    summary = _summary(
        tmp_path,
        blessed=False,
        not_blessed_because=reasons,
        pushed_model_dir=None,
        baseline_model_uri="/runs/pipeline_root/Trainer/model/3",
        weights="none",
        weights_id="none(random-init,seed=42)",
        skipped_videos=[],
    )
    markdown = open(write_report(summary, str(tmp_path / "report"))["report"], encoding="utf-8").read()

    assert "NOT BLESSED" in markdown
    for reason in reasons:
        assert reason in markdown
    assert "nothing was pushed" in markdown
    assert "/runs/pipeline_root/Trainer/model/3" in markdown
    assert "NOT pretrained" in markdown and "none(random-init,seed=42)" in markdown
    assert "Skipped clips: none" in markdown


def test_the_gate_says_what_it_required_and_what_failed(tmp_path):
    gate = {
        "required": {"min_test_accuracy": 0.2, "min_lift_over_majority": 1e-10, "max_accuracy_regression": 0.05},
        "majority_class_share": 0.5,
        "accuracy_over_majority": -0.25,
        "accuracy_change_vs_baseline": -0.125,
        "failed": ["min_lift_over_majority", "max_accuracy_regression"],
    }
    summary = _summary(tmp_path, test_accuracy=0.25, gate=gate, blessed=False, not_blessed_because=["reason"], baseline_model_uri="/m/3")
    markdown = open(write_report(summary, str(tmp_path / "report"))["report"], encoding="utf-8").read()
    assert "- The gate required:" in markdown
    assert "test accuracy >= 0.2: 0.2500, passed" in markdown
    assert "accuracy minus the majority class's share (0.5000 of the test clips) >= 1e-10: -0.2500, FAILED" in markdown
    assert "at most 0.05 below the last blessed model: -0.1250, FAILED" in markdown
    # The lift check turned off, no baseline: what the console shows too.
    summary["gate"] = {
        **gate,
        "required": {**gate["required"], "min_lift_over_majority": -1.0},
        "accuracy_change_vs_baseline": None,
        "failed": [],
    }
    _, lift, regression = gate_checks(summary)
    assert lift.endswith("(0.5000 of the test clips) off: -0.2500, passed")
    assert regression == "at most 0.05 below the last blessed model: no baseline"


def test_101_classes(tmp_path):
    labels = [f"Action{index:03d}WithALongerName" for index in range(101)]
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 2, size=(101, 101))
    counts[np.arange(101), np.arange(101)] += rng.integers(3, 10, size=101)
    counts[7] = 0  # a class without test clips
    summary = _summary(tmp_path, labels=labels, counts=counts)
    paths = write_report(summary, str(tmp_path / "report"))

    image = _check_png(paths["confusion_matrix"])
    assert max(image.shape[:2]) <= 4200  # capped size
    assert min(image.shape[:2]) > 1000  # yet big enough for 101 labels
    rows = _table_rows(open(paths["report"], encoding="utf-8").read())
    assert len(rows) == 101 and rows[labels[7]] == ("0.00", "0.00", "0")
    assert plt.get_fignums() == []


@pytest.mark.parametrize(
    "history",
    [
        {"loss": [1.2, 0.9, 0.7], "sparse_categorical_accuracy": [0.3, 0.5, 0.6]},  # no validation keys
        {"loss": [1.3], "sparse_categorical_accuracy": [0.4], "val_loss": [1.35], "val_sparse_categorical_accuracy": [0.375]},
        {"loss": [1.3]},  # one epoch, no accuracy, no validation
    ],
    ids=["no-validation", "single-epoch", "loss-only"],
)
def test_short_or_partial_history(tmp_path, history):
    paths = write_report(_summary(tmp_path, history=history), str(tmp_path / "report"))
    _check_png(paths["training_curves"])
    markdown = open(paths["report"], encoding="utf-8").read()
    assert f"Epochs run: {len(history['loss'])}" in markdown
    if "val_loss" not in history:
        assert "No validation figures" in markdown


def test_missing_history_still_writes_a_report(tmp_path):
    summary = _summary(tmp_path, model_run_uri=str(tmp_path / "nowhere"))
    paths = write_report(summary, str(tmp_path / "report"))
    _check_png(paths["training_curves"], min_bytes=1_000)
    markdown = open(paths["report"], encoding="utf-8").read()
    assert "No training history" in markdown and "75.00%" in markdown


def test_classes_without_eval_clips_are_named_in_the_report_and_on_the_console(tmp_path):
    summary = _summary(
        tmp_path,
        labels_without_eval=["Shrink"],
        feature_extraction={"frames": 640, "seconds": 2.0, "frames_per_second": 320.0},
        seconds={"total": 60.0, "components": {"VideoExampleGen": 20.0}},
        cached_components=[],
    )
    markdown = open(write_report(summary, str(tmp_path / "report"))["report"], encoding="utf-8").read()
    assert re.search(r"Classes without eval clips\*\*: Shrink ", markdown)
    [line] = [line for line in console_summary(summary, "run_summary.json").splitlines() if "without eval clips" in line]
    assert line.startswith("  WARNING") and line.endswith(": Shrink")
    del summary["labels_without_eval"]
    assert "without eval clips" not in open(write_report(summary, str(tmp_path / "report"))["report"], encoding="utf-8").read()


def test_data_warnings_reach_the_report(tmp_path):
    warning = "groups g10 have clips in both training and test: the same actors and scenes on both sides inflate test accuracy"
    markdown = open(write_report(_summary(tmp_path, data_warnings=[warning]), str(tmp_path / "report"))["report"], encoding="utf-8").read()
    assert f"- **Warning**: {warning}" in markdown


def test_the_pooling_the_feature_store_and_the_spans_reach_the_report_and_the_console(tmp_path):
    summary = _summary(
        tmp_path,
        feature_store="/out/feature_store",
        feature_store_use={"hits": 40, "misses": 4, "entries": 44, "bytes": 3 * 2**20},
        span=3,
        data_root="/videos/span-3",
        training_spans=[2, 3],
        feature_extraction={"frames": 88, "seconds": 4.0, "frames_per_second": 22.0},
        seconds={"total": 60.0, "components": {"VideoExampleGen": 20.0}},
        cached_components=[],
    )
    expected = "40 clips from the feature store, 4 decoded; store 44 clips, 3.0 MiB at /out/feature_store"
    markdown = open(write_report(summary, str(tmp_path / "report"))["report"], encoding="utf-8").read()
    assert f"- {expected[0].upper()}{expected[1:]}" in markdown
    assert "- Span 3: `/videos/span-3`" in markdown and "- Trained on spans 2, 3 (`--train-spans`); tested on span 3" in markdown
    console = console_summary(summary, "run_summary.json")
    assert expected in console and "(span 3 of /videos/span-3)" in console and "trained on spans 2, 3" in console
    assert "backbone     DenseNet121, weights imagenet, max pooling\n" in console
    # 'auto' as it resolved, with what it stands for in each regime, as FeatureConfig resolves it.
    chosen = console_summary({**summary, "frame_pooling": "max+min", "auto_settings": {"frame_pooling": "max+min"}}, "run_summary.json")
    assert "max+min pooling (auto: avg with pretrained weights, max+min with random ones)\n" in chosen
    without_store = console_summary({**summary, "feature_store_use": None}, "run_summary.json")
    assert "feature store: none (every clip decoded)" in without_store


def test_ignored_files_reach_the_report_and_the_console(tmp_path):
    ignored = {"count": 3, "extensions": {".db": 1, ".txt": 2}, "files": ["Grow/Thumbs.db", "Grow/notes.txt", "Shrink/notes.txt"]}
    summary = _summary(
        tmp_path,
        ignored_files=ignored,
        feature_extraction={"frames": 88, "seconds": 4.0, "frames_per_second": 22.0},
        seconds={"total": 60.0, "components": {"VideoExampleGen": 20.0}},
        cached_components=[],
    )
    markdown = open(write_report(summary, str(tmp_path / "report"))["report"], encoding="utf-8").read()
    assert "Ignored files (3 files (.db 1, .txt 2))" in markdown and "- `Shrink/notes.txt`" in markdown
    assert "  ignored      3 files (.db 1, .txt 2) in the clips' folders" in console_summary(summary, "run_summary.json")


def test_clips_the_feature_store_could_not_keep_are_a_warning_on_the_console():
    from pipeline.reporting.console import feature_store_lines

    use = {"hits": 0, "misses": 4, "entries": 0, "bytes": 0, "not_stored": {"clips": 4, "first_reason": "Permission denied"}}
    lines = feature_store_lines({"feature_store_use": use, "feature_store": "/out/feature_store"})
    assert lines[-1] == "WARNING: 4 clips could not be stored (Permission denied); the run went on without storing them"
