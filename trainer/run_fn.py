"""TFX Trainer: trains the video transformer and exports it with its signatures.

`serving_default` takes serialized tf.Examples (no label) and returns
`probabilities` and `classes` (label strings); `serving_frames` takes the
decoded RGB frames of one clip and runs sampling, cropping and DenseNet121
in the graph; `transform_features` is what the Evaluator uses to read labels. `assets.extra/model_info.json` records
the labels and which backbone weights produced the features, so that a
model is never fed features of another backbone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import warnings
from typing import Any

import keras
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from frame_path import backbone as frame_backbone
from frame_path.config import SPAN_MISMATCH_HINT, ExtractionConfig, span_feature_mismatch
from frame_path.records import EXTRACTION_REPORT_FILE
from trainer import model as video_model
from trainer import serving_frames
from trainer.model_files import EXAMPLES_MODEL_DIR, EXAMPLES_MODEL_GRAPH, HISTORY_FILE, MODEL_INFO_FILE, ModelInfo
from trainer.preprocessing import FEATURE_KEYS, LABEL_ID_KEY, LABEL_VOCABULARY
from trainer.stream_selection import select_streams
from trainer.training import TrainedModel, fit_and_keep

TRAINING_SEED = 0  # same Examples and hyperparameters -> the same model
# TFX datasets have no known length, so Keras warns at the end of every epoch.
warnings.filterwarnings("ignore", message="Your input ran out of data")

logger = logging.getLogger(__name__)


def _distribution_strategy() -> tf.distribute.Strategy:
    """All GPUs of this worker when there are several; the default strategy otherwise."""
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def dataset(
    fn_args: tfx.components.FnArgs, file_pattern: list[str], tf_transform_output: tft.TFTransformOutput, batch_size: int, shuffle: bool
) -> tf.data.Dataset:
    """Raw Examples through the transform graph -> (model inputs, label id) batches."""
    transform_layer = tf_transform_output.transform_features_layer()

    def transform(raw_features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        transformed = transform_layer(raw_features)
        return {key: transformed[key] for key in FEATURE_KEYS}, transformed[LABEL_ID_KEY]

    raw_examples = fn_args.data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=1, shuffle=shuffle, shuffle_seed=0),
        tf_transform_output.raw_metadata.schema,
    )
    return raw_examples.map(transform, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _extraction_report(fn_args: tfx.components.FnArgs) -> dict[str, Any]:
    """The VideoExampleGen report of the Examples being trained on (it names the backbone weights); of the newest span
    when there are several (--train-spans), after checking that they all hold features made the same way.

    FnArgs carries file patterns, not artifacts, so the reports are found by TFX's split layout
    (<examples uri>/Split-<name>/, as artifact_utils.get_split_uri builds it).
    """
    reports = []
    for train_files in fn_args.train_files:
        split_dir = os.path.dirname(train_files)  # <examples uri>/Split-train/* -> Split-train
        with tf.io.gfile.GFile(os.path.join(os.path.dirname(split_dir), EXTRACTION_REPORT_FILE)) as report_file:
            reports.append(json.load(report_file))
    newest = max(reports, key=lambda report: report.get("span", 0))
    for report in reports:
        mismatch = span_feature_mismatch(report.get("span", 0), report, newest.get("span", 0), newest)
        if mismatch:
            raise ValueError(f"the spans to train on hold features made differently: {mismatch} ({SPAN_MISMATCH_HINT})")
    return newest


class _ServingModule(tf.Module):
    """The exported graph: transform + model, behind tf.Example signatures."""

    def __init__(
        self,
        classifier: keras.Model,
        tf_transform_output: tft.TFTransformOutput,
        labels: list[str],
        frame_encoder: keras.Model,
        extraction: ExtractionConfig,
        feature_record: str,
    ):
        super().__init__()
        self.classifier = classifier
        self.frame_encoder = frame_encoder
        self.tft_layer = tf_transform_output.transform_features_layer()
        self._raw_feature_spec = tf_transform_output.raw_feature_spec()
        self._extraction = extraction
        self.labels = tf.constant(labels)
        # model_info.json beside the model can be edited or mixed up; the model's own record of its inputs cannot.
        self.feature_record = tf.Variable(feature_record, dtype=tf.string, trainable=False)

    def _classify(self, transformed_features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        probabilities = self.classifier({key: transformed_features[key] for key in FEATURE_KEYS}, training=False)
        batch_size = tf.shape(probabilities)[0]
        return {"probabilities": probabilities, "classes": tf.tile(self.labels[tf.newaxis, :], [batch_size, 1])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, serialized_examples: tf.Tensor) -> dict[str, tf.Tensor]:
        feature_spec = {key: self._raw_feature_spec[key] for key in FEATURE_KEYS}
        raw_features = tf.io.parse_example(serialized_examples, feature_spec)
        return self._classify(self.tft_layer(raw_features))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="frames")])
    def serve_frames(self, frames: tf.Tensor) -> dict[str, tf.Tensor]:
        raw_features = serving_frames.clip_features(frames, self.frame_encoder, self._extraction)
        return self._classify(self.tft_layer(raw_features))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, serialized_examples: tf.Tensor) -> dict[str, tf.Tensor]:
        raw_features = tf.io.parse_example(serialized_examples, self._raw_feature_spec)
        return self.tft_layer(raw_features)


def _save_examples_model(serving_module: _ServingModule, path: str) -> None:
    """serving_default on its own (trainer/model_files.py's EXAMPLES_MODEL_DIR), its saved_model.pb renamed.

    Renamed, because TFX's Pusher copies a model without any file whose name contains "saved_model.pb"
    and then adds the top one only (so that TF Serving sees a version once it is whole): a nested
    SavedModel would arrive without its graph. inference/model.py puts the name back in a local copy.
    """
    examples_model = tf.Module()  # the classifier and the transform, tracked so that their variables are saved
    examples_model.classifier, examples_model.tft_layer = serving_module.classifier, serving_module.tft_layer
    examples_model.feature_record = serving_module.feature_record
    tf.saved_model.save(examples_model, path, signatures={"serving_default": serving_module.serve_examples})
    tf.io.gfile.rename(os.path.join(path, "saved_model.pb"), os.path.join(path, EXAMPLES_MODEL_GRAPH))


def _frame_encoder(extraction: ExtractionConfig, features_weights_id: str) -> keras.Model:
    """The DenseNet121 that produced the training features, for the serving_frames signature."""
    weights_id = frame_backbone.weights_id(extraction.weights, extraction.random_init_seed)
    if weights_id != features_weights_id:
        raise ValueError(
            f"backbone weights {extraction.weights!r} are now {weights_id}, but the features were made with "
            f"{features_weights_id}: extract the features again"
        )
    return extraction.build_backbone()


def _tuned_values(fn_args: tfx.components.FnArgs) -> dict[str, Any]:
    """The Tuner's best hyperparameters (`run --tune`), which override the configured ones; none without a Tuner."""
    if not fn_args.hyperparameters:
        return {}
    import keras_tuner

    values = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters).values
    logger.info("Hyperparameters chosen by the Tuner: %s", values)
    return values


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Trains on `train`, early-stops and picks weights (and, for frame_streams=auto, the streams) on `eval`; `test` is
    left to the Evaluator."""
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    labels = [label.decode() for label in tf_transform_output.vocabulary_by_name(LABEL_VOCABULARY)]
    hparams = video_model.HParams.from_config({**fn_args.custom_config, **_tuned_values(fn_args)})
    extraction_report = _extraction_report(fn_args)
    extraction = ExtractionConfig.from_mapping(extraction_report)  # as the features were made
    if extraction.max_seq_length != hparams.max_seq_length:
        raise ValueError(f"features have {extraction.max_seq_length} frames per clip, the model expects {hparams.max_seq_length}")

    strategy = _distribution_strategy()
    global_batch_size = hparams.batch_size * strategy.num_replicas_in_sync
    logger.info(
        "Training on %d replica(s), global batch %d, %d classes %s", strategy.num_replicas_in_sync, global_batch_size, len(labels), labels
    )
    train_dataset = dataset(fn_args, fn_args.train_files, tf_transform_output, global_batch_size, shuffle=True)
    eval_dataset = dataset(fn_args, fn_args.eval_files, tf_transform_output, global_batch_size, shuffle=False)

    def train(candidate: video_model.HParams) -> TrainedModel:
        keras.utils.set_random_seed(TRAINING_SEED)  # every candidate from the same start
        with strategy.scope():
            classifier = video_model.build_model(len(labels), candidate)
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

    trained, stream_selection = select_streams(hparams, train)
    classifier, hparams = trained.model, trained.hparams
    logger.info(
        "Trained %d epochs; kept the weights of epoch %d (warm-up %d)",
        len(trained.history["loss"]),
        trained.kept_epoch,
        hparams.warmup_epochs,
    )
    training_record = {
        **trained.history,
        # The Trainer's own choices, which reports read rather than re-derive (the epoch 1-based).
        "kept_epoch": trained.kept_epoch,
        "warmup_epochs": hparams.warmup_epochs,
        "stream_selection": stream_selection,
    }
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HISTORY_FILE), "w") as history_file:
        json.dump(training_record, history_file, indent=2)

    weights_id = extraction_report["weights_id"]
    model_info = ModelInfo(labels, extraction, weights_id, dataclasses.asdict(hparams), extraction_report.get("train_clip_seconds"))
    serving_module = _ServingModule(
        classifier, tf_transform_output, labels, _frame_encoder(extraction, weights_id), extraction, model_info.feature_record()
    )
    tf.saved_model.save(
        serving_module,
        fn_args.serving_model_dir,
        signatures={
            "serving_default": serving_module.serve_examples,
            "serving_frames": serving_module.serve_frames,
            "transform_features": serving_module.transform_features,
        },
    )
    _save_examples_model(serving_module, os.path.join(fn_args.serving_model_dir, EXAMPLES_MODEL_DIR))
    model_info_path = os.path.join(fn_args.serving_model_dir, MODEL_INFO_FILE)
    tf.io.gfile.makedirs(os.path.dirname(model_info_path))
    with tf.io.gfile.GFile(model_info_path, "w") as info_file:
        json.dump(model_info.as_dict(), info_file, indent=2)
