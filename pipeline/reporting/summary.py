"""What a pipeline run did, read back from its metadata store and artifacts.

Gives `run_summary.json` its content: per-component seconds (and which were
served from the cache), the extraction report, the Evaluator's accuracy,
per-class figures from its confusion matrix, the gate (what each bound
required, what the Evaluator measured, which bound failed), the blessing and
the push.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

import run_files
from components.pusher.executor import ALREADY_PUSHED_AS
from frame_path.records import EXTRACTION_REPORT_FILE
from trainer.model_files import HISTORY_FILE, MODEL_INFO_FILE

_CACHED = metadata_store_pb2.Execution.CACHED
_MODEL_INFO = os.path.join("Format-Serving", MODEL_INFO_FILE)
_BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.txt"  # written by TFX's Tuner


def _component_runs(store: metadata_store.MetadataStore, pipeline_name: str, since_ms: int) -> dict[str, dict[str, Any]]:
    """Component id -> {seconds, cached, inputs, outputs} (artifacts by key) for executions since `since_ms`."""
    runs = {}
    for execution in store.get_executions():
        if execution.create_time_since_epoch < since_ms:
            continue
        node_contexts = [
            context.name
            for context in store.get_contexts_by_execution(execution.id)
            if store.get_context_types_by_id([context.type_id])[0].name == "node"
        ]
        if not node_contexts or not node_contexts[0].startswith(pipeline_name + "."):
            continue
        component_id = node_contexts[0][len(pipeline_name) + 1 :]
        events = store.get_events_by_execution_ids([execution.id])
        artifacts = {artifact.id: artifact for artifact in store.get_artifacts_by_id([event.artifact_id for event in events])}
        inputs: dict[str, list[metadata_store_pb2.Artifact]] = {}
        outputs: dict[str, list[metadata_store_pb2.Artifact]] = {}
        for event in events:
            by_key = outputs if event.type == metadata_store_pb2.Event.OUTPUT else inputs
            by_key.setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
        runs[component_id] = {
            "seconds": round((execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000, 2),
            "cached": execution.last_known_state == _CACHED,
            "inputs": inputs,
            "outputs": outputs,
        }
    return runs


def _custom_int(artifact: metadata_store_pb2.Artifact, name: str) -> int | None:
    value = artifact.custom_properties.get(name)
    return None if value is None else value.int_value


def _is_candidate(key: Any) -> bool:
    """A metric or plot key of the model under evaluation: not the baseline's, not the candidate-minus-baseline diff.

    With a baseline, TFMA reports every metric three times under one name
    (candidate, baseline, and their diff), so keys must never be matched by name alone.
    """
    import tensorflow_model_analysis as tfma

    return key.model_name != tfma.constants.BASELINE_KEY and not getattr(key, "is_diff", False)


def _evaluation(evaluation_uri: str, labels: list[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/support and the confusion matrix of the test split, for the candidate model."""
    import tensorflow_model_analysis as tfma

    overall_metrics = next(iter(tfma.load_metrics(evaluation_uri)))
    metrics = {item.key.name: item.value.double_value.value for item in overall_metrics.metric_keys_and_values if _is_candidate(item.key)}
    baseline_metrics = {
        item.key.name: item.value.double_value.value
        for item in overall_metrics.metric_keys_and_values
        if item.key.model_name == tfma.constants.BASELINE_KEY and not item.key.is_diff
    }
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for plots in tfma.load_plots(evaluation_uri):
        for item in plots.plot_keys_and_values:
            matrices = item.value.multi_class_confusion_matrix_at_thresholds.matrices
            if not _is_candidate(item.key) or not matrices:
                continue
            # One matrix per threshold; the default single threshold 0.0 is the argmax prediction.
            for entry in matrices[0].entries:
                confusion[entry.actual_class_id, entry.predicted_class_id] += int(entry.num_weighted_examples)
    per_class = {}
    for index, label in enumerate(labels):
        predicted, support = confusion[:, index].sum(), confusion[index].sum()
        per_class[label] = {
            "precision": round(float(confusion[index, index] / predicted), 4) if predicted else 0.0,
            "recall": round(float(confusion[index, index] / support), 4) if support else 0.0,
            "support": int(support),
        }
    validation = tfma.load_validation_result(evaluation_uri)
    failures = [failure for slice_failures in validation.metric_validations_per_slice for failure in slice_failures.failures]
    return {
        "test_accuracy": round(metrics["sparse_categorical_accuracy"], 4),
        "test_examples": int(metrics.get("example_count", confusion.sum())),
        "per_class": per_class,
        "confusion_matrix": {"labels": labels, "counts": confusion.tolist()},
        "validation_failures": [
            f"{failure.metric_key.name} {failure.metric_value.double_value.value:.4f}: {failure.message}".strip() for failure in failures
        ],
        "gate": _gate(evaluation_uri, overall_metrics, failures),
        "baseline_test_accuracy": round(baseline_metrics["sparse_categorical_accuracy"], 4) if baseline_metrics else None,
        "evaluation_uri": evaluation_uri,
    }


def _gate(evaluation_uri: str, overall_metrics: Any, failures: list[Any]) -> dict[str, Any]:
    """What the Evaluator's gate required (read from the eval config it ran with), what it measured, and which settings failed."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.writers.eval_config_writer import load_eval_run

    from pipeline import gate_metrics
    from pipeline.pipeline import GATE_CHECKS, gate_of

    eval_config = load_eval_run(evaluation_uri)[0]
    measured = {
        (item.key.name, item.key.is_diff): item.value.double_value.value
        for item in overall_metrics.metric_keys_and_values
        if item.key.model_name != tfma.constants.BASELINE_KEY  # the candidate's, and its diffs from the baseline
    }
    change = measured.get(GATE_CHECKS["max_accuracy_regression"])
    failed_checks = {(failure.metric_key.name, failure.metric_key.is_diff) for failure in failures}
    return {
        "required": dataclasses.asdict(gate_of(eval_config)),
        "majority_class_share": round(measured[(gate_metrics.MAJORITY_CLASS_SHARE, False)], 4),
        "accuracy_over_majority": round(measured[GATE_CHECKS["min_lift_over_majority"]], 4),
        "accuracy_change_vs_baseline": None if change is None else round(change, 4),
        "failed": [setting for setting, check in GATE_CHECKS.items() if check in failed_checks],
    }


def _gate_reasons(gate: dict[str, Any], accuracy: float, baseline_accuracy: float | None) -> list[str]:
    """Each failed setting of the gate as a sentence, with the figures the Evaluator measured."""
    required, reasons = gate["required"], []
    if "min_test_accuracy" in gate["failed"]:
        reasons.append(f"test accuracy {accuracy:.4f} is below the required {required['min_test_accuracy']:g}")
    if "min_lift_over_majority" in gate["failed"]:
        share, lift = gate["majority_class_share"], gate["accuracy_over_majority"]
        if lift <= 0:
            reasons.append(
                f"test accuracy {accuracy:.4f} is no better than always answering the majority class ({share:.4f} of the test clips)"
            )
        else:
            reasons.append(
                f"test accuracy {accuracy:.4f} beats the majority class ({share:.4f} of the test clips) by {lift:.4f}, "
                f"less than the required {required['min_lift_over_majority']:g}"
            )
    if "max_accuracy_regression" in gate["failed"]:
        reasons.append(
            f"test accuracy {accuracy:.4f} is {-gate['accuracy_change_vs_baseline']:.4f} below the last blessed model's "
            f"{baseline_accuracy:.4f} (allowed: {required['max_accuracy_regression']:g})"
        )
    return reasons


def summarize_run(metadata_path: str, pipeline_name: str, since_ms: int) -> dict[str, Any]:
    """The run's summary; components that did not run this time are absent from `seconds`."""
    runs = _component_runs(run_files.read_metadata_store(metadata_path), pipeline_name, since_ms)

    examples_uri = runs["VideoExampleGen"]["outputs"]["examples"][0].uri
    with open(os.path.join(examples_uri, EXTRACTION_REPORT_FILE)) as report_file:
        summary: dict[str, Any] = {"examples_uri": examples_uri, **json.load(report_file)}
    summary["seconds"] = {"components": {component: run["seconds"] for component, run in runs.items()}}
    summary["cached_components"] = sorted(component for component, run in runs.items() if run["cached"])

    if "Trainer" in runs:
        model_uri = runs["Trainer"]["outputs"]["model"][0].uri
        with open(os.path.join(model_uri, _MODEL_INFO)) as info_file:
            labels = json.load(info_file)["labels"]
        summary["model_uri"] = model_uri
        summary["model_run_uri"] = runs["Trainer"]["outputs"]["model_run"][0].uri
        with open(os.path.join(summary["model_run_uri"], HISTORY_FILE)) as history_file:
            training_record = json.load(history_file)
        # The Trainer's own record of its choice (1-based), never re-derived from the curves.
        summary["kept_epoch"] = training_record["kept_epoch"]
        summary["warmup_epochs"] = training_record["warmup_epochs"]
        summary["stream_selection"] = training_record.get("stream_selection")
        # More than this run's span with --train-spans N: the Examples the Trainer read, by span.
        trained_on = runs["Trainer"]["inputs"]["examples"]
        summary["training_spans"] = sorted(artifact.properties["span"].int_value for artifact in trained_on)
        summary["training_examples_uris"] = [artifact.uri for artifact in trained_on]
    if "Tuner" in runs:
        [best] = runs["Tuner"]["outputs"]["best_hyperparameters"]
        with open(os.path.join(best.uri, _BEST_HYPERPARAMETERS_FILE)) as best_file:
            summary["tuned_hyperparameters"] = json.load(best_file)["values"]
    if "Evaluator" in runs:
        evaluator_outputs = runs["Evaluator"]["outputs"]
        summary.update(_evaluation(evaluator_outputs["evaluation"][0].uri, labels))
        summary["blessed"] = _custom_int(evaluator_outputs["blessing"][0], "blessed") == 1
        if not summary["blessed"]:
            # The gate's sentences; TFMA's own words only for a failure that is not one of the gate's.
            summary["not_blessed_because"] = (
                _gate_reasons(summary["gate"], summary["test_accuracy"], summary["baseline_test_accuracy"])
                or summary["validation_failures"]
                or ["the Evaluator did not bless the model"]
            )
        # The Resolver is part of the Evaluator's input resolution: its pick is an Evaluator input. It may be the
        # candidate itself (a rerun whose Trainer came from the cache): TFMA then compared the model with itself. An
        # artifact given under two keys may have one input event only: baseline figures without a baseline event
        # are the candidate's.
        baseline = runs["Evaluator"]["inputs"].get("baseline_model", [])
        compared = summary["baseline_test_accuracy"] is not None
        summary["baseline_model_uri"] = baseline[0].uri if baseline else model_uri if compared else None
        summary["baseline_is_candidate"] = summary["baseline_model_uri"] == model_uri
    if "Pusher" in runs:
        pushed_model = runs["Pusher"]["outputs"]["pushed_model"][0]
        pushed = _custom_int(pushed_model, "pushed") == 1
        destination = pushed_model.custom_properties.get("pushed_destination")
        summary["pushed_model_dir"] = destination.string_value if pushed and destination else None
        already = pushed_model.custom_properties.get(ALREADY_PUSHED_AS)
        summary["already_pushed_as"] = already.string_value if already else None
    return summary
