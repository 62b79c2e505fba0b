"""A pushed model as the front ends apply it: its version folder, its model_info.json, and one video at a time through
the same frame path as VideoExampleGen (predict.py, `pipeline_runner.py infer`'s Beam workers)."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Optional

from frame_path import backbone, frames
from frame_path.config import ExtractionConfig
from frame_path.errors import BackboneWeightsError
from trainer.model_files import MODEL_INFO_FILE, ModelInfo


class ModelDirError(Exception):
    """The model directory holds no usable model; the message says why."""


def resolve_model_dir(model_dir: str) -> str:
    """A version folder as given, or the newest numbered version of a serving directory."""
    if os.path.exists(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    if os.path.isfile(model_dir):
        raise ModelDirError(f"{model_dir} is a file, not a model directory (give a serving directory or one version folder)")
    if not os.path.isdir(model_dir):
        raise ModelDirError(f"model directory {model_dir} does not exist")
    if os.path.basename(os.path.normpath(model_dir)).isdigit():
        raise ModelDirError(f"version folder {model_dir} has no saved_model.pb: an incomplete or damaged model")
    version_folders = sorted((name for name in os.listdir(model_dir) if name.isdigit()), key=int)
    versions = [name for name in version_folders if os.path.exists(os.path.join(model_dir, name, "saved_model.pb"))]
    if not versions:
        if version_folders:
            raise ModelDirError(f"{model_dir}: its version folders ({', '.join(version_folders)}) have no saved_model.pb")
        raise ModelDirError(f"{model_dir} holds no saved model (neither saved_model.pb nor numbered version folders)")
    return os.path.join(model_dir, versions[-1])


def read_model_info(version_dir: str) -> ModelInfo:
    """The model's model_info.json; ModelDirError when it is missing, not JSON (e.g. truncated) or incomplete."""
    info_path = os.path.join(version_dir, MODEL_INFO_FILE)
    if not os.path.exists(info_path):
        raise ModelDirError(f"{version_dir} has no {MODEL_INFO_FILE}: not a model of this pipeline")
    try:
        with open(info_path, encoding="utf-8") as info_file:
            return ModelInfo.from_dict(json.load(info_file))
    except (ValueError, UnicodeDecodeError) as error:  # json.JSONDecodeError is a ValueError
        raise ModelDirError(f"{info_path} {_reason(error)}: a truncated, damaged or older model") from None


def _reason(error: Exception) -> str:
    return f"is not valid JSON ({error})" if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)) else str(error)


@dataclasses.dataclass(frozen=True)
class PushedModel:
    """A model version folder and its record, checked against the backbone that will encode the frames (no TensorFlow)."""

    version_dir: str
    info: ModelInfo
    extraction: ExtractionConfig  # the training features' settings; `weights` replaced where the user gave others

    @classmethod
    def open(cls, model_dir: str, weights: Optional[str] = None) -> "PushedModel":
        """ModelDirError for a directory without a usable model, BackboneWeightsError for weights unlike the training ones."""
        version_dir = resolve_model_dir(model_dir)
        info = read_model_info(version_dir)
        extraction = dataclasses.replace(info.extraction, weights=weights) if weights else info.extraction
        weights_id = backbone.weights_id(extraction.weights, extraction.random_init_seed)
        if weights_id != info.backbone_weights_id:
            raise BackboneWeightsError(
                f"the model was trained on features of backbone weights {info.backbone_weights_id}, "
                f"but --weights {extraction.weights} gives {weights_id}: its predictions would be meaningless"
            )
        return cls(version_dir, info, extraction)


class VideoClassifier:
    """A pushed model plus the backbone that made its training features."""

    def __init__(self, model: PushedModel):
        # TensorFlow starts only now, so that PushedModel.open's errors come as one clean line.
        import tensorflow as tf

        self.model = model
        extraction = model.extraction
        self._frame_encoder = backbone.build_backbone(extraction.weights, extraction.image_size, extraction.random_init_seed, extraction.precision)
        self._serve = tf.saved_model.load(model.version_dir).signatures["serving_default"]

    def predict(self, video_path: str, top_k: int) -> list[dict[str, Any]]:
        """Top-k {label, probability}, most likely first; raises frames.VideoDecodeError for an unreadable video."""
        return self.classify(video_path, top_k)[0]

    def classify(self, video_path: str, top_k: int) -> tuple[list[dict[str, Any]], int]:
        """(top-k predictions as `predict` gives them, the number of frames the video has)."""
        extraction = self.model.extraction
        clip = frames.decode_clip(video_path, extraction.max_seq_length, extraction.image_size, extraction.sampling)
        return self.classify_frames(clip.frames, top_k, os.path.basename(video_path), clip.num_frames), clip.num_frames

    def classify_frames(self, sampled_frames: Any, top_k: int, clip_id: str = "", num_frames: int = 0) -> list[dict[str, Any]]:
        """Top-k predictions for one clip's sampled, cropped RGB frames (a window of a timeline, or a whole video)."""
        import tensorflow as tf

        from frame_path.records import make_example

        max_seq_length = self.model.extraction.max_seq_length
        frame_features = backbone.encode_frames(self._frame_encoder, sampled_frames, batch_size=max_seq_length)
        padded_features, frame_mask = frames.pad_to_length(frame_features, max_seq_length)
        # Label and id are not read by serving_default; they only complete the record.
        example = make_example(padded_features, frame_mask, "", clip_id, num_frames or len(sampled_frames))
        try:
            outputs = self._serve(examples=tf.constant([example.SerializeToString()]))
        except tf.errors.InvalidArgumentError:
            raise ModelDirError(
                f"the model in {self.model.version_dir} does not take clips of {max_seq_length} frames, as its "
                f"{MODEL_INFO_FILE} says: a damaged model"
            ) from None
        probabilities, labels = outputs["probabilities"].numpy()[0], outputs["classes"].numpy()[0]
        ranked = probabilities.argsort()[::-1][:top_k]
        return [{"label": labels[index].decode(), "probability": round(float(probabilities[index]), 6)} for index in ranked]
