"""A config dataclass offered by the front ends: command-line options and environment variables from its fields.

Each field made with typed_config.option() becomes `--field-name` on the
command line and `PREFIX_FIELD_NAME` in the environment, with its type, help,
choices and default; the dataclass itself checks the bounds. A config that
composes another (ExtractionConfig's FeatureConfig) is offered flat, its
composed config's fields by their own names. So no front end lists the
fields, and a new field reaches all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from frame_path.config import ExtractionConfig
from pipeline import configs
from trainer.hparams import HParamError, tunable_fields
from typed_config import InvalidOption, bounds_text, field_types, option_fields, parse_text


class OptionError(ValueError):
    """An option, environment variable or hyperparameter with a value that cannot work; the message names it."""


def flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def env_name(prefix: str, field_name: str) -> str:
    return prefix + field_name.upper()


def closest_option(typed: str, known: Iterable[str]) -> str | None:
    """The known option that `typed` most likely meant (`--max_seq_length`, `--imagesize` -> `--max-seq-length`,
    `--image-size`), compared with hyphens and underscores alike; None when none is close."""
    by_shape = {option.replace("_", "-").lower(): option for option in known}
    matches = difflib.get_close_matches(typed.replace("_", "-").lower(), by_shape, n=1, cutoff=0.75)
    return by_shape[matches[0]] if matches else None


def unknown_option_message(item: str, known: Iterable[str]) -> str:
    """One line for an argument no parser takes: an option (with the closest known one) or a stray word."""
    if not item.startswith("-") or item == "-":
        return f"unexpected argument {item!r}: every value belongs to an option (see --help)"
    name = item.split("=", 1)[0]
    guess = closest_option(name, known)
    return f"unknown option {name}" + (f": did you mean {guess}?" if guess else " (see --help)")


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string `parser` takes."""
    return [flag for action in parser._actions for flag in action.option_strings]


def check_output_file(path: str, option: str) -> None:
    """OptionError unless a local `path` can be written as a file: not a folder, in an existing, writable folder."""
    if "://" in path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OptionError(f"{option} {path} is a folder; give the path of the JSON file to write")
    if not os.path.isdir(folder):
        raise OptionError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OptionError(f"{option} {path}: folder {folder} is not writable")


# Beam's own --runner, spelled so on the command line of this project, whose --runner picks the orchestrator.
BEAM_RUNNER_FLAG = "--beam_runner"


def beam_args_of(unknown: Sequence[str], passed_through: Sequence[str] = (), known: Iterable[str] = ()) -> list[str]:
    """The Beam options among a command line's `unknown` arguments, with `--beam_runner` as Beam's `--runner`, then
    `passed_through` (what came after `--`) unchecked.

    Beam drops an option none of its options classes declares, with a warning the
    console hides; so each one is parsed here as Beam's PipelineOptions parses
    them (every registered options class) and an argument Beam would not take is
    an OptionError naming the closest of `known` (the command's own options) or
    Beam's. Beam is imported only when there is something to check.
    """
    renamed = ["--runner" + item[len(BEAM_RUNNER_FLAG) :] if item.split("=", 1)[0] == BEAM_RUNNER_FLAG else item for item in unknown]
    if renamed:
        beam_parser = _beam_parser()
        _, refused = beam_parser.parse_known_args(renamed)
        if refused:
            raise OptionError(unknown_option_message(refused[0], [*known, BEAM_RUNNER_FLAG, *option_strings(beam_parser)]))
    return [*renamed, *passed_through]


def _beam_parser() -> argparse.ArgumentParser:
    """The parser of Beam's PipelineOptions.get_all_options (every options class imported so far), whose errors are OptionErrors."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    class Parser(_BeamArgumentParser):
        def error(self, message: str) -> Any:
            raise OptionError(message)

    parser = Parser()
    for options_class in {str(cls): cls for cls in PipelineOptions.__subclasses__()}.values():
        options_class._add_argparse_args(parser)
    return parser


def add_arguments(
    parser: argparse.ArgumentParser, config_class: type, default_notes: Mapping[str, str] | None = None, leave_out: Collection[str] = ()
) -> None:
    """One option per field (but those in `leave_out`, which the command has no use for). Defaults stay None so
    that `given_values` can tell what was given."""
    types = field_types(config_class)
    for field in option_fields(config_class):
        if field.name in leave_out:
            continue
        note = (default_notes or {}).get(field.name, "")
        if bounds_text(field):
            note += "; " + bounds_text(field)
        help_text = f"{field.metadata['help']} (default: {field.default}{note})"
        if types[field.name] is bool:  # a switch: given or not
            parser.add_argument(flag(field.name), dest=field.name, action="store_true", default=None, help=help_text)
            continue
        parser.add_argument(
            flag(field.name), dest=field.name, type=types[field.name], choices=field.metadata.get("choices"), default=None, help=help_text
        )


def given_values(args: argparse.Namespace, config_class: type) -> dict[str, Any]:
    """The fields that were given on the command line (flat, as `add_arguments` offers them)."""
    return {field.name: getattr(args, field.name) for field in option_fields(config_class) if getattr(args, field.name, None) is not None}


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


@contextlib.contextmanager
def named_as(option_name: Callable[[InvalidOption], str]) -> Iterator[None]:
    """An InvalidOption (a setting out of its bounds, a bad hyperparameter) raised inside becomes an OptionError
    that names the setting as the user typed it: `option_name` is the front end's one spelling function."""
    try:
        yield
    except InvalidOption as error:
        raise OptionError(f"{option_name(error)} {error.requirement}") from None


def flag_name(error: InvalidOption) -> str:
    """A setting as the command line spells it: `--max-seq-length`, `--hparam dropout`."""
    return f"--hparam {error.option}" if isinstance(error, HParamError) else flag(error.option)


def pipeline_config(
    data_root: str,
    extraction: Mapping[str, Any],
    gate: Mapping[str, Any],
    hparams: Mapping[str, Any],
    enable_tuning: bool,
    spans: Mapping[str, Any],
) -> configs.PipelineConfig:
    """The one builder of PipelineConfig for every front end, each setting checked (InvalidOption: wrap the call in
    `named_as`). `extraction`, `gate` and `spans` hold the given fields of ExtractionConfig (FeatureConfig's
    among them), GateConfig and SpanConfig; `hparams` the given hyperparameters."""
    return configs.PipelineConfig(
        data_root=data_root,
        extraction=ExtractionConfig.of(**extraction),
        hparams=dict(hparams),
        enable_tuning=enable_tuning,
        gate=configs.GateConfig(**gate),
        spans=configs.SpanConfig(**spans),
    )


def add_hparam_arguments(parser: argparse.ArgumentParser) -> None:
    """--epochs and --hparam NAME=VALUE (read by hparams_of_flags), for the commands that train."""
    parser.add_argument("--epochs", type=int, help="training epochs at most (default: trainer/hparams.py's, 100)")
    known = ", ".join(
        f"{field.name} (default {json.dumps(field.default)}{'; ' + bounds_text(field) if bounds_text(field) else ''})"
        for field in tunable_fields()
    )
    parser.add_argument(
        "--hparam",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"a model hyperparameter of trainer/hparams.py's HParams (VALUE read as JSON: 0.001, true), one of: {known}; repeatable",
    )


def hparams_of_flags(items: Sequence[str], epochs: int | None) -> dict[str, Any]:
    """--hparam NAME=VALUE (values read as JSON where they parse) and --epochs; checked by HParams when the
    pipeline config is made."""
    hparams: dict[str, Any] = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator:
            raise OptionError(f"--hparam takes NAME=VALUE, got {item!r}")
        if name in hparams:
            raise OptionError(f"--hparam {name} is given twice: give it once")
        try:
            hparams[name] = json.loads(value)
        except ValueError:
            hparams[name] = value
    if epochs is not None:
        if "epochs" in hparams:
            raise OptionError("--epochs and --hparam epochs both set the epochs: give one")
        hparams["epochs"] = epochs
    return hparams
