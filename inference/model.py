"""A pushed model as the front ends apply it: its version folder, its model_info.json, and one video at a time through
the same frame path as VideoExampleGen (predict.py, `pipeline_runner.py infer`'s Beam workers)."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from frame_path import backbone, frames
from frame_path.config import ExtractionConfig, FeatureConfig, resolve_auto_settings
from frame_path.errors import BackboneWeightsError
from trainer.model_files import EXAMPLES_MODEL_DIR, EXAMPLES_MODEL_GRAPH, MODEL_INFO_FILE, ModelInfo


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
    features: FeatureConfig  # the training features' settings; `weights` replaced where the user gave others

    @classmethod
    def open(cls, model_dir: str, weights: str | None = None, views: int = 1) -> PushedModel:
        """ModelDirError for a directory without a usable model (or one that takes no `views`, VideoClassifier's),
        BackboneWeightsError for weights unlike the training ones."""
        version_dir = resolve_model_dir(model_dir)
        info = read_model_info(version_dir)
        if views > 1 and info.features.sampling != "uniform":
            raise ModelDirError(f"--views needs a model trained on 'uniform' samples; this one samples '{info.features.sampling}'")
        features = dataclasses.replace(info.features, weights=weights) if weights else info.features
        weights_id = features.weights_id()
        if weights_id != info.backbone_weights_id:
            raise BackboneWeightsError(
                f"the model was trained on features of backbone weights {info.backbone_weights_id}, "
                f"but --weights {features.weights} gives {weights_id}: its predictions would be meaningless"
            )
        return cls(version_dir, info, features)


def _load_serving_default(version_dir: str) -> Any:
    """The SavedModel of the model's serving_default: from its lone copy where the Trainer wrote one (~1 s, where the whole model with
    serving_frames' DenseNet121 takes 7 s on 2 cores: infer was 0.86x the extraction's clips/s), else the whole model.

    The lone copy's graph is stored under another name (trainer/export.py says why): a local folder gets it back
    as saved_model.pb beside the copy's variables and assets, which are read in full by the load.
    """
    import tempfile

    import tensorflow as tf

    lone_model = os.path.join(version_dir, EXAMPLES_MODEL_DIR)
    if not tf.io.gfile.exists(os.path.join(lone_model, EXAMPLES_MODEL_GRAPH)):
        return tf.saved_model.load(version_dir)
    with tempfile.TemporaryDirectory(prefix="serving_default-") as local_model:
        for folder, _, names in tf.io.gfile.walk(lone_model):
            target_folder = os.path.join(local_model, os.path.relpath(folder, lone_model))
            os.makedirs(target_folder, exist_ok=True)
            for name in names:
                target = os.path.join(target_folder, "saved_model.pb" if name == EXAMPLES_MODEL_GRAPH else name)
                tf.io.gfile.copy(os.path.join(folder, name), target, overwrite=True)
        return tf.saved_model.load(local_model)


# 16 views of a 20-frame model sample 320 frames a clip: more would only repeat frames of a UCF101 clip (~180).
MAX_VIEWS = 16


def check_views(views: int) -> None:
    """ValueError unless `views` is a number of views VideoClassifier takes."""
    if not 1 <= views <= MAX_VIEWS:
        raise ValueError(f"--views must be within [1, {MAX_VIEWS}], got {views}")


def add_views_option(parser: Any) -> None:
    """--views, for predict.py and `infer` alike."""
    parser.add_argument(
        "--views",
        type=int,
        default=1,
        help="multi-view testing: average the probabilities of N temporally offset samplings of each video (and window); "
        "N times the backbone work (default: %(default)s)",
    )


def _check_record(model: PushedModel, loaded: Any) -> None:
    """ModelDirError naming the first setting where model_info.json and the SavedModel's own record of its inputs
    differ: features made otherwise than the model was trained on give confident, meaningless answers (measured: a
    clip went from Brighten 0.63 to Shrink 0.96 under an edited frame_pooling). Models older than the record pass."""
    if not hasattr(loaded, "feature_record"):
        return
    mismatch = model.info.record_mismatch(loaded.feature_record.numpy().decode())
    if mismatch:
        raise ModelDirError(f"{os.path.join(model.version_dir, MODEL_INFO_FILE)} {mismatch}: a damaged or edited record")


class VideoClassifier:
    """A pushed model plus the backbone that made its training features, with extraction's ClipEncoder in front.

    Several videos are decoded ahead of the backbone by the decode workers and their frames share forward
    passes, exactly as in VideoExampleGen. Close it (or use it as a context manager) to stop the decode workers.
    """

    def __init__(self, model: PushedModel, views: int = 1):
        """`views`: multi-view testing, the probabilities of that many temporally offset samplings of each clip (or
        window) averaged (frames.view_positions); each costs a clip's backbone passes. `model` opened for them."""
        check_views(views)
        # TensorFlow starts only here (the backbone, the model), so that PushedModel.open's errors come as one clean line.
        self.model = model
        self.views = views
        # Frames sampled per clip: every view's. The recorded settings shape the features (weights, size, sampling,
        # precision); the pass size and the decode workers are this machine's to choose ('auto', the defaults).
        self.sampled_frames = model.features.max_seq_length * views
        sampled = dataclasses.replace(model.features, max_seq_length=self.sampled_frames)
        self._extraction = resolve_auto_settings(ExtractionConfig(features=sampled))
        self._frame_encoder = self._extraction.features.build_backbone()
        loaded = _load_serving_default(model.version_dir)
        _check_record(model, loaded)
        self._serve = loaded.signatures["serving_default"]

    @functools.cached_property
    def _clip_encoder(self) -> Any:
        """Started at the first whole video: a timeline decodes its windows itself and never needs the decode workers."""
        from frame_path.encoding import ClipEncoder

        return ClipEncoder.for_config(self._frame_encoder, self._extraction)

    def close(self) -> None:
        if "_clip_encoder" in self.__dict__:  # started
            self._clip_encoder.close()

    def __enter__(self) -> VideoClassifier:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def predict(self, video_path: str, top_k: int) -> list[dict[str, Any]]:
        """Top-k {label, probability}, most likely first; raises frames.VideoDecodeError for an unreadable video."""
        return self.classify(video_path, top_k)[0]

    def classify(self, video_path: str, top_k: int) -> tuple[list[dict[str, Any]], int]:
        """(top-k predictions as `predict` gives them, the number of frames the video has)."""
        ((_, outcome, num_frames),) = self.classify_videos([video_path], top_k)
        if isinstance(outcome, frames.VideoDecodeError):
            raise outcome
        return outcome, num_frames

    def classify_videos(
        self, video_paths: Iterable[str], top_k: int
    ) -> Iterator[tuple[str, list[dict[str, Any]] | frames.VideoDecodeError, int]]:
        """(path, its top-k predictions or the VideoDecodeError that made it unreadable, its frame count) in input order.

        Each clip goes to serving_default as soon as its features are in: one call a clip costs ~1% of its
        backbone passes (benchmarks/README.md, section 4), and results come out while the rest decode.
        """
        done: dict[int, tuple[str, Any, int]] = {}  # the encoder reports unreadable files at once, ahead of earlier clips
        next_index = 0
        for (index, path), encoded in self._clip_encoder.encode(((index, path), path) for index, path in enumerate(video_paths)):
            if isinstance(encoded, frames.VideoDecodeError):
                done[index] = (path, encoded, 0)
            else:
                frame_features = encoded.frame_features[: encoded.frames_encoded]
                done[index] = (
                    path,
                    self._serve_clip(frame_features, top_k, os.path.basename(path), encoded.num_frames),
                    encoded.num_frames,
                )
            while next_index in done:
                yield done.pop(next_index)
                next_index += 1

    def classify_frames(self, sampled_frames: Any, top_k: int, clip_id: str = "", num_frames: int = 0) -> list[dict[str, Any]]:
        """Top-k predictions for one clip's sampled, cropped RGB frames (a window of a timeline), `sampled_frames` a clip."""
        frame_features = backbone.encode_frames(self._frame_encoder, sampled_frames, batch_size=self.sampled_frames)
        return self._serve_clip(frame_features, top_k, clip_id, num_frames or len(sampled_frames))

    def _serve_clip(self, frame_features: Any, top_k: int, clip_id: str, num_frames: int) -> list[dict[str, Any]]:
        """serving_default on a clip's views (its [sampled frames, feature_dim] features): top-k {label, probability},
        most likely first, of the views' mean probabilities."""
        import tensorflow as tf

        from frame_path.records import make_example

        max_seq_length = self.model.features.max_seq_length
        examples = []
        for padded_features, frame_mask in frames.clip_views(frame_features, max_seq_length, self.views):
            # Label and id are not read by serving_default; they only complete the record.
            examples.append(make_example(padded_features, frame_mask, "", clip_id, num_frames).SerializeToString())
        try:
            outputs = self._serve(examples=tf.constant(examples))
        except tf.errors.InvalidArgumentError:
            raise ModelDirError(
                f"the model in {self.model.version_dir} does not take clips of {max_seq_length} frames, as its "
                f"{MODEL_INFO_FILE} says: a damaged model"
            ) from None
        probabilities, labels = outputs["probabilities"].numpy().mean(axis=0), outputs["classes"].numpy()[0]
        ranked = probabilities.argsort()[::-1][:top_k]
        return [{"label": labels[index].decode(), "probability": round(float(probabilities[index]), 6)} for index in ranked]
