"""A human report of a pipeline run: two pictures and a Markdown page.

`write_report(summary, report_dir)` takes the dict that `pipeline_runner.py run`
writes to `run_summary.json` and writes into `report_dir`:

- `confusion_matrix.png`: the test split's confusion matrix (rows: actual
  class, columns: predicted), each cell with its count and row-normalized rate,
  coloured by that rate;
- `training_curves.png`: loss and accuracy per epoch, train vs eval split, from
  the Trainer's `history.json`, with the epoch whose weights the Trainer kept
  marked (its own record, `kept_epoch`);
- `report.md`: accuracy, clips per split, blessing (what each bound of the gate
  required and measured), push, baseline, backbone
  weights, skipped clips, a per-class table and the two pictures.

Only matplotlib (Agg backend) is used; every figure is closed after saving.
"""

from __future__ import annotations

import json
import os
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: E402

from pipeline.reporting.console import feature_store_lines, gate_checks, pushed_text, stream_selection_lines  # noqa: E402
from trainer.model_files import HISTORY_FILE  # noqa: E402
from video_datasets.listing import ignored_files_text  # noqa: E402

REPORT_MARKDOWN_FILE = "report.md"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
TRAINING_CURVES_FILE = "training_curves.png"
# Above this many classes the cells are too small for their count and rate.
MAX_CLASSES_WITH_CELL_TEXT = 30
_MAX_TICK_LABEL_CHARS = 28
_MAX_PIXELS = 4000  # longest side of a picture


def write_report(summary: dict, report_dir: str) -> dict[str, str]:
    """Writes the pictures and `report.md` of a run into `report_dir` (created); returns their paths."""
    report_dir = os.path.abspath(report_dir)
    os.makedirs(report_dir, exist_ok=True)
    paths = {
        "report": os.path.join(report_dir, REPORT_MARKDOWN_FILE),
        "confusion_matrix": os.path.join(report_dir, CONFUSION_MATRIX_FILE),
        "training_curves": os.path.join(report_dir, TRAINING_CURVES_FILE),
    }
    plot_confusion_matrix(summary["confusion_matrix"], paths["confusion_matrix"], summary["test_accuracy"], summary["test_examples"])
    history = load_history(summary.get("model_run_uri"))
    plot_training_curves(history, paths["training_curves"], summary.get("kept_epoch"))
    with open(paths["report"], "w", encoding="utf-8") as report_file:
        report_file.write(render_markdown(summary, history, paths))
    return paths


# --------------------------------------------------------------------------- confusion matrix


def _row_rates(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its sum; rows without clips stay 0."""
    support = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, support, out=np.zeros(counts.shape, dtype=float), where=support > 0)


def _short(label: str) -> str:
    label = str(label)
    return label if len(label) <= _MAX_TICK_LABEL_CHARS else label[: _MAX_TICK_LABEL_CHARS - 1] + "\u2026"


def _save(figure: plt.Figure, path: str) -> None:
    width, height = figure.get_size_inches()
    dpi = min(150, _MAX_PIXELS / max(width, height))
    try:
        figure.savefig(path, dpi=dpi, bbox_inches="tight", pad_inches=0.2, facecolor="white")
    finally:
        plt.close(figure)


def _message_figure(path: str, title: str, message: str) -> None:
    figure = plt.figure(figsize=(7, 3))
    figure.suptitle(title, fontsize=13)
    figure.text(0.5, 0.45, message, ha="center", va="center", fontsize=11, wrap=True)
    _save(figure, path)


def plot_confusion_matrix(confusion: dict, path: str, accuracy: float, test_examples: int) -> None:
    """`confusion` = {"labels": [...], "counts": rows of actual class, columns of predicted class}."""
    labels = list(confusion["labels"])
    counts = np.asarray(confusion["counts"], dtype=np.int64).reshape(len(labels), len(labels))
    rates = _row_rates(counts)
    n = len(labels)

    many = n > MAX_CLASSES_WITH_CELL_TEXT  # no count/rate text in the cells, smaller fonts
    # Cell side in inches: roomy for a handful of classes, small for UCF101.
    cell = 1.0 if n <= 6 else 0.6 if n <= 15 else 0.45 if not many else 0.2
    side = max(3.0, n * cell)
    tick_size = float(np.clip(cell * 72 * 0.55, 5, 11))
    longest = max(len(_short(label)) for label in labels)
    label_room = longest * tick_size * 0.6 / 72 + 0.8  # inches for tick labels and axis title
    figure = plt.figure(figsize=(side + label_room + 1.6, side + label_room + 1.0), layout="constrained")
    axes = figure.add_subplot()
    # pcolormesh, not imshow: no resampling of a 101x101 picture, and white cell borders for free.
    edges = np.arange(n + 1) - 0.5
    image = axes.pcolormesh(edges, edges, rates, cmap="Blues", vmin=0.0, vmax=1.0, edgecolors="white", linewidth=0.3 if many else 1.5)
    axes.set_xlim(-0.5, n - 0.5)
    axes.set_ylim(n - 0.5, -0.5)  # first class on top
    axes.set_aspect("equal")

    ticks = np.arange(n)
    short_labels = [_short(label) for label in labels]
    axes.set_xticks(ticks, short_labels, fontsize=tick_size)
    axes.set_yticks(ticks, short_labels, fontsize=tick_size)
    if n > 8 or longest > 8:
        plt.setp(axes.get_xticklabels(), rotation=90 if many else 45, ha="right", rotation_mode="anchor")
    axes.set_xlabel("Predicted class", fontsize=16 if many else 12)
    axes.set_ylabel("Actual class", fontsize=16 if many else 12)
    axes.tick_params(length=2 if many else 3)
    for spine in axes.spines.values():
        spine.set_visible(False)

    if not many:
        _write_cell_counts(axes, counts, rates, cell)

    colorbar = figure.colorbar(image, ax=axes, shrink=min(1.0, 4.0 / side + 0.4), pad=0.02, fraction=0.05)
    colorbar.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    colorbar.ax.tick_params(labelsize=12 if many else 10)
    colorbar.set_label("share of the actual class (row-normalized)", fontsize=14 if many else 11)

    subtitle = f"accuracy {accuracy:.1%} on {test_examples} test clips, {n} classes"
    if many:
        subtitle += "\n(too many classes for numbers in the cells; colour = row-normalized rate)"
    axes.set_title(f"Test split confusion matrix\n{subtitle}", fontsize=20 if many else 13)
    _save(figure, path)


def _write_cell_counts(axes: Any, counts: np.ndarray, rates: np.ndarray, cell: float) -> None:
    """Each cell's count and row rate, bold on the diagonal, grey where nothing was predicted."""
    text_size = float(np.clip(cell * 72 * 0.26, 6, 12))
    n = len(counts)
    for row in range(n):
        for column in range(n):
            count, rate = int(counts[row, column]), rates[row, column]
            rate_text = f"{rate:.0%}" if counts[row].sum() else "\u2013"
            colour = "white" if rate > 0.55 else ("#9a9a9a" if count == 0 else "black")
            axes.text(
                column,
                row,
                f"{count}\n{rate_text}",
                ha="center",
                va="center",
                fontsize=text_size,
                color=colour,
                linespacing=1.1,
                fontweight="bold" if row == column and count else "normal",
            )


# --------------------------------------------------------------------------- training curves


def load_history(model_run_uri: str | None) -> dict[str, list[float]] | None:
    """The Keras history the Trainer saved, or None when there is none."""
    if not model_run_uri:
        return None
    path = os.path.join(model_run_uri, HISTORY_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as history_file:
        history = json.load(history_file)
    return {name: [float(value) for value in values] for name, values in history.items() if isinstance(values, list)}


def _accuracy_key(history: dict[str, list[float]]) -> str | None:
    for key in ("sparse_categorical_accuracy", "accuracy", "categorical_accuracy"):
        if key in history:
            return key
    return next((key for key in history if key.endswith("accuracy") and not key.startswith("val_")), None)


def plot_training_curves(history: dict[str, list[float]] | None, path: str, kept_epoch: int | None = None) -> None:
    """Loss and accuracy panels, train vs eval split, the epoch whose weights the Trainer kept marked."""
    if not history or not any(history.values()):
        _message_figure(path, "Training curves", "No training history (history.json) was found for this run.")
        return
    accuracy_key = _accuracy_key(history)
    panels = [("Loss", "loss"), ("Accuracy", accuracy_key)]
    best = kept_epoch
    epochs_run = max(len(values) for values in history.values())

    figure, axes_pair = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    for axes, (title, key) in zip(axes_pair, panels):
        train = history.get(key) if key else None
        validation = history.get("val_" + key) if key else None
        marker = "o" if epochs_run <= 30 else None
        if train:
            axes.plot(range(1, len(train) + 1), train, marker=marker, markersize=4, color="tab:blue", label="train")
        if validation:
            axes.plot(
                range(1, len(validation) + 1),
                validation,
                marker=marker,
                markersize=4,
                color="tab:orange",
                linestyle="--",
                label="validation (eval split)",
            )
        if not train and not validation:
            axes.text(0.5, 0.5, f"no {title.lower()} recorded", transform=axes.transAxes, ha="center", va="center", color="grey")
        if best is not None:
            best_label = f"weights kept: epoch {best}"
            if best != epochs_run:
                best_label += " (restored)"
            axes.axvline(best, color="tab:green", linestyle=":", linewidth=1.5, label=best_label)
            if validation and best <= len(validation):
                axes.plot([best], [validation[best - 1]], marker="*", markersize=14, color="tab:green", zorder=5)
        axes.set_title(title)
        axes.set_xlabel("Epoch")
        axes.set_ylabel(title)
        axes.set_xlim(0.5, epochs_run + 0.5)
        if epochs_run <= 20:
            axes.set_xticks(range(1, epochs_run + 1))
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if title == "Accuracy":
            axes.yaxis.set_major_formatter(PercentFormatter(1.0))
        axes.grid(alpha=0.3)
    # One legend for both panels, under them, so it never hides a curve.
    legend_entries: dict[str, Any] = {}
    for axes in axes_pair:
        for handle, name in zip(*axes.get_legend_handles_labels()):
            legend_entries.setdefault(name, handle)
    names, handles = list(legend_entries), list(legend_entries.values())
    if handles:
        figure.legend(handles, names, loc="outside lower center", ncols=len(handles), fontsize=10, frameon=False)
    note = "" if "val_loss" in history else "  (no validation data recorded)"
    figure.suptitle(f"Training curves: {epochs_run} epoch{'s' if epochs_run != 1 else ''}{note}", fontsize=13)
    _save(figure, path)


# --------------------------------------------------------------------------- Markdown


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: Any) -> str:
    return f"`{text}`"


def _per_class_table(per_class: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| Class | Precision | Recall | Support |", "|---|---:|---:|---:|"]
    for label, figures in per_class.items():
        lines.append(f"| {_cell(label)} | {figures['precision']:.2f} | {figures['recall']:.2f} | {int(figures['support'])} |")
    return lines


def render_markdown(summary: dict, history: dict[str, list[float]] | None, paths: dict[str, str]) -> str:
    """The text of `report.md` (a run that evaluated a model: publish() writes no report otherwise)."""
    sections = [
        ["# Video action recognition: pipeline run report"],
        _result_section(summary),
        _decision_section(summary),
        _features_section(summary),
        _per_class_section(summary.get("per_class") or {}),
        _training_section(summary, history),
        _pictures_section(paths),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


def _result_section(summary: dict) -> list[str]:
    accuracy, splits = summary["test_accuracy"], summary.get("splits") or {}
    lines = ["## Result", "", f"- **Test accuracy: {accuracy:.2%}** ({accuracy:.4f}) on {summary['test_examples']} test clips"]
    if splits:
        lines.append(f"- Clips per split: {', '.join(f'{name} {count}' for name, count in splits.items())}")
    if summary.get("labels_without_eval"):
        lines.append(
            f"- **Classes without eval clips**: {', '.join(_cell(label) for label in summary['labels_without_eval'])} "
            "(early stopping and model selection do not see them)"
        )
    lines += [f"- **Warning**: {_cell(warning)}" for warning in [*summary.get("data_warnings", []), *summary.get("run_warnings", [])]]
    if summary.get("per_class"):
        lines.append(f"- Classes: {len(summary['per_class'])}")
    return lines


def _decision_section(summary: dict) -> list[str]:
    lines = ["## Evaluator decision", ""]
    blessed = summary["blessed"]
    if blessed:
        lines.append("- Decision: **BLESSED**: the model passed the Evaluator's checks.")
    else:
        lines.append("- Decision: **NOT BLESSED**, because:")
        lines += [f"  - {reason}" for reason in summary["not_blessed_because"]]
    if "gate" in summary:
        lines.append("- The gate required:")
        lines += [f"  - {check}" for check in gate_checks(summary)]
    baseline = summary.get("baseline_model_uri")
    if baseline:
        baseline_accuracy = summary.get("baseline_test_accuracy")
        accuracy = "" if baseline_accuracy is None else f" (test accuracy {baseline_accuracy:.2%})"
        itself = ", the candidate itself (the Trainer came from the cache)" if summary.get("baseline_is_candidate") else ""
        lines.append(f"- Baseline: compared against the last blessed model {_code(baseline)}{itself}{accuracy}")
    else:
        lines.append("- Baseline: none (no earlier blessed model; this model was judged on its own)")
    pushed = summary.get("pushed_model_dir")
    lines.append(f"- Pushed to: {_code(pushed) if pushed else pushed_text(summary)}")
    if summary.get("model_uri"):
        lines.append(f"- Trained model: {_code(summary['model_uri'])}")
    return lines


def _features_section(summary: dict) -> list[str]:
    lines = ["## Features", ""]
    weights_id = summary.get("weights_id", summary.get("weights", "unknown"))
    if summary.get("weights") == "none":
        lines.append(
            f"- Backbone weights: {_code(weights_id)}. **Warning: the features were NOT pretrained** "
            "(randomly initialised DenseNet121 backbone), so the accuracy above says little about a real model."
        )
    else:
        lines.append(f"- Backbone weights: {_code(weights_id)} (DenseNet121)")
    if "frame_pooling" in summary:
        lines.append(f"- Each frame's feature map pooled by {_code(summary['frame_pooling'])}")
    lines += [f"- {line[0].upper()}{line[1:]}" for line in feature_store_lines(summary)]
    if summary.get("span"):
        lines.append(f"- Span {summary['span']}: {_code(summary['data_root'])}")
    if len(summary.get("training_spans") or []) > 1:
        lines.append(
            f"- Trained on spans {', '.join(map(str, summary['training_spans']))} (`--train-spans`); tested on span {summary['span']}"
        )
    skipped = summary.get("skipped_videos") or []
    if skipped:
        lines += ["", f"Skipped clips ({len(skipped)}):", "", "| Clip | Split | Reason |", "|---|---|---|"]
        lines += [f"| {_cell(item['path'])} | {_cell(item['split'])} | {_cell(item['reason'])} |" for item in skipped]
    else:
        lines.append("- Skipped clips: none")
    ignored = summary.get("ignored_files") or {}
    if ignored.get("count"):
        lines += ["", f"Ignored files ({ignored_files_text(ignored)}): in the clips' folders, with no video extension or not listed:", ""]
        lines += [f"- {_code(path)}" for path in ignored["files"]]
    return lines


def _per_class_section(per_class: dict[str, dict[str, Any]]) -> list[str]:
    return ["## Per-class results (test split)", "", *_per_class_table(per_class)] if per_class else []


def _training_section(summary: dict, history: dict[str, list[float]] | None) -> list[str]:
    lines = ["## Training", ""]
    if not history:
        return [*lines, "- No training history (history.json) was found"]
    epochs_run = max(len(values) for values in history.values())
    lines.append(f"- Epochs run: {epochs_run}")
    kept = summary.get("kept_epoch")
    if kept is None or kept > len(history.get("val_loss", [])):
        return [*lines, "- No validation figures were recorded"]
    warmup = summary.get("warmup_epochs") or 0
    if warmup >= epochs_run:
        rule = f"the last epoch: training was no longer than the {warmup}-epoch warm-up"
    else:
        rule = f"the lowest after the {warmup}-epoch warm-up" if warmup else "the lowest"
    lines.append(f"- The Trainer kept the weights of epoch {kept}: val_loss {history['val_loss'][kept - 1]:.4f}, {rule}")
    accuracy_key = _accuracy_key(history)
    val_accuracy = history.get(f"val_{accuracy_key}") if accuracy_key else None
    if val_accuracy and kept <= len(val_accuracy):
        lines.append(f"- Eval split accuracy at that epoch: {val_accuracy[kept - 1]:.2%}")
    return [*lines, *(f"- {line}" for line in stream_selection_lines(summary.get("stream_selection")))]


def _pictures_section(paths: dict[str, str]) -> list[str]:
    return [
        "## Pictures",
        "",
        "![Confusion matrix](confusion_matrix.png)",
        "",
        "![Training curves](training_curves.png)",
        "",
        f"- Confusion matrix: {_code(paths['confusion_matrix'])}",
        f"- Training curves: {_code(paths['training_curves'])}",
    ]
