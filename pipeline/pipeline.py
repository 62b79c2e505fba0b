"""The TFX pipeline, as one function (like TFX's penguin example)."""
from __future__ import annotations

from typing import Optional

import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.video_example_gen.component import VideoExampleGen
from frame_path.backbone import FEATURE_DIM
from pipeline.beam_plugin import with_default_beam_args
from pipeline.configs import PipelineConfig


def create_pipeline(
    config: PipelineConfig,
    *,
    pipeline_name: str,
    pipeline_root: str,
    serving_model_dir: Optional[str] = None,
    last_component: Optional[str] = None,
    enable_cache: bool = True,
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
    beam_pipeline_args: Optional[list[str]] = None,
) -> tfx.dsl.Pipeline:
    """Videos -> frame features -> validated Examples -> trained, evaluated, pushed model.

    The model is pushed to `serving_model_dir` (versioned subfolders) only when
    the Evaluator blesses it; no Pusher without it. `last_component` (a
    component id such as 'VideoExampleGen') cuts the pipeline after it.
    """
    extraction = config.extraction
    example_gen = VideoExampleGen(data_root=config.data_root, config=extraction)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    feature_shape = {"max_seq_length": extraction.max_seq_length, "feature_dim": FEATURE_DIM}
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="trainer.preprocessing.preprocessing_fn",
        custom_config=feature_shape,
        # Normalization statistics and the label vocabulary come from train only;
        # the Trainer applies the transform graph itself, so no transformed copy.
        splits_config=tfx.proto.SplitsConfig(analyze=["train"]),
        materialize=False,
    )
    training = dict(
        examples=example_gen.outputs["examples"],
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
        eval_config=_eval_config(config.min_test_accuracy, config.max_accuracy_regression),
    )
    components = [example_gen, statistics_gen, schema_gen, example_validator, transform, *([tuner] if tuner else []), trainer, latest_blessed_model, evaluator]
    if serving_model_dir is not None:
        components.append(
            tfx.components.Pusher(
                model=trainer.outputs["model"],
                model_blessing=evaluator.outputs["blessing"],
                push_destination=tfx.proto.PushDestination(
                    filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)
                ),
            )
        )
    if last_component is not None:
        component_ids = [component.id for component in components]
        components = components[: component_ids.index(last_component) + 1]
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=with_default_beam_args(beam_pipeline_args),
    )


def _eval_config(min_test_accuracy: float, max_accuracy_regression: float) -> tfma.EvalConfig:
    """Accuracy gate (absolute and against the last blessed model) and the confusion matrix."""
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_test_accuracy}),
        # -1e-10 rather than 0 so that an equally good model still passes.
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -max_accuracy_regression - 1e-10},
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                prediction_key="probabilities",
                label_key="label_id",
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="SparseCategoricalAccuracy", threshold=accuracy_threshold),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            )
        ],
    )
