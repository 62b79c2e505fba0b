"""The Trainer's export: the classifier behind its signatures, and the files that describe it.

`serving_default` takes serialized tf.Examples (no label) and returns
`probabilities` and `classes` (label strings); `serving_frames` takes the
decoded RGB frames of one clip and runs sampling, cropping and DenseNet121
in the graph; `transform_features` is what the Evaluator uses to read labels. `assets.extra/model_info.json` records
the labels and which backbone weights produced the features, so that a
model is never fed features of another backbone.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf
import tensorflow_transform as tft

from frame_path.config import FeatureConfig
from trainer import serving_frames
from trainer.model_files import EXAMPLES_MODEL_DIR, EXAMPLES_MODEL_GRAPH, MODEL_INFO_FILE, ModelInfo
from trainer.preprocessing import FEATURE_KEYS


class _ServingModule(tf.Module):
    """The exported graph: transform + model, behind tf.Example signatures."""

    def __init__(
        self,
        classifier: keras.Model,
        tf_transform_output: tft.TFTransformOutput,
        labels: list[str],
        frame_encoder: keras.Model,
        features: FeatureConfig,
        feature_record: str,
    ):
        super().__init__()
        self.classifier = classifier
        self.frame_encoder = frame_encoder
        self.tft_layer = tf_transform_output.transform_features_layer()
        self._raw_feature_spec = tf_transform_output.raw_feature_spec()
        self._features = features
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
        raw_features = serving_frames.clip_features(frames, self.frame_encoder, self._features)
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


def _frame_encoder(features: FeatureConfig, features_weights_id: str) -> keras.Model:
    """The DenseNet121 that produced the training features, for the serving_frames signature."""
    weights_id = features.weights_id()
    if weights_id != features_weights_id:
        raise ValueError(
            f"backbone weights {features.weights!r} are now {weights_id}, but the features were made with "
            f"{features_weights_id}: extract the features again"
        )
    return features.build_backbone()


def export_model(classifier: keras.Model, tf_transform_output: tft.TFTransformOutput, model_info: ModelInfo, path: str) -> None:
    """The SavedModel at `path` with its three signatures, serving_default alone beside it, and model_info.json."""
    features = model_info.features
    frame_encoder = _frame_encoder(features, model_info.backbone_weights_id)
    serving_module = _ServingModule(
        classifier, tf_transform_output, model_info.labels, frame_encoder, features, model_info.feature_record()
    )
    signatures = {
        "serving_default": serving_module.serve_examples,
        "serving_frames": serving_module.serve_frames,
        "transform_features": serving_module.transform_features,
    }
    tf.saved_model.save(serving_module, path, signatures=signatures)
    _save_examples_model(serving_module, os.path.join(path, EXAMPLES_MODEL_DIR))
    model_info_path = os.path.join(path, MODEL_INFO_FILE)
    tf.io.gfile.makedirs(os.path.dirname(model_info_path))
    with tf.io.gfile.GFile(model_info_path, "w") as info_file:
        json.dump(model_info.as_dict(), info_file, indent=2)
