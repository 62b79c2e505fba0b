"""The Evaluator's gate: the majority-class metric's combiner on small arrays, its EvalConfig, and the bounds of its settings."""

import math

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tensorflow_model_analysis.metrics import metric_specs, metric_types

from pipeline import gate_metrics
from pipeline.configs import ACCURACY_TOLERANCE, GateConfig
from pipeline.pipeline import _eval_config, gate_of
from typed_config import InvalidOption

KEYS = [metric_types.MetricKey(name=gate_metrics.ACCURACY_OVER_MAJORITY), metric_types.MetricKey(name=gate_metrics.MAJORITY_CLASS_SHARE)]


def _inputs(labels, predicted, num_classes=3, weights=None):
    """One StandardMetricInputs per example, as TFMA hands them to a combiner: a class id and the model's scores."""
    weights = [1.0] * len(labels) if weights is None else weights
    return [
        metric_types.StandardMetricInputs(
            labels=np.array([label]), predictions=np.eye(num_classes)[answer] * 0.8 + 0.1, example_weights=np.array([weight])
        )
        for label, answer, weight in zip(labels, predicted, weights)
    ]


def _combine(*parts, example_weighted=False):
    """The combiner over `parts` (lists of inputs), each in its own accumulator and then merged, as Beam does."""
    keys = [metric_types.MetricKey(name=key.name, example_weighted=example_weighted) for key in KEYS]
    combiner = gate_metrics.AccuracyOverMajorityCombiner(keys)
    accumulators = []
    for part in parts:
        accumulator = combiner.create_accumulator()
        for element in part:
            accumulator = combiner.add_input(accumulator, element)
        accumulators.append(accumulator)
    output = combiner.extract_output(combiner.merge_accumulators(iter(accumulators)))  # Beam may pass any iterable
    return output[keys[0]], output[keys[1]]


def test_lift_is_accuracy_minus_the_majority_share():
    # Labels 0,0,0,1,2 (share of class 0: 0.6); answers 0,1,0,1,1: 3 right, accuracy 0.6.
    lift, share = _combine(_inputs([0, 0, 0, 1, 2], [0, 1, 0, 1, 1]))
    assert share == pytest.approx(0.6) and lift == pytest.approx(0.0)
    lift, share = _combine(_inputs([0, 0, 0, 1, 2], [0, 0, 0, 1, 1]))
    assert lift == pytest.approx(0.2)


def test_a_model_that_always_answers_one_class_never_beats_the_majority():
    labels = [0, 0, 1, 1, 2, 2, 2]
    for answer in range(3):
        lift, share = _combine(_inputs(labels, [answer] * len(labels)))
        assert share == pytest.approx(3 / 7) and lift <= 0
    lift, _ = _combine(_inputs(labels, [2] * len(labels)))
    assert lift == 0.0  # exactly: equal to the majority fails a lower bound above 0


def test_merged_parts_give_what_one_accumulator_gives():
    labels, predicted = [0, 1, 1, 2, 2, 2, 0, 1], [0, 1, 2, 2, 0, 2, 1, 1]
    whole = _combine(_inputs(labels, predicted))
    assert _combine(_inputs(labels[:3], predicted[:3]), [], _inputs(labels[3:], predicted[3:])) == pytest.approx(whole)


def test_ties_go_to_the_first_class_as_in_keras():
    tied = metric_types.StandardMetricInputs(labels=np.array([1]), predictions=np.array([0.5, 0.5]), example_weights=np.array([1.0]))
    first = metric_types.StandardMetricInputs(labels=np.array([0]), predictions=np.array([0.5, 0.5]), example_weights=np.array([1.0]))
    lift, share = _combine([tied, first])
    assert share == 0.5 and lift == 0.0  # one right (class 0) of two


def test_example_weights_count_when_weighted():
    inputs = _inputs([0, 1, 1], [0, 0, 0], weights=[3.0, 1.0, 1.0])
    assert _combine(inputs) == pytest.approx((1 / 3 - 2 / 3, 2 / 3))
    assert _combine(inputs, example_weighted=True) == pytest.approx((0.0, 0.6))


def test_no_examples_fail_rather_than_pass():
    lift, share = _combine([])
    assert math.isnan(lift) and math.isnan(share)


def test_a_label_that_is_not_one_class_id_is_refused():
    one_hot = metric_types.StandardMetricInputs(
        labels=np.array([0, 1, 0]), predictions=np.array([0.2, 0.7, 0.1]), example_weights=np.array([1.0])
    )
    with pytest.raises(ValueError, match="one class id"):
        _combine([one_hot])


def test_the_eval_config_references_the_metric_by_module_as_the_evaluators_workers_load_it():
    eval_config = _eval_config(GateConfig())
    [config] = [metric for spec in eval_config.metrics_specs for metric in spec.metrics if metric.module]
    assert (config.module, config.class_name) == ("pipeline.gate_metrics", "AccuracyOverMajority")
    # An empty registry, as in a fresh worker process: found through the module alone.
    assert isinstance(metric_specs.metric_instance(config, tfma_metric_classes={}), gate_metrics.AccuracyOverMajority)
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(eval_config.metrics_specs, eval_config=eval_config)
    [lift_threshold] = [threshold for key, [(_, threshold)] in thresholds.items() if key.name == gate_metrics.ACCURACY_OVER_MAJORITY]
    assert lift_threshold.lower_bound.value == ACCURACY_TOLERANCE > 0
    names = {
        key.name
        for computation in metric_specs.to_computations(eval_config.metrics_specs, eval_config=eval_config)
        for key in computation.keys
    }
    assert {gate_metrics.ACCURACY_OVER_MAJORITY, gate_metrics.MAJORITY_CLASS_SHARE} <= names


@pytest.mark.parametrize("gate", [GateConfig(), GateConfig(0.0, -1.0, 0.0), GateConfig(0.35, 0.05, 0.1), GateConfig(1.0, 1.0, 1.0)])
def test_the_gate_is_read_back_from_the_eval_config(gate):
    # Through JSON, as the Evaluator stores its eval config.
    stored = json_format.Parse(json_format.MessageToJson(_eval_config(gate)), tfma.EvalConfig())
    assert gate_of(stored) == gate


@pytest.mark.parametrize("field", ["min_test_accuracy", "min_lift_over_majority", "max_accuracy_regression"])
@pytest.mark.parametrize("value", [2.0, -1.5, math.nan, math.inf])
def test_gate_settings_are_finite_and_bounded(field, value):
    with pytest.raises(InvalidOption):
        GateConfig(**{field: value})
