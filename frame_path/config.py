"""The settings of feature extraction, in one typed object with its defaults and bounds.

VideoExampleGen's spec, `create_pipeline`, the command line, the `tfx` CLI's
environment variables and the Kubeflow compile all derive from this class or
pass it whole: a new option is one new field here (default, help text,
bounds), and every front end has it.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping, Optional, Sequence

from frame_path.backbone import PRECISIONS
from frame_path.frames import SAMPLING_MODES
from video_datasets.manifest import EVAL_GROUP_FRACTION


class InvalidOption(ValueError):
    """A setting outside its bounds: `option` names the field, `requirement` says what is allowed and what was given."""

    def __init__(self, option: str, requirement: str):
        super().__init__(f"{option} {requirement}")
        self.option = option
        self.requirement = requirement


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string"}


def option(
    default: Any,
    help: str,
    *,
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    choices: Optional[Sequence[str]] = None,
) -> Any:
    """A dataclass field with what front ends need to offer it: help text, bounds, choices."""
    return dataclasses.field(
        default=default, metadata={"help": help, "minimum": minimum, "maximum": maximum, "choices": choices}
    )


def field_types(config_class: type) -> dict[str, type]:
    """Field name -> its Python type (str, int or float), resolving postponed annotations."""
    hints = typing.get_type_hints(config_class)
    return {field.name: hints[field.name] for field in dataclasses.fields(config_class)}


def check_fields(config: Any) -> None:
    """Checks every field of a dataclass made with `option` fields against its type, bounds and choices."""
    types = field_types(type(config))
    for field in dataclasses.fields(config):
        name, value, meta = field.name, getattr(config, field.name), field.metadata
        expected = types[name]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
            object.__setattr__(config, name, value)
        if isinstance(value, bool) or not isinstance(value, expected):
            raise InvalidOption(name, f"must be {_TYPE_NAMES[expected]}, got {value!r}")
        if meta.get("choices") and value not in meta["choices"]:
            raise InvalidOption(name, f"must be one of {', '.join(meta['choices'])}, got {value!r}")
        if meta.get("minimum") is not None and value < meta["minimum"]:
            raise InvalidOption(name, f"must be at least {meta['minimum']:g}, got {value!r}")
        if meta.get("maximum") is not None and value > meta["maximum"]:
            raise InvalidOption(name, f"must be at most {meta['maximum']:g}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class ExtractionConfig:
    """How VideoExampleGen turns clips into frame features, and how it carves out the eval split."""

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
    frame_batch_size: int = option(32, "frames per DenseNet121 forward pass", minimum=1, maximum=4096)
    precision: str = option(
        "float32",
        "DenseNet121 compute precision; bfloat16 is faster on hardware with bfloat16 units (benchmarks/README.md)",
        choices=PRECISIONS,
    )
    eval_group_fraction: float = option(
        EVAL_GROUP_FRACTION, "share of the training clips' groups held out as the eval split", minimum=0.0, maximum=0.9
    )
    random_init_seed: int = option(0, "seed of the random DenseNet121 weights of --weights none (the same on every worker)", minimum=0)

    def __post_init__(self) -> None:
        check_fields(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ExtractionConfig":
        """From a mapping with (at least) every field, e.g. a component's exec_properties; other keys are ignored."""
        return cls(**{field.name: values[field.name] for field in dataclasses.fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
