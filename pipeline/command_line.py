"""From `pipeline_runner.py`'s parsed options to the typed settings its handlers run with: one function a command
(`run_settings`, `extract_settings`, `compile_settings`, `infer_settings`, `compile_inference_settings`).

Each function checks what it builds and raises an OptionError that names the option as it was typed;
nothing heavy is imported here, so that a bad option is refused before TensorFlow or TFX start.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from frame_path.config import ExtractionConfig
from inference.batch import InferenceRequest, request_of
from pipeline import configs, flink, options, runner
from pipeline.inference import InferenceSettings
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


def run_settings(args: argparse.Namespace) -> runner.RunSettings:
    """run's settings; once they are checked, the output dir is taken and, with --demo, the demo data generated in it
    (a bad option leaves neither)."""
    if args.demo == bool(args.data_root):
        raise OptionError(
            "--demo and --data-root exclude each other" if args.demo else "give --data-root DIR, or --demo for the built-in demo dataset"
        )
    demo_root = runner.demo_data_root(os.path.abspath(args.output_dir), generate=False)
    pipeline = pipeline_config(args, demo_root if args.demo else os.path.abspath(args.data_root), demo=args.demo)
    settings = _pipeline_run(args, pipeline, serving_dir=os.path.abspath(args.serving_dir) if args.serving_dir else None)
    if args.demo:
        runner.demo_data_root(settings.output_dir)
    return settings


def extract_settings(args: argparse.Namespace) -> runner.RunSettings:
    """extract's settings (no training options: their defaults), the output dir taken."""
    return _pipeline_run(args, pipeline_config(args, os.path.abspath(args.data_root), trains=False))


def _pipeline_run(args: argparse.Namespace, pipeline: configs.PipelineConfig, **settings: Any) -> runner.RunSettings:
    return runner.RunSettings(
        output_dir=runner.prepare_output_dir(os.path.abspath(args.output_dir), "--output-dir"),
        pipeline=pipeline,
        beam_args=tuple(args.beam_args),
        enable_cache=not args.no_cache,
        orchestrator=args.runner,
        flink_master=args.flink_master,
        **settings,
    )


@dataclasses.dataclass(frozen=True)
class CompileSettings:
    """compile's: the pipeline and where its spec runs, written to `output_file`."""

    output_file: str
    pipeline: configs.PipelineConfig
    spec: configs.SpecConfig
    gpu: configs.GpuConfig
    serving_dir: str
    beam_args: tuple[str, ...]


def compile_settings(args: argparse.Namespace) -> CompileSettings:
    spec = spec_config(args)
    pipeline = pipeline_config(args, args.data_root)
    with options.named_as(options.flag_name):
        configs.check_compilable(pipeline)
        gpu = configs.GpuConfig(**options.given_values(args, configs.GpuConfig))
    serving_dir = args.serving_dir or spec.pipeline_root.rstrip("/") + "/serving"
    return CompileSettings(
        args.output_file, pipeline, spec, gpu, serving_dir, flink.beam_args_for(args.runner, args.flink_master, args.beam_args)
    )


def infer_settings(args: argparse.Namespace) -> InferenceSettings:
    request = dataclasses.replace(inference_request(args), model_dir=os.path.abspath(args.model_dir))
    return InferenceSettings(request, os.path.abspath(args.output_dir), tuple(args.beam_args), args.runner, args.flink_master)


@dataclasses.dataclass(frozen=True)
class CompileInferenceSettings:
    """compile-inference's: the request and where its one-step spec runs, written to `output_file`."""

    output_file: str
    request: InferenceRequest
    spec: configs.SpecConfig
    beam_args: tuple[str, ...]


def compile_inference_settings(args: argparse.Namespace) -> CompileInferenceSettings:
    return CompileInferenceSettings(args.output_file, inference_request(args), spec_config(args), tuple(args.beam_args))


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
