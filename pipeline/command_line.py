"""From `pipeline_runner.py`'s parsed options to the typed settings its handlers run with.

Each function checks what it builds and raises an OptionError that names the option as it was typed;
nothing heavy is imported here, so that a bad option is refused before TensorFlow or TFX start.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from frame_path.config import ExtractionConfig
from inference.batch import InferenceRequest, request_of
from pipeline import configs, options, runner
from pipeline.options import OptionError


def pipeline_config(args: argparse.Namespace, data_root: str, *, demo: bool = False, trains: bool = True) -> configs.PipelineConfig:
    """What run, extract and compile share; extract has no training options and takes their defaults."""
    extraction = options.given_values(args, ExtractionConfig)
    if demo:
        extraction.setdefault("weights", runner.DEMO_WEIGHTS)
    hparams = options.hparams_of_flags(args.hparam, args.epochs) if trains else {}

    def option_name(error: options.InvalidOption) -> str:
        return "--epochs" if trains and error.option == "epochs" and args.epochs is not None else options.flag_name(error)

    gate, spans = options.given_values(args, configs.GateConfig), options.given_values(args, configs.SpanConfig)
    with options.named_as(option_name):
        return options.pipeline_config(data_root, extraction, gate, hparams, trains and args.tune, spans)


def run_settings(args: argparse.Namespace, pipeline: configs.PipelineConfig, output_dir: str, **settings: Any) -> runner.RunSettings:
    """run's and extract's settings: `pipeline`, written to `output_dir`, with the command's engine and cache options."""
    return runner.RunSettings(
        output_dir=output_dir,
        pipeline=pipeline,
        beam_args=tuple(args.beam_args),
        enable_cache=not args.no_cache,
        orchestrator=args.runner,
        flink_master=args.flink_master,
        **settings,
    )


def spec_config(args: argparse.Namespace) -> configs.SpecConfig:
    """compile's and compile-inference's spec settings, checked, once a local --output-file is known to go into an
    existing, writable folder."""
    options.check_output_file(args.output_file, "--output-file")
    with options.named_as(options.flag_name):
        return configs.SpecConfig(**options.given_values(args, configs.SpecConfig))


def inference_request(args: argparse.Namespace) -> InferenceRequest:
    """infer's and compile-inference's request; OptionError for a bad value."""
    try:
        return request_of(args)
    except ValueError as error:
        raise OptionError(str(error)) from None


def output_location(args: argparse.Namespace) -> tuple[str, str]:
    """The option naming where the command writes, and its path, for the full-disk line."""
    return (
        ("--output-dir", os.path.abspath(args.output_dir))
        if getattr(args, "output_dir", None)
        else ("--output-file", os.path.abspath(args.output_file))
    )


def gpu_config(args: argparse.Namespace, pipeline: configs.PipelineConfig) -> configs.GpuConfig:
    """compile's GPU settings, checked, with what a spec cannot hold of `pipeline`."""
    with options.named_as(options.flag_name):
        configs.check_compilable(pipeline)
        return configs.GpuConfig(**options.given_values(args, configs.GpuConfig))
