"""TFX Trainer: trains the video transformer on the Examples (trainer/data.py) and exports it (trainer/export.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from frame_path.config import FeatureConfig
from trainer import model as video_model
from trainer.data import TRAINING_SEED, dataset, eval_clip_count, extraction_report
from trainer.export import export_model
from trainer.model_files import HISTORY_FILE, ModelInfo
from trainer.preprocessing import LABEL_VOCABULARY
from trainer.stream_selection import select_streams
from trainer.training import TrainedModel, fit_and_keep

logger = logging.getLogger(__name__)


def _distribution_strategy() -> tf.distribute.Strategy:
    """All GPUs of this worker when there are several; the default strategy otherwise."""
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _tuned_values(fn_args: tfx.components.FnArgs) -> dict[str, Any]:
    """The Tuner's best hyperparameters (`run --tune`), which override the configured ones; none without a Tuner."""
    if not fn_args.hyperparameters:
        return {}
    import keras_tuner

    values = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters).values
    logger.info("Hyperparameters chosen by the Tuner: %s", values)
    return values


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Trains on `train`, early-stops and picks weights (and, for frame_streams=auto, averages the best candidates of the
    streams) on `eval`; `test` is left to the Evaluator."""
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    labels = [label.decode() for label in tf_transform_output.vocabulary_by_name(LABEL_VOCABULARY)]
    hparams = video_model.HParams.from_config({**fn_args.custom_config, **_tuned_values(fn_args)})
    report = extraction_report(fn_args)
    features = FeatureConfig.from_mapping(report)  # as the features were made
    if features.max_seq_length != hparams.max_seq_length:
        raise ValueError(f"features have {features.max_seq_length} frames per clip, the model expects {hparams.max_seq_length}")

    train = _candidate_trainer(fn_args, tf_transform_output, len(labels), hparams)
    trained, stream_selection = select_streams(hparams, train, eval_clip_count(fn_args))
    logger.info("Trained %d epochs; kept the weights of epoch %d", len(trained.history["loss"]), trained.kept_epoch)
    # The Trainer's own choices, which reports read rather than re-derive (the epoch 1-based).
    training_record = {
        **trained.history,
        "kept_epoch": trained.kept_epoch,
        "warmup_epochs": trained.hparams.warmup_epochs,
        "stream_selection": stream_selection,
    }
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HISTORY_FILE), "w") as history_file:
        json.dump(training_record, history_file, indent=2)
    # frame_streams as kept: a candidate's name, or "change+all" for the candidates whose probabilities the model averages.
    model_hparams = {**dataclasses.asdict(trained.hparams), "frame_streams": stream_selection["chosen"]}
    model_info = ModelInfo(labels, features, report["weights_id"], model_hparams, report.get("train_clip_seconds"))
    export_model(trained.model, tf_transform_output, model_info, fn_args.serving_model_dir)


def _candidate_trainer(
    fn_args: tfx.components.FnArgs, tf_transform_output: tft.TFTransformOutput, num_classes: int, hparams: video_model.HParams
) -> Callable[[video_model.HParams], TrainedModel]:
    """What trains one candidate's hyperparameters on every GPU of this worker, its weights picked on `eval`."""
    strategy = _distribution_strategy()
    global_batch_size = hparams.batch_size * strategy.num_replicas_in_sync
    logger.info("Training on %d replica(s), global batch %d, %d classes", strategy.num_replicas_in_sync, global_batch_size, num_classes)
    train_dataset = dataset(fn_args, fn_args.train_files, tf_transform_output, global_batch_size, shuffle=True)
    eval_dataset = dataset(fn_args, fn_args.eval_files, tf_transform_output, global_batch_size, shuffle=False)

    def train(candidate: video_model.HParams) -> TrainedModel:
        keras.utils.set_random_seed(TRAINING_SEED)  # every candidate from the same start
        with strategy.scope():
            classifier = video_model.build_model(num_classes, candidate)
        log_dir = os.path.join(fn_args.model_run_dir, candidate.frame_streams) if hparams.frame_streams == "auto" else fn_args.model_run_dir

        def fit(model: keras.Model, callbacks: list[keras.callbacks.Callback]) -> keras.callbacks.History:
            return model.fit(
                train_dataset,
                validation_data=eval_dataset,
                epochs=candidate.epochs,
                shuffle=False,  # the TFX dataset is shuffled already
                verbose=2,
                callbacks=[*callbacks, keras.callbacks.TensorBoard(log_dir=log_dir)],
            )

        return fit_and_keep(classifier, candidate, fit)

    return train
