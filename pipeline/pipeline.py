"""The TFX pipeline, as one function (like TFX's penguin example).

At the top only what VideoExampleGen and the Pipeline need is imported: `extract` stops after VideoExampleGen, and
the stock components after it (tfx.v1, TFMA, Transform) cost ~4 s more of a 2-core machine's start (12.6 against
16.4 s, measured), a fifth of a rerun that only relabels clips.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration.pipeline import Pipeline

from components.video_example_gen.component import VideoExampleGen
from pipeline import gate_metrics
from pipeline.beam_plugin import with_default_beam_args
from pipeline.configs import ACCURACY_TOLERANCE, GateConfig, PipelineConfig

if TYPE_CHECKING:
    import tensorflow_model_analysis as tfma


def create_pipeline(
    config: PipelineConfig,
    *,
    pipeline_name: str,
    pipeline_root: str,
    serving_model_dir: str | None = None,
    last_component: str | None = None,
    enable_cache: bool = True,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: list[str] | None = None,
) -> Pipeline:
    """Videos -> frame features -> validated Examples -> trained, evaluated, pushed model.

    The model is pushed to `serving_model_dir` (versioned subfolders) only when
    the Evaluator blesses it; no Pusher without it. `last_component` (a
    component id such as 'VideoExampleGen') cuts the pipeline after it.
    """
    example_gen = VideoExampleGen(data_root=config.data_root, config=config.extraction, span=config.spans.span)
    components = [example_gen]
    if last_component != example_gen.id:
        components += _components_after(example_gen, config, serving_model_dir, last_component)
    return Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=with_default_beam_args(beam_pipeline_args),
    )


def _components_after(
    example_gen: VideoExampleGen, config: PipelineConfig, serving_model_dir: str | None, last_component: str | None
) -> list[Any]:
    """Validation, Transform, (Tuner,) Trainer, Evaluator against the last blessed model, and the Pusher if it has a
    destination; up to `last_component`."""
    from tfx import v1 as tfx

    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    training_examples = _training_examples(example_gen, config.spans.train_spans)
    transform = tfx.components.Transform(
        examples=training_examples,
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="trainer.preprocessing.preprocessing_fn",
        custom_config=config.extraction.features.shape,
        # Normalization statistics and the label vocabulary come from train only;
        # the Trainer applies the transform graph itself, so no transformed copy.
        splits_config=tfx.proto.SplitsConfig(analyze=["train"]),
        materialize=False,
    )
    training = dict(
        examples=training_examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=config.trainer_config(),
    )
    tuner = tfx.components.Tuner(tuner_fn="trainer.tuner.tuner_fn", **training) if config.enable_tuning else None
    trainer = tfx.components.Trainer(
        run_fn="trainer.run_fn.run_fn",
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        **training,
    )
    latest_blessed_model, evaluator = _evaluation(example_gen, trainer, config.gate)
    components = [
        statistics_gen,
        schema_gen,
        example_validator,
        transform,
        *([tuner] if tuner else []),
        trainer,
        latest_blessed_model,
        evaluator,
    ]
    if serving_model_dir is not None:
        components.append(_pusher(trainer, evaluator, serving_model_dir))
    if last_component is not None:
        component_ids = [component.id for component in components]
        components = components[: component_ids.index(last_component) + 1]
    if config.spans.train_spans > 1:
        for consumer in {transform, tuner, trainer}.intersection(components):
            consumer.add_upstream_node(example_gen)  # a plain Channel is no edge: this run's span first
    return components


def _training_examples(example_gen: VideoExampleGen, train_spans: int) -> Any:
    """This run's Examples, or with `train_spans` > 1 those of the latest spans extracted so far (this run's among
    them): a component's output channel resolves to this run's artifacts only, a plain Channel of it to every run's."""
    from tfx import v1 as tfx
    from tfx.dsl.input_resolution import canned_resolver_functions

    if train_spans <= 1:
        return example_gen.outputs["examples"]
    every_span = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples, producer_component_id=example_gen.id, output_key="examples")
    return canned_resolver_functions.rolling_range(every_span, num_spans=train_spans, min_spans=1)


def _evaluation(example_gen: VideoExampleGen, trainer: Any, gate: GateConfig) -> tuple[Any, Any]:
    """The resolver of the last blessed model, and the Evaluator that gates the Trainer's model on the test split
    against it."""
    from tfx import v1 as tfx

    latest_blessed_model = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=latest_blessed_model.outputs["model"],
        example_splits=["test"],
        eval_config=_eval_config(gate),
    )
    return latest_blessed_model, evaluator


def _pusher(trainer: Any, evaluator: Any, serving_model_dir: str) -> Any:
    """TFX's Pusher with this project's executor (components/pusher: nothing pushed twice)."""
    from tfx import v1 as tfx
    from tfx.dsl.components.base import executor_spec

    from components.pusher import executor as pusher_executor

    return tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)),
        custom_executor_spec=executor_spec.ExecutorClassSpec(pusher_executor.Executor),
    )


# Where the Evaluator's results say how each setting of the gate went: (metric name, candidate-minus-baseline diff?).
GATE_CHECKS = {
    "min_test_accuracy": ("sparse_categorical_accuracy", False),
    "min_lift_over_majority": (gate_metrics.ACCURACY_OVER_MAJORITY, False),
    "max_accuracy_regression": ("sparse_categorical_accuracy", True),
}


def gate_of(eval_config: tfma.EvalConfig) -> GateConfig:
    """The gate that `_eval_config` put into `eval_config`: what an Evaluator that ran with it required."""
    thresholds = {metric.class_name: metric.threshold for spec in eval_config.metrics_specs for metric in spec.metrics}
    accuracy, lift = thresholds["SparseCategoricalAccuracy"], thresholds[gate_metrics.AccuracyOverMajority.__name__]
    regression = -accuracy.change_threshold.absolute.value - ACCURACY_TOLERANCE
    return GateConfig(
        min_test_accuracy=accuracy.value_threshold.lower_bound.value,
        min_lift_over_majority=lift.value_threshold.lower_bound.value,
        max_accuracy_regression=max(0.0, round(regression, 9)),  # the tolerance taken off again
    )


def _eval_config(gate: GateConfig) -> tfma.EvalConfig:
    """The gate (absolute accuracy, lift over the majority class, no regression vs. the last blessed model) and the confusion matrix."""
    import tensorflow_model_analysis as tfma

    from trainer.preprocessing import LABEL_ID_KEY

    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gate.min_test_accuracy}),
        # Less the tolerance, so that an equally good model still passes.
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -gate.max_accuracy_regression - ACCURACY_TOLERANCE},
        ),
    )
    lift_threshold = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gate.min_lift_over_majority}))
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                prediction_key="probabilities",
                label_key=LABEL_ID_KEY,
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="SparseCategoricalAccuracy", threshold=accuracy_threshold),
                    # Computed by TFMA's workers from the split it evaluates, on every runner.
                    tfma.MetricConfig(
                        class_name=gate_metrics.AccuracyOverMajority.__name__,
                        module=gate_metrics.__name__,
                        threshold=lift_threshold,
                    ),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            )
        ],
    )
