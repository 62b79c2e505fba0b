"""A config dataclass offered by the front ends: command-line options and environment variables from its fields.

Each field made with typed_config.option() becomes `--field-name` on the
command line and `PREFIX_FIELD_NAME` in the environment, with its type, help,
choices and default; the dataclass itself checks the bounds. So no front end
lists the fields, and a new field reaches all of them.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Collection, Mapping, Optional

from frame_path.config import ExtractionConfig
from pipeline import configs
from trainer.hparams import HParamError
from typed_config import InvalidOption, bounds_text, field_types, parse_text


class OptionError(ValueError):
    """An option, environment variable or hyperparameter with a value that cannot work; the message names it."""


def flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def env_name(prefix: str, field_name: str) -> str:
    return prefix + field_name.upper()


def add_arguments(
    parser: argparse.ArgumentParser, config_class: type, default_notes: Optional[Mapping[str, str]] = None, leave_out: Collection[str] = ()
) -> None:
    """One option per field (but those in `leave_out`, which the command has no use for). Defaults stay None so
    that `given_values` can tell what was given."""
    types = field_types(config_class)
    for field in dataclasses.fields(config_class):
        if field.name in leave_out:
            continue
        note = (default_notes or {}).get(field.name, "")
        if bounds_text(field):
            note += "; " + bounds_text(field)
        parser.add_argument(
            flag(field.name),
            dest=field.name,
            type=types[field.name],
            choices=field.metadata.get("choices"),
            default=None,
            help=f"{field.metadata['help']} (default: {field.default}{note})",
        )


def given_values(args: argparse.Namespace, config_class: type) -> dict[str, Any]:
    """The fields that were given on the command line."""
    return {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(config_class)
        if getattr(args, field.name, None) is not None
    }


def environment_values(config_class: type, prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """The fields set in `environ` as PREFIX_FIELD_NAME (empty means unset), parsed to the field's type."""
    values = {}
    for name, field_type in field_types(config_class).items():
        variable = env_name(prefix, name)
        text = environ.get(variable, "").strip()
        if not text:
            continue
        values[name] = parse_value(variable, text, field_type)
    return values


def parse_value(name: str, text: str, value_type: type) -> Any:
    """`text` as a `value_type` (str, int, finite float or bool: typed_config.parse_text); OptionError naming `name` when it is not one."""
    try:
        return parse_text(text, value_type)
    except ValueError as error:
        raise OptionError(f"{name} {error}") from None


def build(config_class: type, values: Mapping[str, Any], spelling: str = "flag", prefix: str = "") -> Any:
    """`config_class(**values)`, with a bad value reported under the name the user typed (a flag or a variable)."""
    try:
        return config_class(**values)
    except InvalidOption as error:
        name = flag(error.option) if spelling == "flag" else env_name(prefix, error.option)
        raise OptionError(f"{name} {error.requirement}") from None


def pipeline_config(
    data_root: str,
    extraction: Mapping[str, Any],
    gate: Mapping[str, Any],
    hparams: Mapping[str, Any],
    enable_tuning: bool,
    spans: Mapping[str, Any],
    *,
    spelling: str = "flag",
    prefix: str = "",
    epochs_given: bool = False,
) -> configs.PipelineConfig:
    """The one builder of PipelineConfig for every front end: each setting checked, a bad one named as the user typed it.

    `extraction`, `gate` and `spans` hold the given fields of ExtractionConfig,
    GateConfig and SpanConfig; `hparams` the --hparam values (with `epochs` from --epochs /
    PREFIX_EPOCHS when `epochs_given`).
    """
    try:
        return configs.PipelineConfig(
            data_root=data_root,
            extraction=build(ExtractionConfig, extraction, spelling, prefix),
            hparams=dict(hparams),
            enable_tuning=enable_tuning,
            gate=build(configs.GateConfig, gate, spelling, prefix),
            spans=build(configs.SpanConfig, spans, spelling, prefix),
        )
    except HParamError as error:
        epochs = error.option == "epochs" and epochs_given
        if spelling == "flag":
            name = "--epochs" if epochs else f"--hparam {error.option}"
        else:
            name = env_name(prefix, "EPOCHS") if epochs else f"{prefix}HPARAMS {error.option}"
        raise OptionError(f"{name} {error.requirement}") from None
