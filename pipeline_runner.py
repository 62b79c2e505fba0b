"""Command line of the video action recognition pipeline.

    python pipeline_runner.py run --demo --output-dir DIR                the whole pipeline on built-in demo data
    python pipeline_runner.py run --data-root DIR --output-dir DIR       the whole pipeline on your videos
    python pipeline_runner.py extract --data-root DIR --output-dir DIR   videos -> frame-feature Examples only
    python pipeline_runner.py compile --output-file pipeline.json        a Kubeflow Pipelines v2 spec
    python pipeline_runner.py infer --videos DIR --model-dir SERVING_DIR --output-dir DIR
                                                                         a pushed model over new videos (Beam)

Run a command with --help for its options. The `tfx` command line's pipeline file is tfx_pipeline.py.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipeline import interrupts

if __name__ == "__main__":
    interrupts.stop_on_ctrl_c()  # first, before any thread starts (NumPy's start when it is imported)

from frame_path.config import ExtractionConfig  # noqa: E402
from inference.batch import add_request_options  # noqa: E402
from pipeline import command_line, configs, flink, front_end, options, runner  # noqa: E402
from pipeline.inference import InferenceSettings  # noqa: E402


def _add_extraction_options(parser: argparse.ArgumentParser, data_root_required: bool = True, trains: bool = True) -> None:
    parser.add_argument(
        "--data-root",
        required=data_root_required,
        help="folder of videos: train.csv/test.csv + train/ test/ (Keras example layout) or UCF101 class folders",
    )
    parser.add_argument("--output-dir", required=True, help="where the pipeline root, the metadata store and run_summary.json go")
    options.add_arguments(parser, ExtractionConfig, default_notes={"weights": "; none with --demo"})
    options.add_arguments(parser, configs.SpanConfig, leave_out=() if trains else ("train_spans",))


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    options.add_hparam_arguments(parser)
    parser.add_argument(
        "--tune",
        action="store_true",
        help="run the TFX Tuner (trainer/tuner.py's small KerasTuner search) first; the Trainer takes its best hyperparameters",
    )
    options.add_arguments(parser, configs.GateConfig)


_BEAM_OPTIONS_HELP = (
    "Beam's own options (--direct_num_workers=2, --direct_running_mode=multi_processing, --beam_runner=DataflowRunner "
    "...) are passed to the Beam pipelines of the components; Beam's --runner is spelled --beam_runner here. An option "
    "that neither this command nor Beam knows is refused; what follows -- goes to Beam unchecked."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_run_and_extract(commands)
    infer = commands.add_parser(
        "infer",
        help="apply a pushed model to new, unlabelled videos on Beam (predictions.jsonl)",
        description="Decodes, samples and encodes each video as VideoExampleGen did for the model's training clips (the "
        "settings its model_info.json records), classifies it with the model's serving_default signature, and writes "
        "OUTPUT_DIR/predictions.jsonl (one JSON object a video: video, predictions [{label, probability}] most likely "
        "first, frames; or error) and OUTPUT_DIR/inference_summary.json. " + _BEAM_OPTIONS_HELP,
    )
    add_request_options(infer)
    infer.add_argument("--output-dir", required=True, help="where predictions.jsonl and inference_summary.json go")
    flink.add_engine_options(infer)
    infer.set_defaults(settings=command_line.infer_settings, handler=infer_command)

    _add_kubeflow_commands(commands)
    return parser


def _add_run_and_extract(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="the whole pipeline: extract, validate, transform, train, evaluate, push",
        description="Runs the whole pipeline (VideoExampleGen, StatisticsGen, SchemaGen, ExampleValidator, Transform, "
        "Trainer, Evaluator, Pusher) and writes OUTPUT_DIR/run_summary.json and OUTPUT_DIR/report/. " + _BEAM_OPTIONS_HELP,
    )
    _add_extraction_options(run, data_root_required=False)
    run.add_argument(
        "--demo",
        action="store_true",
        help="use the built-in demo dataset (generated into OUTPUT_DIR/demo_data, offline); implies --weights none unless given",
    )
    flink.add_engine_options(
        run,
        runner.ORCHESTRATORS,
        "orchestrate with LocalDagRunner or the Beam DAG runner; flink: LocalDagRunner with every Beam step a job of a "
        "Flink cluster (make flink-up)",
    )
    _add_training_options(run)
    run.add_argument("--serving-dir", help="where blessed models are pushed, one numbered folder each (default: OUTPUT_DIR/serving)")
    run.add_argument("--no-cache", action="store_true", help="run every component again even when its inputs did not change")
    run.set_defaults(settings=command_line.run_settings, handler=run_command)

    extract = commands.add_parser(
        "extract",
        help="decode videos and write DenseNet121 frame-feature TFRecords (train/eval/test)",
        description="Runs a TFX pipeline of just the VideoExampleGen component with LocalDagRunner "
        "and writes OUTPUT_DIR/run_summary.json. " + _BEAM_OPTIONS_HELP,
    )
    _add_extraction_options(extract, trains=False)
    extract.add_argument("--no-cache", action="store_true", help="extract again even when the clips and settings did not change")
    flink.add_engine_options(extract)
    extract.set_defaults(settings=command_line.extract_settings, handler=extract_command)


def _add_kubeflow_commands(commands: Any) -> None:
    compile_parser = commands.add_parser(
        "compile",
        help="write a Kubeflow Pipelines v2 spec (KubeflowV2DagRunner) of the whole pipeline",
        description="Compiles the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines. Nothing is read or run "
        "here: URIs are used by the cluster. Build the image from the Dockerfile first. Beam options "
        "(--beam_runner=DataflowRunner --project=..., --beam_runner=PortableRunner --job_endpoint=...) go to the "
        "Beam components, as with run; without them each Beam step runs inside its own container.",
    )
    compile_parser.add_argument("--output-file", required=True, help="where to write the pipeline JSON")
    options.add_arguments(compile_parser, configs.SpecConfig)
    compile_parser.add_argument("--data-root", default="gs://YOUR_BUCKET/ucf101", help="videos URI, as for run (default: %(default)s)")
    compile_parser.add_argument("--serving-dir", help="where blessed models are pushed (default: PIPELINE_ROOT/serving)")
    options.add_arguments(compile_parser, ExtractionConfig)
    options.add_arguments(compile_parser, configs.SpanConfig)
    _add_training_options(compile_parser)
    options.add_arguments(compile_parser, configs.GpuConfig)
    flink.add_engine_options(compile_parser)
    compile_parser.set_defaults(settings=command_line.compile_settings, handler=compile_command)

    compile_inference = commands.add_parser(
        "compile-inference",
        help="write a Kubeflow Pipelines v2 spec of infer (one VideoInference step)",
        description="Compiles infer as a one-step TFX pipeline (the VideoInference component) for Kubeflow Pipelines v2 / "
        "Vertex AI Pipelines; its InferenceResult artifact holds predictions.jsonl and inference_summary.json. Nothing is "
        "read here: paths are the cluster's. Beam options go to the step, as with compile.",
    )
    compile_inference.add_argument("--output-file", required=True, help="where to write the pipeline JSON")
    add_request_options(compile_inference)
    options.add_arguments(compile_inference, configs.SpecConfig)
    compile_inference.set_defaults(settings=command_line.compile_inference_settings, handler=compile_inference_command)


def run_command(settings: runner.RunSettings) -> int:
    runner.print_summary(runner.run(settings), settings.output_dir)
    return 0


def extract_command(settings: runner.RunSettings) -> int:
    runner.print_summary(runner.run(settings, last_component="VideoExampleGen"), settings.output_dir)
    return 0


def compile_command(settings: command_line.CompileSettings) -> int:
    from pipeline.kubeflow import compile_pipeline  # after every check: TFX takes a minute to import on 2 cores

    path = compile_pipeline(
        settings.output_file,
        settings.pipeline,
        settings.spec,
        serving_model_dir=settings.serving_dir,
        gpu=settings.gpu,
        beam_pipeline_args=settings.beam_args,
    )
    print(f"Kubeflow Pipelines v2 spec: {path} (image {settings.spec.image}, Trainer GPUs {settings.gpu.gpus})")
    return 0


def infer_command(settings: InferenceSettings) -> int:
    from pipeline import inference

    summary = inference.run_inference(settings)
    print(inference.console_summary(summary))
    return 1 if summary["failed"] else 0  # as predict.py: a script can tell that a video could not be read


def compile_inference_command(settings: command_line.CompileInferenceSettings) -> int:
    from pipeline.kubeflow import compile_inference_pipeline

    path = compile_inference_pipeline(settings.output_file, settings.request, settings.spec, beam_pipeline_args=settings.beam_args)
    print(f"Kubeflow Pipelines v2 spec of the inference: {path} (image {settings.spec.image})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: what follows `--` goes to Beam unchecked; any other option this command does not know
    must be one of Beam's (see options.beam_args_of)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    passed_through: list[str] = []
    if "--" in argv:
        argv, passed_through = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if misuse := flink.flink_master_misuse(args.command, getattr(args, "runner", "local"), getattr(args, "flink_master", None)):
        parser.error(misuse)
    [commands] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    known = options.option_strings(commands.choices[args.command])

    def command() -> int:
        args.beam_args = options.beam_args_of(unknown, passed_through, known)
        return args.handler(args.settings(args))  # every option checked before the handler starts

    return front_end.run_command(command, lambda: command_line.output_location(args))


if __name__ == "__main__":
    sys.exit(main())
