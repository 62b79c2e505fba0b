"""The run summary as a few lines for the console."""

from __future__ import annotations

from typing import Any

from frame_path.config import auto_pooling_rule
from video_datasets.listing import ignored_files_text


def gate_checks(summary: dict[str, Any]) -> list[str]:
    """What each setting of the Evaluator's gate required, what was measured and whether it passed, one phrase each."""
    gate = summary["gate"]
    required, failed = gate["required"], gate["failed"]

    def verdict(setting: str) -> str:
        return "FAILED" if setting in failed else "passed"

    change = gate["accuracy_change_vs_baseline"]
    lift_required = "off" if required["min_lift_over_majority"] <= -1 else f">= {required['min_lift_over_majority']:g}"
    return [
        f"test accuracy >= {required['min_test_accuracy']:g}: {summary['test_accuracy']:.4f}, {verdict('min_test_accuracy')}",
        f"accuracy minus the majority class's share ({gate['majority_class_share']:.4f} of the test clips) {lift_required}: "
        f"{gate['accuracy_over_majority']:+.4f}, {verdict('min_lift_over_majority')}",
        f"at most {required['max_accuracy_regression']:g} below the last blessed model: "
        + ("no baseline" if change is None else f"{change:+.4f}, {verdict('max_accuracy_regression')}"),
    ]


def stream_selection_lines(selection: dict[str, Any] | None) -> list[str]:
    """The Trainer's choice of frame streams (history.json's stream_selection) and each candidate's eval figures:
    its weight in the exported model, or, in records from before the weights, which one was kept."""
    if not selection or len(selection["candidates"]) < 2:
        return [f"frame streams {selection['chosen']} (configured)"] if selection else []
    fell_back = (
        "; the eval losses were too close to tell apart, so the eval accuracy decided" if selection.get("fell_back_to_accuracy") else ""
    )
    averaged = " (averaged)" if selection.get("averaged") else ""
    clips = f" over {selection['eval_clips']} eval clips" if "eval_clips" in selection else ""
    lines = [
        f"frame streams {selection['chosen']}{averaged}, from {len(selection['candidates'])} candidates "
        f"by {selection['criterion']}{clips}{fell_back}:"
    ]
    for name, figures in selection["candidates"].items():
        if "weight" not in figures:
            mark = "  <- kept" if name == selection["chosen"] else ""
        elif selection.get("averaged"):
            mark = f"  weight {figures['weight']:.2f}" if figures["weight"] > 0 else "  left out"
        else:
            mark = "  <- kept" if figures["weight"] > 0 else ""
        lines.append(
            f"  {name:<10} eval accuracy {figures['eval_accuracy']:.3f}, eval loss {figures['eval_loss']:.3f} "
            f"(epoch {figures['kept_epoch']} of {figures['epochs_run']}, {figures['train_seconds']:.0f} s){mark}"
        )
    return lines


def feature_store_lines(summary: dict[str, Any]) -> list[str]:
    """How many clips the feature store served and how big it is, or that there is none (--no-cache)."""
    use = summary.get("feature_store_use")
    if use is None:
        return ["feature store: none (every clip decoded)"] if "feature_store_use" in summary else []
    served = f"{use['hits']} clips from the feature store, {use['misses']} decoded"
    size = "" if use["bytes"] is None else f", {use['bytes'] / 2**20:.1f} MiB"
    lines = [f"{served}; store {use['entries']} clips{size} at {summary['feature_store']}"]
    if use.get("not_stored"):
        not_stored = use["not_stored"]
        lines.append(
            f"WARNING: {not_stored['clips']} clips could not be stored ({not_stored['first_reason']}); the run went on without storing them"
        )
    return lines


def pushed_text(summary: dict[str, Any]) -> str:
    """Where the Pusher put the model, or why it put nothing anywhere."""
    if summary.get("pushed_model_dir"):
        return summary["pushed_model_dir"]
    if summary.get("already_pushed_as"):
        return f"nothing new: this model is already {summary['already_pushed_as']}"
    return "nothing was pushed" + ("" if summary.get("blessed") else " (model not blessed)")


def console_summary(summary: dict[str, Any], path: str) -> str:
    """What a person reads at the end of a run; the whole story is in run_summary.json at `path`."""
    splits, extraction = summary["splits"], summary["feature_extraction"]
    lines = [
        "",
        f"Run summary ({path})",
        f"  clips        train {splits['train']}, eval {splits['eval']}, test {splits['test']}; skipped {len(summary['skipped_videos'])}",
    ]
    lines += [f"    skipped {item['path']}: {item['reason']}" for item in summary["skipped_videos"]]
    if (summary.get("ignored_files") or {}).get("count"):
        lines.append(
            f"  ignored      {ignored_files_text(summary['ignored_files'])} in the clips' folders: no video extension, or not listed"
        )
    lines += [f"  WARNING      {warning}" for warning in [*summary.get("data_warnings", []), *summary.get("run_warnings", [])]]
    if summary.get("labels_without_eval"):
        lines.append(
            "  WARNING      classes without eval clips (a single training group, or their eval clips were skipped; "
            f"early stopping and model selection do not see them): {', '.join(summary['labels_without_eval'])}"
        )
    pretrained = "" if summary["weights"] != "none" else "  (NOT pretrained: random init)"
    pooling = f", {summary['frame_pooling']} pooling" if "frame_pooling" in summary else ""
    if "frame_pooling" in summary.get("auto_settings", {}):
        pooling += f" (auto: {auto_pooling_rule()})"
    lines.append(f"  backbone     DenseNet121, weights {summary['weights_id']}{pooling}{pretrained}")
    lines.append(f"  extraction   {extraction['frames']} frames in {extraction['seconds']} s ({extraction['frames_per_second']} frames/s)")
    lines += [f"  {'':<12} {line}" for line in feature_store_lines(summary)]
    span = f" (span {summary['span']} of {summary['data_root']})" if summary.get("span") else ""
    lines.append(f"  examples     {summary['examples_uri']}{span}")
    if "kept_epoch" in summary:
        lines.append(f"  trainer      kept the weights of epoch {summary['kept_epoch']} (warm-up {summary['warmup_epochs']} epochs)")
        if len(summary.get("training_spans") or []) > 1:
            lines.append(f"  {'':<12} trained on spans {', '.join(map(str, summary['training_spans']))}")
        lines += [f"  {'':<12} {line}" for line in stream_selection_lines(summary.get("stream_selection"))]
    if "test_accuracy" in summary:
        lines.append(f"  test         accuracy {summary['test_accuracy']:.3f} on {summary['test_examples']} clips")
        lines += [
            f"    {label:<20} precision {figures['precision']:.2f}  recall {figures['recall']:.2f}  support {figures['support']}"
            for label, figures in summary["per_class"].items()
        ]
        baseline = "no earlier blessed model"
        if summary.get("baseline_is_candidate"):
            baseline = "the last blessed model is this very model (the Trainer came from the cache)"
        elif summary["baseline_model_uri"]:
            baseline = f"against the last blessed model, test accuracy {summary['baseline_test_accuracy']:.3f}"
        verdict = "BLESSED" if summary["blessed"] else "NOT blessed: " + "; ".join(summary["not_blessed_because"])
        lines.append(f"  evaluator    {verdict} ({baseline})")
        lines += [f"  {'gate' if index == 0 else '':<12} {check}" for index, check in enumerate(gate_checks(summary))]
        lines.append(f"  pushed       {pushed_text(summary)}")
    if "tuned_hyperparameters" in summary:
        lines.append(f"  tuner        best {summary['tuned_hyperparameters']}")
    seconds = summary["seconds"]
    per_component = ", ".join(f"{component} {value}" for component, value in seconds["components"].items())
    lines.append(f"  seconds      total {seconds['total']} ({per_component})")
    if "report" in summary:
        lines.append(f"  report       {summary['report']['report']}")
    if summary["cached_components"]:
        lines.append(f"  from cache   {', '.join(summary['cached_components'])}")
    return "\n".join(lines)
