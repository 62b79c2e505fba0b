"""Typed config dataclasses with their defaults, help and bounds on the fields: the one option helper.

A field made with `option()` carries what a front end needs to offer it
(help, bounds, choices); `check_fields()` checks a dataclass instance against
its field types and bounds; `parse_text()` reads a command-line or environment
value as a field's type. Plain Python, no project imports, so every layer can
use it: the extraction settings (frame_path/config.py), the model
hyperparameters (trainer/hparams.py) and the front ends (pipeline/options.py).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Sequence
from typing import Any


class InvalidOption(ValueError):
    """A setting outside its bounds: `option` names the field, `requirement` says what is allowed and what was given."""

    def __init__(self, option: str, requirement: str):
        super().__init__(f"{option} {requirement}")
        self.option = option
        self.requirement = requirement


_TYPE_NAMES = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false"}
# The only spellings of a boolean in an environment variable or a --flag value; anything else is an error.
_TRUE_WORDS = ("1", "true", "yes", "on")
_FALSE_WORDS = ("0", "false", "no", "off")


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[str] | None = None,
    search: Sequence[Any] | None = None,
) -> Any:
    """A dataclass field with what front ends need to offer it: help text, bounds, choices (no default: required).

    `search`: the values a hyperparameter search tries (trainer/tuner.py), none if it is not searched.
    """
    return dataclasses.field(
        default=default,
        metadata={"help": help, "minimum": minimum, "maximum": maximum, "choices": choices, "search": search},
    )


def field_types(config_class: type) -> dict[str, type]:
    """Field name -> its Python type (str, int, float or bool), resolving postponed annotations."""
    hints = typing.get_type_hints(config_class)
    return {field.name: hints[field.name] for field in dataclasses.fields(config_class)}


def defaults(config_class: type) -> dict[str, Any]:
    """The fields that have a default, with it."""
    return {field.name: field.default for field in dataclasses.fields(config_class) if field.default is not dataclasses.MISSING}


def bounds_text(field: dataclasses.Field) -> str:
    """'0 to 1', 'at least 1' or '' for a field's bounds, as help texts show them."""
    low, high = field.metadata.get("minimum"), field.metadata.get("maximum")
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    return f"at least {low:g}" if low is not None else ""


def check_fields(config: Any) -> None:
    """Checks every field of a dataclass made with `option` fields against its type (floats finite), bounds and choices.

    An int given for a float field is stored as a float (frozen dataclasses too).
    """
    types = field_types(type(config))
    for field in dataclasses.fields(config):
        name, value, meta = field.name, getattr(config, field.name), field.metadata
        expected = types[name]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
            object.__setattr__(config, name, value)
        if (expected is not bool and isinstance(value, bool)) or not isinstance(value, expected):
            raise InvalidOption(name, f"must be {_TYPE_NAMES[expected]}, got {value!r}")
        if expected is float and not math.isfinite(value):
            raise InvalidOption(name, f"must be {_TYPE_NAMES[float]}, got {value!r}")
        if meta.get("choices") and value not in meta["choices"]:
            raise InvalidOption(name, f"must be one of {', '.join(meta['choices'])}, got {value!r}")
        if meta.get("minimum") is not None and value < meta["minimum"]:
            raise InvalidOption(name, f"must be at least {meta['minimum']:g}, got {value!r}")
        if meta.get("maximum") is not None and value > meta["maximum"]:
            raise InvalidOption(name, f"must be at most {meta['maximum']:g}, got {value!r}")


def parse_bool(text: str) -> bool:
    """'1/true/yes/on' or '0/false/no/off' (any case); ValueError for anything else."""
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"must be one of {'/'.join(_TRUE_WORDS)} or {'/'.join(_FALSE_WORDS)}, got {text!r}")


def parse_text(text: str, value_type: type) -> Any:
    """`text` as a `value_type` (str, int, finite float or bool); ValueError saying what was expected."""
    if value_type is bool:
        return parse_bool(text)
    try:
        value = value_type(text)
    except ValueError:
        raise ValueError(f"must be {_TYPE_NAMES[value_type]}, got {text!r}") from None
    if value_type is float and not math.isfinite(value):
        raise ValueError(f"must be {_TYPE_NAMES[float]}, got {text!r}")
    return value
