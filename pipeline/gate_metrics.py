"""The Evaluator's majority-class gate: a TFMA metric over the labels and predictions of the split it evaluates.

An absolute accuracy bound cannot tell a model from chance: two balanced
classes give a model that always answers one of them accuracy 0.5. So the
Evaluator also computes, for each model, from what it evaluates (the written
test split, on every runner):

- `majority_class_share`: the share of the examples whose label is the most
  frequent one (at least 1/num_classes, so beating it beats chance too);
- `accuracy_over_majority`: top-1 accuracy minus that share, i.e. what the
  model gains over always answering the majority class (0 for such a model).

pipeline/pipeline.py puts a lower bound on `accuracy_over_majority` and
references this class by name and module: TFMA imports this module in the
Evaluator's Beam workers, where the project root is on the path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

ACCURACY_OVER_MAJORITY = "accuracy_over_majority"
MAJORITY_CLASS_SHARE = "majority_class_share"


class AccuracyOverMajority(metric_types.Metric):
    """Top-1 accuracy minus the majority class's share of the examples (and that share, as `majority_class_share`)."""

    def __init__(self, name: str = ACCURACY_OVER_MAJORITY):
        super().__init__(metric_util.merge_per_key_computations(_accuracy_over_majority), name=name)


def _accuracy_over_majority(
    name: str = ACCURACY_OVER_MAJORITY,
    eval_config: Any | None = None,
    model_name: str = "",
    output_name: str = "",
    sub_key: metric_types.SubKey | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    keys = [
        metric_types.MetricKey(
            name=key_name, model_name=model_name, output_name=output_name, sub_key=sub_key, example_weighted=example_weighted
        )
        for key_name in (name, MAJORITY_CLASS_SHARE)
    ]
    return [metric_types.MetricComputation(keys=keys, preprocessors=None, combiner=AccuracyOverMajorityCombiner(keys, eval_config))]


metric_types.register_metric(AccuracyOverMajority)


@dataclasses.dataclass
class Counts:
    """Weight of the examples per label and of those whose top-scored class is their label."""

    per_label: dict[int, float] = dataclasses.field(default_factory=dict)
    correct: float = 0.0


class AccuracyOverMajorityCombiner(beam.CombineFn):
    """Counts per label and correct answers; `keys` are (accuracy_over_majority, majority_class_share) of one model."""

    def __init__(self, keys: list[metric_types.MetricKey], eval_config: Any | None = None):
        self._keys = keys
        self._eval_config = eval_config

    def create_accumulator(self) -> Counts:
        return Counts()

    def add_input(self, accumulator: Counts, element: metric_types.StandardMetricInputs) -> Counts:
        key = self._keys[0]
        for label, prediction, example_weight in metric_util.to_label_prediction_example_weight(
            element,
            eval_config=self._eval_config,
            model_name=key.model_name,
            output_name=key.output_name,
            sub_key=key.sub_key,
            example_weighted=key.example_weighted,
            flatten=False,
        ):
            label = np.asarray(label).reshape(-1)
            if label.size != 1:
                raise ValueError(f"{key.name} needs one class id as the label of an example, got {label.tolist()}")
            label_id = int(label[0])
            weight = metric_util.safe_to_scalar(example_weight)
            accumulator.per_label[label_id] = accumulator.per_label.get(label_id, 0.0) + weight
            # np.argmax takes the first of tied scores, as Keras' SparseCategoricalAccuracy does.
            if int(np.argmax(np.asarray(prediction).reshape(-1))) == label_id:
                accumulator.correct += weight
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[Counts]) -> Counts:
        merged = Counts()
        for accumulator in accumulators:
            for label_id, weight in accumulator.per_label.items():
                merged.per_label[label_id] = merged.per_label.get(label_id, 0.0) + weight
            merged.correct += accumulator.correct
        return merged

    def extract_output(self, accumulator: Counts) -> dict[metric_types.MetricKey, float]:
        total = sum(accumulator.per_label.values())
        if not total:
            return {key: float("nan") for key in self._keys}  # no examples: the bound fails rather than passes
        majority_share = max(accumulator.per_label.values()) / total
        lift_key, share_key = self._keys
        return {lift_key: accumulator.correct / total - majority_share, share_key: majority_share}
