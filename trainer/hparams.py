"""Hyperparameters of the video transformer and its training loop: one typed object with defaults and bounds.

Plain Python (no Keras, no TensorFlow), so that every front end checks a
`--hparam` at once, before the heavy imports. `HParams` refuses unknown keys,
wrong types, non-finite numbers and values out of bounds; the `--hparam` help
and the Tuner's space are derived from its fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from typed_config import InvalidOption, check_fields, defaults, option

# Shape of the data, not a modelling choice: the extraction settings (max_seq_length) and the
# backbone (feature_dim, appearance_feature_dim) fix them, so the pipeline passes them and a user may not set them.
SHAPE_FIELDS = ("max_seq_length", "feature_dim", "appearance_feature_dim")
# frame_streams value -> the streams of trainer/model.py's FrameStreams, in the order `auto` tries them.
STREAM_CANDIDATES: dict[str, tuple[str, ...]] = {
    "change": ("clip_centering", "motion"),
    "appearance": ("appearance",),
    "all": ("appearance", "clip_centering", "motion"),
}


@dataclasses.dataclass(frozen=True)
class HParams:
    """Hyperparameters of the video transformer and its training loop.

    The defaults: transformer sizes, batch 8 and the long patience were chosen
    on the demo data and the hard benchmark (video_datasets/hard_benchmark.py:
    unseen scenes, order-only class pairs, random-init DenseNet121 features;
    figures in benchmarks/README.md section 3); the frame streams are chosen
    per dataset by the Trainer (`frame_streams=auto`).
    """

    max_seq_length: int = option(help="frames per clip (the extraction's max_seq_length)", minimum=1, maximum=512)
    feature_dim: int = option(help="features per frame (the backbone's)", minimum=1, maximum=65536)
    # 0 for configs and models made before the features had a statistic the appearance stream leaves out.
    appearance_feature_dim: int = option(
        0, "features per frame the appearance stream sees, the leading ones (the backbone's); 0 = all", minimum=0, maximum=65536
    )
    projection_dim: int = option(
        64, "size the frame vectors are projected to before attention; 0 keeps them as they are", minimum=0, maximum=4096, search=[32, 64]
    )
    dense_dim: int = option(64, "hidden size of each encoder's feed-forward block", minimum=1, maximum=8192)
    num_heads: int = option(2, "attention heads", minimum=1, maximum=64)
    num_layers: int = option(1, "transformer encoder blocks", minimum=1, maximum=32)
    dropout: float = option(0.1, "dropout in the attention and before the classifier", minimum=0.0, maximum=0.95, search=[0.1, 0.3])
    learning_rate: float = option(1e-3, "Adam(W) learning rate", minimum=1e-7, maximum=1.0, search=[1e-3, 3e-4])
    epochs: int = option(100, "training epochs at most", minimum=1, maximum=10000)
    batch_size: int = option(8, "clips per training step (per replica)", minimum=1, maximum=4096)
    early_stopping_patience: int = option(30, "epochs without a better eval loss before training stops", minimum=1, maximum=10000)
    # On a small eval split the loss is lowest in the first epochs, while the model is still unsure
    # of everything, and rises as it grows confident even when it gets more clips right: on the demo
    # (8 eval clips) the first epoch was picked every time (test accuracy 0.83 vs 0.92 with 10 warm-up epochs).
    warmup_epochs: int = option(10, "epochs before the eval loss may stop training or pick the weights", minimum=0, maximum=10000)
    # Which per-frame vectors the transformer sees (trainer/model.py's FrameStreams). No single choice fits
    # both kinds of data: on random-init features of order-only classes the appearance stream lets the
    # model memorise the training scenes (hard benchmark: appearance 0.38-0.52, all 0.77-0.81, change 0.97-0.99),
    # while classes told apart by what is in view need it (appearance benchmark: appearance 0.94-0.96, all
    # 0.975, change 0.55-0.63; benchmarks/README.md section 3, max pooling), and with ImageNet
    # features what is in view is the main cue (the Keras example reaches 83-88% on UCF101's 5 classes with
    # appearance alone). So by default ("auto") the Trainer trains every one of STREAM_CANDIDATES and keeps the one
    # with the lowest eval loss on the eval split, whose groups (scenes) training never saw, averaged with the
    # second lowest when that is close (trainer/stream_selection.py): the data decides, for ImageNet weights too.
    frame_streams: str = option(
        "auto",
        "which frame vectors the model sees: change (clip centring + motion), appearance (the features "
        "themselves, the Keras example's), all (the three), or auto (the Trainer trains each and keeps the lowest eval "
        "loss, averaged with the second lowest when that is at most 5 times it)",
        choices=("auto", *STREAM_CANDIDATES),
        search=list(STREAM_CANDIDATES),
    )
    # Off: on the hard benchmark (frame_streams=change, 3 seeds) crops inside the action (crop_anchor=change,
    # 30% of clips, at least half the change) lift the partial-course clips (0.955 -> 0.983) but gain less than
    # a clip in 48 on held-out scenes (0.903 -> 0.917, whole-course clips 0.924 -> 0.931) and cost the test
    # split 0.976 -> 0.951; crops anywhere in the clip (crop_anchor=frames) cost it 0.03 (benchmarks/README.md).
    temporal_crops: float = option(
        0.0,
        "share of training clips replaced by a random stretch of them, resampled to the clip's length; 0 = off",
        minimum=0.0,
        maximum=1.0,
    )
    min_crop_fraction: float = option(
        0.3,
        "shortest stretch a temporal crop keeps, as a share of the clip (of its change with crop_anchor=change)",
        minimum=0.05,
        maximum=1.0,
    )
    crop_anchor: str = option(
        "frames",
        "what a temporal crop's stretch is a share of: frames (anywhere in the clip) or change (inside the action, the "
        "still frames around it cut away)",
        choices=("frames", "change"),
    )
    feature_noise: float = option(0.0, "std of Gaussian noise on the z-scored features in training; 0 = off", minimum=0.0, maximum=10.0)
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy; 0 = off", minimum=0.0, maximum=0.9)
    weight_decay: float = option(0.0, "decoupled weight decay (AdamW); 0 = Adam", minimum=0.0, maximum=1.0)

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def streams(self) -> tuple[str, ...]:
        """The streams of a chosen `frame_streams` (trainer/model.py's FrameStreams); ValueError for 'auto'."""
        if self.frame_streams not in STREAM_CANDIDATES:
            raise ValueError(
                f"frame_streams={self.frame_streams!r} is chosen by the Trainer (trainer/stream_selection.py) after a model per "
                "candidate is built"
            )
        return STREAM_CANDIDATES[self.frame_streams]

    @property
    def num_streams(self) -> int:
        """Feature vectors per frame: the appearance and the change streams that are on."""
        return len(self.streams)

    @property
    def appearance_features(self) -> int:
        """Features per frame the appearance stream sees."""
        return self.appearance_feature_dim or self.feature_dim

    @property
    def embed_dim(self) -> int:
        """Width of the frame vectors inside the transformer."""
        if self.projection_dim:
            return self.projection_dim
        change_streams = [stream for stream in self.streams if stream != "appearance"]
        return self.feature_dim * len(change_streams) + (self.appearance_features if "appearance" in self.streams else 0)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HParams:
        """From a pipeline `custom_config`-style mapping: the SHAPE_FIELDS without a default are required, every other key
        has one.

        Unknown keys raise InvalidOption, so a typo fails loudly instead of being ignored.
        """
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(config) - set(known))
        if unknown:
            tunable = ", ".join(name for name in known if name not in SHAPE_FIELDS)
            raise InvalidOption(unknown[0], f"is not a hyperparameter; the known ones are {tunable}")
        required = [field.name for field in dataclasses.fields(cls) if field.default is dataclasses.MISSING]
        missing = [key for key in required if key not in config]
        if missing:
            raise InvalidOption(missing[0], "is required: it describes the input features and has no default")
        return cls(**config)


DEFAULT_HPARAMS: dict[str, Any] = {name: value for name, value in defaults(HParams).items() if name not in SHAPE_FIELDS}

# The Keras example this project started from, as an overlay of the defaults: attention over the
# raw 1024-d DenseNet121 features, a 4-unit dense projection, one head, 5 epochs, Keras' default
# batch size (32); the example used dropout 0.3 inside the attention and 0.5 before the classifier,
# here one rate serves both; appearance only, no warm-up.
KERAS_EXAMPLE_HPARAMS: dict[str, Any] = {
    "projection_dim": 0,
    "dense_dim": 4,
    "num_heads": 1,
    "dropout": 0.5,
    "epochs": 5,
    "batch_size": 32,
    "early_stopping_patience": 5,
    "warmup_epochs": 0,
    "frame_streams": "appearance",
}
SEED_HPARAMS: dict[str, Any] = {**DEFAULT_HPARAMS, **KERAS_EXAMPLE_HPARAMS}


def search_space() -> dict[str, list[Any]]:
    """HParams field -> the values the Tuner tries (the fields' `search`), in field order."""
    return {field.name: list(field.metadata["search"]) for field in tunable_fields() if field.metadata.get("search")}


def tunable_fields() -> list[dataclasses.Field]:
    """The fields a user may set (`--hparam NAME=VALUE`): all but the SHAPE_FIELDS."""
    return [field for field in dataclasses.fields(HParams) if field.name not in SHAPE_FIELDS]


class HParamError(InvalidOption):
    """A bad hyperparameter (unknown, or a value out of its bounds); `option` names it as HParams does."""


def training_config(hparams: Mapping[str, Any], feature_shape: Mapping[str, int]) -> dict[str, Any]:
    """The Trainer's custom_config: the configured hyperparameters plus the feature shape (the SHAPE_FIELDS), checked
    whole.

    HParamError for a shape field among `hparams` (the data fixes them) and for
    anything HParams refuses; called when the pipeline config is made, so every
    front end fails at once rather than in the Trainer, minutes into a run.
    """
    for name in SHAPE_FIELDS:
        if name in hparams:
            source = "the extraction setting max_seq_length" if name == "max_seq_length" else f"the backbone ({feature_shape[name]})"
            raise HParamError(name, f"is not a hyperparameter: it is fixed by {source}")
    config = {**hparams, **feature_shape}
    try:
        HParams.from_config(config)
    except InvalidOption as error:
        raise HParamError(error.option, error.requirement) from None
    return config
