"""Typed config dataclasses with their defaults, help and bounds on the fields: the one option helper.

A field made with `option()` carries what a front end needs to offer it
(help, bounds, choices); `check_fields()` checks a dataclass instance against
its field types and bounds; `parse_text()` reads a command-line or environment
value as a field's type. A config may compose another (a field whose type is
a config dataclass): its options are offered flat, by their own names, so
`option_fields`, `field_types`, `flat_values` and `build` see one level of
options wherever they are kept. Plain Python, no project imports, so every layer can
use it: the extraction settings (frame_path/config.py), the model
hyperparameters (trainer/hparams.py) and the front ends (pipeline/options.py).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
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


def _own_types(config_class: type) -> dict[str, type]:
    """Each field of `config_class` itself -> its type, resolving postponed annotations."""
    hints = typing.get_type_hints(config_class)
    return {field.name: hints[field.name] for field in dataclasses.fields(config_class)}


def _composed(field_type: type) -> bool:
    return dataclasses.is_dataclass(field_type)


def option_fields(config_class: type) -> list[dataclasses.Field]:
    """The options of a config class in order, those of a config it composes in that field's place; ValueError
    when two share a name (front ends, environment variables and component parameters name them flat)."""
    fields: list[dataclasses.Field] = []
    for field in dataclasses.fields(config_class):
        field_type = _own_types(config_class)[field.name]
        fields.extend(option_fields(field_type) if _composed(field_type) else [field])
    names = [field.name for field in fields]
    if len(set(names)) != len(names):
        raise ValueError(f"{config_class.__name__} has options of the same name: {sorted({n for n in names if names.count(n) > 1})}")
    return fields


def field_types(config_class: type) -> dict[str, type]:
    """Option name -> its Python type (str, int, float or bool), the composed configs' options among them."""
    types: dict[str, type] = {}
    for name, field_type in _own_types(config_class).items():
        types.update(field_types(field_type) if _composed(field_type) else {name: field_type})
    return types


def flat_values(config: Any) -> dict[str, Any]:
    """Option name -> value of a config instance, the composed configs' options among them (as `field_types`)."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        values.update(flat_values(value) if dataclasses.is_dataclass(value) else {field.name: value})
    return values


def build(config_class: type, values: Mapping[str, Any], complete: bool = False) -> Any:
    """A config (and the configs it composes) from flat option values; other keys are ignored. An option not in
    `values` takes its default, or with `complete` is a KeyError naming it (a record that must hold every one)."""
    arguments: dict[str, Any] = {}
    for field in dataclasses.fields(config_class):
        field_type = _own_types(config_class)[field.name]
        if _composed(field_type):
            arguments[field.name] = build(field_type, values, complete)
        elif field.name in values or complete:
            arguments[field.name] = values[field.name]
    return config_class(**arguments)


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
    types = _own_types(type(config))
    for field in dataclasses.fields(config):
        name, value, meta = field.name, getattr(config, field.name), field.metadata
        expected = types[name]
        if _composed(expected):  # a composed config checks its own fields
            if not isinstance(value, expected):
                raise InvalidOption(name, f"must be of type {expected.__name__}, got {value!r}")
            continue
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
