"""The settings of feature extraction: what shapes the features (FeatureConfig), composed with how this machine
makes them and where they go (ExtractionConfig), each a typed object with its defaults and bounds.

VideoExampleGen's spec, `create_pipeline`, the command line, the `tfx` CLI's
environment variables and the Kubeflow compile all derive from these classes
or pass them whole: a new option is one new field of one of them (default,
help text, bounds), and every front end has it. Only FeatureConfig travels on
into what is recorded: models (model_info.json, the SavedModel's
feature_record), the feature store's keys and the checks that spans match.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from frame_path import backbone
from frame_path.backbone import POOLINGS, PRECISIONS, appearance_feature_dim, compute_device, feature_dim
from frame_path.frames import SAMPLING_MODES
from typed_config import build, check_fields, flat_values, option
from video_datasets.carve_out import EVAL_GROUP_FRACTION

AUTO = "auto"  # a str setting chosen by `resolve_auto_settings`
AUTO_NUMBER = 0  # an int setting chosen by `resolve_auto_settings`
# Settings that extraction reports and pushed models made before them lack, with the value every such record had.
SETTINGS_ADDED_LATER = {"frame_pooling": "avg"}
# Frames per forward pass on a CPU: larger passes are no faster there (benchmarks/README.md, section 1).
CPU_FRAME_BATCH_SIZE = 32
# On a GPU at 128 px (H100, Keras on JAX; benchmarks/README.md): 1,189 frames/s at 32, 7,325 at 256, 14,599 at 1,024.
# Larger frames get proportionally fewer a pass, so that a pass needs the same memory.
GPU_FRAME_BATCH_SIZE_AT_128_PX = 1024


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """What shapes a clip's features, and nothing else: the same clip with the same FeatureConfig (and weights) has
    the same features on any machine. Models record it, the feature store keys on it, spans are compared by it.

    'auto' precision and pooling are resolved where the features are made (`resolve_auto_settings`) and recorded so.
    """

    max_seq_length: int = option(20, "frames sampled per clip; shorter clips are zero-padded and masked", minimum=1, maximum=512)
    # 512 px is 16x the default's DenseNet121 work per frame; 4096 px took 17 GB in a minute.
    image_size: int = option(128, "frames are center-cropped and resized to this square size", minimum=32, maximum=512)
    weights: str = option(
        "imagenet",
        "DenseNet121 weights: 'imagenet' (downloaded once by Keras), 'none' (random init: offline tests and the demo) "
        "or the path of a notop weights file",
    )
    sampling: str = option(
        "uniform",
        "'uniform': frames spread over the whole clip; 'first': the first frames, as the Keras example",
        choices=SAMPLING_MODES,
    )
    # The machine's choice ('auto'), but it shapes the features: bfloat16 ones differ from float32 ones by 0.33 %
    # (relative L2, demo clips; benchmarks/README.md, section 1), so models and the store record the precision used.
    precision: str = option(
        AUTO,
        "DenseNet121 compute precision; 'auto': float32 on a CPU, bfloat16 on a GPU (benchmarks/README.md)",
        choices=(AUTO, *PRECISIONS),
    )
    # 'auto' follows the evidence of each regime until one machine has measured the poolings in both. With random
    # weights (the demo, the tests, every benchmark here) the map's maximum carries what is in view wherever it sits
    # in the frame (appearance benchmark 0.958 against the mean's 0.779), and its minimum beside it, which only the
    # change streams see (backbone.appearance_feature_dim), shows a dark object growing: on held-out scenes the
    # action filling the whole clip 0.924 -> 0.979, hard test split 0.903 -> 0.938, look-defined classes mixed with
    # an order pair 0.894 -> 0.900, appearance 0.922 -> 0.911 (mean of 3 seeds; benchmarks/README.md, section 3).
    # With pretrained weights the only measurement is the Keras example's 83-88 % on UCF101's 5 classes, made with
    # the mean; the others are unmeasured there (no download here). benchmarks/README.md, section 3, has the
    # command that settles it on a connected machine.
    frame_pooling: str = option(
        AUTO,
        "how a frame's DenseNet121 feature map becomes its features: 'max' (each channel's maximum over the map: what "
        "is in view, wherever it sits; 1024), 'avg' (the mean: the Keras example's; 1024), 'avg+max' (both, 2048), "
        "'max+min' (the maximum and the minimum, 2048; the minimum only in the model's change streams) or 'auto' "
        "(avg with pretrained weights, max+min with --weights none)",
        choices=(AUTO, *POOLINGS),
    )
    random_init_seed: int = option(0, "seed of the random DenseNet121 weights of --weights none (the same on every worker)", minimum=0)

    def __post_init__(self) -> None:
        check_fields(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> FeatureConfig:
        """From a record with (at least) every field: an extraction report, model_info.json, exec_properties; other
        keys (an older model_info.json's decode workers or store) are ignored. A record made before a field existed
        (SETTINGS_ADDED_LATER) gets the value it was made with."""
        return build(cls, {**SETTINGS_ADDED_LATER, **values}, complete=True)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def resolved_frame_pooling(self) -> str:
        """The pooling 'auto' stands for with these weights: the mean with pretrained ones, the maximum and the minimum
        with random ones."""
        if self.frame_pooling != AUTO:
            return self.frame_pooling
        return "max+min" if self.weights == "none" else "avg"

    @property
    def feature_dim(self) -> int:
        """Features a frame."""
        return feature_dim(self.resolved_frame_pooling)

    @property
    def shape(self) -> dict[str, int]:
        """What the model needs to know of these features (trainer/hparams.py's SHAPE_FIELDS)."""
        return {
            "max_seq_length": self.max_seq_length,
            "feature_dim": self.feature_dim,
            "appearance_feature_dim": appearance_feature_dim(self.resolved_frame_pooling),
        }

    def compared(self) -> dict[str, Any]:
        """The FEATURE_SETTINGS by name: what records of features (store keys, span checks, a model's own record)
        compare, beside the weights id."""
        return {name: getattr(self, name) for name in FEATURE_SETTINGS}

    def weights_id(self) -> str:
        """The id of the weights themselves (a file's hash, the random-init seed): what records name them by."""
        return backbone.weights_id(self.weights, self.random_init_seed)

    def build_backbone(self) -> Any:
        """The Keras model that makes these features from frames (a resolved config: no 'auto' precision)."""
        return backbone.build_backbone(self.weights, self.image_size, self.random_init_seed, self.precision, self.resolved_frame_pooling)


def auto_pooling_rule() -> str:
    """What frame_pooling='auto' stands for in each regime, in words (the console names it beside the one chosen)."""
    pretrained, random_init = (FeatureConfig(weights=weights).resolved_frame_pooling for weights in ("imagenet", "none"))
    return f"{pretrained} with pretrained weights, {random_init} with random ones"


# The settings records compare; the weights are compared by their id (FeatureConfig.weights_id) instead of by the
# `weights` and `random_init_seed` that name them.
FEATURE_SETTINGS = tuple(field.name for field in dataclasses.fields(FeatureConfig) if field.name not in ("weights", "random_init_seed"))


@dataclasses.dataclass(frozen=True)
class ExtractionConfig:
    """VideoExampleGen's settings: the features it makes (`features`), how fast this machine makes them
    (frame_batch_size, decode_workers: 'auto' is this machine's choice) and where they go (eval_group_fraction,
    feature_store).

    One class composing FeatureConfig rather than three side by side: VideoExampleGen takes all of it as its
    flat execution parameters and every front end offers it as flat options (`typed_config.option_fields`), while
    only `features` goes on into models and store keys. The machine's two settings are no config of their own:
    ClipEncoder, their one other user, takes them with the features from this class, and inference builds one
    with the model's features and this machine's choices.
    """

    features: FeatureConfig = FeatureConfig()
    frame_batch_size: int = option(
        AUTO_NUMBER,
        "frames per DenseNet121 forward pass; 0: by device, 32 on a CPU, 1024 (at 128 px, fewer for larger frames) on a GPU",
        minimum=0,
        maximum=4096,
    )
    decode_workers: int = option(
        AUTO_NUMBER,
        "clip decoding workers (2 or more: worker processes); 0: one per CPU core this process may use",
        minimum=0,
        maximum=256,
    )
    eval_group_fraction: float = option(
        EVAL_GROUP_FRACTION, "share of the training clips' groups held out as the eval split", minimum=0.0, maximum=0.9
    )
    # Where, not how: no feature depends on it (frame_path/feature_store.py).
    feature_store: str = option(
        "",
        "folder or URI (gs://...) of the per-clip feature store that extractions share, so that a clip is decoded once "
        "for all runs with the same feature settings; '': none. `run` and `extract` use OUTPUT_DIR/feature_store "
        "unless --no-cache",
    )

    def __post_init__(self) -> None:
        check_fields(self)

    @classmethod
    def of(cls, **values: Any) -> ExtractionConfig:
        """From flat settings by name, FeatureConfig's among them (as front ends give them); the rest default."""
        return build(cls, values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ExtractionConfig:
        """From a flat mapping with (at least) every setting, e.g. a component's exec_properties; other keys are
        ignored. A record made before a setting existed (SETTINGS_ADDED_LATER) gets the value it was made with."""
        return build(cls, {**SETTINGS_ADDED_LATER, **values}, complete=True)

    def as_dict(self) -> dict[str, Any]:
        """Every setting flat, by name: VideoExampleGen's execution parameters, its report."""
        return flat_values(self)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's cpuset), not the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_auto_settings(config: ExtractionConfig, device: str | None = None, cores: int | None = None) -> ExtractionConfig:
    """`config` with every 'auto' setting (0 or 'auto') chosen for the device and the cores; explicit values stay.

    `device`: "cpu", "gpu" or "tpu" (default: the Keras backend's, `backbone.compute_device`);
    `cores`: default `usable_cores()`. The one place where these choices are made.
    """
    device = compute_device() if device is None else device
    accelerated = device != "cpu"
    features = config.features
    changes: dict[str, Any] = {}
    if config.frame_batch_size == AUTO_NUMBER:
        if accelerated:
            scaled = GPU_FRAME_BATCH_SIZE_AT_128_PX * 128 * 128 // (features.image_size * features.image_size)
            changes["frame_batch_size"] = max(CPU_FRAME_BATCH_SIZE, scaled // 32 * 32)
        else:
            changes["frame_batch_size"] = CPU_FRAME_BATCH_SIZE
    if config.decode_workers == AUTO_NUMBER:
        changes["decode_workers"] = usable_cores() if cores is None else cores
    feature_changes: dict[str, Any] = {}
    if features.precision == AUTO:
        feature_changes["precision"] = "bfloat16" if accelerated else "float32"
    if features.frame_pooling == AUTO:
        feature_changes["frame_pooling"] = features.resolved_frame_pooling
    return dataclasses.replace(config, features=dataclasses.replace(features, **feature_changes), **changes)


SPAN_MISMATCH_HINT = (
    "extract those spans again with these settings and --no-cache (with the cache, extract hands back their earlier "
    "extraction, and the newer one stays the one trained on), or train on fewer spans"
)


def span_feature_mismatch(span: int, report: Mapping[str, Any], other_span: int, other: Mapping[str, Any]) -> str | None:
    """'span 1 has max_seq_length 8, span 2 6' where two spans' features are made differently (FEATURE_SETTINGS and
    the weights id of their extraction reports); None where they are not. An 'auto' setting of `other`, not yet
    resolved for a device, matches any."""
    report, other = {**SETTINGS_ADDED_LATER, **report}, {**SETTINGS_ADDED_LATER, **other}
    differing = [name for name in (*FEATURE_SETTINGS, "weights_id") if other.get(name) not in (AUTO, report.get(name))]
    if not differing:
        return None
    return (
        f"span {span} has "
        + ", ".join(f"{name} {report.get(name)!r}" for name in differing)
        + f", span {other_span} "
        + ", ".join(f"{other.get(name)!r}" for name in differing)
    )
