"""Predicts the actions in video files with a model the pipeline pushed.

    python predict.py --model-dir outputs/demo/serving VIDEO [VIDEO ...] [--top-k 5] [--json]

Each video is decoded, sampled and encoded exactly as in the pipeline (the same
frames and backbone modules), then classified by the model's serving_default
signature. One bad video never stops the others; the exit code is 1 if any
video failed, 2 for a bad model directory or mismatched backbone weights.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any, Optional

from frame_path import backbone, frames
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


class VideoClassifier:
    """A pushed model plus the backbone that made its training features."""

    def __init__(self, model_dir: str, weights: Optional[str] = None):
        self.version_dir = resolve_model_dir(model_dir)
        self.info = read_model_info(self.version_dir)
        extraction = self.info.extraction
        if weights:
            extraction = dataclasses.replace(extraction, weights=weights)
        self.extraction = extraction
        weights_id = backbone.weights_id(extraction.weights, extraction.random_init_seed)
        if weights_id != self.info.backbone_weights_id:
            raise BackboneWeightsError(
                f"the model was trained on features of backbone weights {self.info.backbone_weights_id}, "
                f"but --weights {extraction.weights} gives {weights_id}: its predictions would be meaningless"
            )
        # TensorFlow starts only now, so that the errors above come as one clean line.
        import tensorflow as tf

        self._frame_encoder = backbone.build_backbone(extraction.weights, extraction.image_size, extraction.random_init_seed, extraction.precision)
        self._serve = tf.saved_model.load(self.version_dir).signatures["serving_default"]

    def predict(self, video_path: str, top_k: int) -> list[dict[str, Any]]:
        """Top-k {label, probability}, most likely first; raises frames.VideoDecodeError for an unreadable video."""
        import tensorflow as tf

        from frame_path.records import make_example

        extraction = self.extraction
        max_seq_length = extraction.max_seq_length
        clip = frames.decode_clip(video_path, max_seq_length, extraction.image_size, extraction.sampling)
        frame_features = backbone.encode_frames(self._frame_encoder, clip.frames, batch_size=max_seq_length)
        padded_features, frame_mask = frames.pad_to_length(frame_features, max_seq_length)
        # Label and id are not read by serving_default; they only complete the record.
        example = make_example(padded_features, frame_mask, "", os.path.basename(video_path), clip.num_frames)
        try:
            outputs = self._serve(examples=tf.constant([example.SerializeToString()]))
        except tf.errors.InvalidArgumentError:
            raise ModelDirError(
                f"the model in {self.version_dir} does not take clips of {max_seq_length} frames, as its "
                f"{MODEL_INFO_FILE} says: a damaged model"
            ) from None
        probabilities, labels = outputs["probabilities"].numpy()[0], outputs["classes"].numpy()[0]
        ranked = probabilities.argsort()[::-1][:top_k]
        return [{"label": labels[index].decode(), "probability": round(float(probabilities[index]), 6)} for index in ranked]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files to classify")
    parser.add_argument("--model-dir", required=True, help="a serving directory (its newest version is used) or one version folder")
    parser.add_argument("--top-k", type=int, default=5, help="how many actions to show per video (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="one JSON object per video and line: video, predictions [{label, probability}] or error")
    parser.add_argument("--weights", help="backbone weights, as for the pipeline (default: the ones the model was trained with)")
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error("--top-k must be at least 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        classifier = VideoClassifier(args.model_dir, args.weights)
    except (ModelDirError, BackboneWeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    failures = 0
    for video in args.videos:
        try:
            result: dict[str, Any] = {"video": video, "predictions": classifier.predict(video, args.top_k)}
        except frames.VideoDecodeError as error:
            failures += 1
            result = {"video": video, "error": str(error)}
        except ModelDirError as error:  # the model, not this video: no other video can succeed
            print(f"error: {error}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(result), flush=True)
        elif "error" in result:
            print(f"{video}: error: {result['error']}", flush=True)
        else:
            print(video)
            for prediction in result["predictions"]:
                print(f"  {prediction['label']:<24} {prediction['probability']:.3f}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
