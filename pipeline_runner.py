"""Command line of the video action recognition pipeline.

    python pipeline_runner.py run --demo --output-dir DIR                the whole pipeline on built-in demo data
    python pipeline_runner.py run --data-root DIR --output-dir DIR       the whole pipeline on your videos
    python pipeline_runner.py extract --data-root DIR --output-dir DIR   videos -> frame-feature Examples only
    python pipeline_runner.py compile --output-file pipeline.json        a Kubeflow Pipelines v2 spec

Without arguments (as `tfx pipeline create` / `tfx run create --engine local`
run it) it runs the whole pipeline configured by VIDEO_* environment variables
(see pipeline/tfx_cli.py).

Run a command with --help for its options.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Optional

from pipeline import configs

# Loggers of this project that report progress at INFO; everything else (TFX,
# Beam, TensorFlow) only speaks up for errors: their warnings are mostly deprecations.
_PROJECT_LOGGERS = ("components", "pipeline", "trainer", "video_datasets", "pipeline_runner")
logger = logging.getLogger("pipeline_runner")


def _add_extraction_options(parser: argparse.ArgumentParser, data_root_required: bool = True) -> None:
    parser.add_argument("--data-root", required=data_root_required, help="folder of videos: train.csv/test.csv + train/ test/ (Keras example layout) or UCF101 class folders")
    parser.add_argument("--output-dir", required=True, help="where the pipeline root, the metadata store and run_summary.json go")
    parser.add_argument(
        "--weights",
        help="DenseNet121 weights: 'imagenet' (downloaded once by Keras), 'none' (random init: offline tests only) "
        f"or the path of a notop weights file (default: {configs.WEIGHTS}; none with --demo)",
    )
    parser.add_argument("--sampling", choices=configs.SAMPLING_MODES, default=configs.SAMPLING, help="'uniform': frames spread over the whole clip; 'first': the first frames, as the Keras example (default: %(default)s)")
    parser.add_argument("--max-seq-length", type=int, default=configs.MAX_SEQ_LENGTH, help="frames per clip; shorter clips are zero-padded and masked (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=configs.IMAGE_SIZE, help="frames are center-cropped and resized to this square size, at least 32 (default: %(default)s)")
    parser.add_argument("--frame-batch-size", type=int, default=configs.FRAME_BATCH_SIZE, help="frames per DenseNet121 forward pass (default: %(default)s)")
    parser.add_argument("--precision", choices=configs.PRECISIONS, default=configs.PRECISION, help="DenseNet121 compute precision; bfloat16 is faster on hardware with bfloat16 units, see benchmarks/README.md (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="the whole pipeline: extract, validate, transform, train, evaluate, push",
        description="Runs the whole pipeline (VideoExampleGen, StatisticsGen, SchemaGen, ExampleValidator, Transform, "
        "Trainer, Evaluator, Pusher) and writes OUTPUT_DIR/run_summary.json. Options this command does not know "
        "and that are spelled as Beam options (--direct_num_workers=2, --direct_running_mode=multi_processing, "
        "--runner=DataflowRunner ...) are passed to the Beam pipelines of the components.",
    )
    _add_extraction_options(run, data_root_required=False)
    run.add_argument("--demo", action="store_true", help="use the built-in demo dataset (generated into OUTPUT_DIR/demo_data, offline); implies --weights none unless given")
    run.add_argument("--runner", choices=("local", "beam"), default="local", help="orchestrate with LocalDagRunner or the Beam DAG runner (default: %(default)s)")
    run.add_argument("--epochs", type=int, help="training epochs (default: trainer/model.py's)")
    run.add_argument("--hparam", action="append", default=[], metavar="NAME=VALUE", help="a model hyperparameter of trainer/model.py (projection_dim, dense_dim, num_heads, num_layers, dropout, learning_rate, batch_size, early_stopping_patience); repeatable")
    run.add_argument("--min-test-accuracy", type=float, default=configs.MIN_TEST_ACCURACY, help="the Evaluator blesses a model only at this test accuracy or above (default: %(default)s)")
    run.add_argument("--serving-dir", help="where blessed models are pushed, one numbered folder each (default: OUTPUT_DIR/serving)")
    run.add_argument("--no-cache", action="store_true", help="run every component again even when its inputs did not change")
    run.set_defaults(handler=run_command)

    extract = commands.add_parser(
        "extract",
        help="decode videos and write DenseNet121 frame-feature TFRecords (train/eval/test)",
        description="Runs a TFX pipeline of just the VideoExampleGen component with LocalDagRunner "
        "and writes OUTPUT_DIR/run_summary.json.",
    )
    _add_extraction_options(extract)
    extract.set_defaults(handler=extract_command)

    compile_parser = commands.add_parser(
        "compile",
        help="write a Kubeflow Pipelines v2 spec (KubeflowV2DagRunner) of the whole pipeline",
        description="Compiles the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines. Nothing is read or run "
        "here: URIs are used by the cluster. Build the image from the Dockerfile first.",
    )
    compile_parser.add_argument("--output-file", required=True, help="where to write the pipeline JSON")
    compile_parser.add_argument("--image", default="video-action-recognition:latest", help="container image with this project (default: %(default)s)")
    compile_parser.add_argument("--pipeline-root", default="gs://YOUR_BUCKET/pipeline_root", help="artifact root URI (default: %(default)s)")
    compile_parser.add_argument("--data-root", default="gs://YOUR_BUCKET/ucf101", help="videos URI, as for run (default: %(default)s)")
    compile_parser.add_argument("--serving-dir", help="where blessed models are pushed (default: PIPELINE_ROOT/serving)")
    compile_parser.add_argument("--weights", default=configs.WEIGHTS, help="DenseNet121 weights, as for run (default: %(default)s)")
    compile_parser.add_argument("--gpus", type=int, default=0, help="GPUs the Trainer asks for (default: %(default)s)")
    compile_parser.add_argument("--gpu-type", help="accelerator type, e.g. NVIDIA_TESLA_T4 (Vertex) or nvidia.com/gpu (self-hosted KFP)")
    compile_parser.add_argument("--extraction-gpus", action="store_true", help="give VideoExampleGen the same GPUs as the Trainer")
    compile_parser.set_defaults(handler=compile_command)
    return parser


def _configure_logging() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("absl").setLevel(logging.ERROR)  # absl sets its own level
    for name in _PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def _check_extraction_options(args: argparse.Namespace) -> None:
    """Fails fast, before any component runs, on options and data that cannot work."""
    from components.video_example_gen import backbone
    from video_datasets import manifest

    clips = manifest.read_manifest(args.data_root)
    args.weights = args.weights or configs.WEIGHTS
    if args.max_seq_length < 1:
        raise UsageError("--max-seq-length must be at least 1")
    if args.image_size < 32:
        raise UsageError("--image-size must be at least 32 (DenseNet121's smallest input)")
    if args.frame_batch_size < 1:
        raise UsageError("--frame-batch-size must be at least 1")
    backbone.weights_id(args.weights, configs.RANDOM_INIT_SEED)  # a missing weights file fails here
    if args.weights == "imagenet":
        # Fetches the weights into the Keras cache before any worker needs them,
        # so that offline the run stops here with one line, not in a Beam worker.
        backbone.build_backbone(args.weights, 32, configs.RANDOM_INIT_SEED)
    logger.info("Dataset %s: %d clips %s", args.data_root, len(clips), manifest.count_per_split(clips))
    if args.weights == "none":
        logger.warning("Backbone weights: NONE (random init). Features are not pretrained; accuracy will not mean much.")


def _metadata_path(output_dir: str) -> str:
    return os.path.join(output_dir, "metadata.sqlite")


def _run_pipeline(args: argparse.Namespace, last_component: Optional[str] = None, **pipeline_options: Any) -> dict[str, Any]:
    """Runs the pipeline (or its first components) and returns its summary."""
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline
    from pipeline.run_summary import summarize_run

    output_dir = os.path.abspath(args.output_dir)
    os.makedirs(output_dir, exist_ok=True)
    pipeline = create_pipeline(
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=os.path.join(output_dir, "pipeline_root"),
        data_root=os.path.abspath(args.data_root),
        max_seq_length=args.max_seq_length,
        image_size=args.image_size,
        weights=args.weights,
        sampling=args.sampling,
        frame_batch_size=args.frame_batch_size,
        precision=args.precision,
        last_component=last_component,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(_metadata_path(output_dir)),
        **pipeline_options,
    )
    started = time.time()
    if getattr(args, "runner", "local") == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

        BeamDagRunner().run(pipeline)
    else:
        tfx.orchestration.LocalDagRunner().run(pipeline)
    summary = summarize_run(_metadata_path(output_dir), configs.PIPELINE_NAME, since_ms=int(started * 1000))
    summary["seconds"]["total"] = round(time.time() - started, 2)
    return summary


def extract_command(args: argparse.Namespace) -> int:
    _check_extraction_options(args)
    summary = _run_pipeline(args, last_component="VideoExampleGen")
    _write_summary(args.output_dir, summary)
    return 0


def _parse_hparams(args: argparse.Namespace) -> dict[str, Any]:
    hparams: dict[str, Any] = {}
    for item in args.hparam:
        name, separator, value = item.partition("=")
        if not separator:
            raise UsageError(f"--hparam takes NAME=VALUE, got {item!r}")
        try:
            hparams[name] = json.loads(value)
        except ValueError:
            hparams[name] = value
    if args.epochs is not None:
        hparams["epochs"] = args.epochs
    from pipeline.pipeline import trainer_config

    try:
        trainer_config(hparams, args.max_seq_length)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from error
    return hparams


def run_command(args: argparse.Namespace) -> int:
    if args.demo:
        if args.data_root:
            raise UsageError("--demo and --data-root exclude each other")
        from video_datasets import demo

        args.data_root = os.path.join(args.output_dir, "demo_data")
        # Generated once: re-generating would change file times and defeat the cache.
        if not os.path.exists(os.path.join(args.data_root, "train.csv")):
            demo.generate_demo_dataset(args.data_root)
        if args.weights is None:
            args.weights = "none"
    elif not args.data_root:
        raise UsageError("give --data-root DIR, or --demo for the built-in demo dataset")
    _check_extraction_options(args)
    hparams = _parse_hparams(args)
    serving_dir = os.path.abspath(args.serving_dir or os.path.join(args.output_dir, "serving"))
    summary = _run_pipeline(
        args,
        hparams=hparams,
        serving_model_dir=serving_dir,
        min_test_accuracy=args.min_test_accuracy,
        enable_cache=not args.no_cache,
        beam_pipeline_args=args.beam_args,
    )
    if not summary["blessed"]:
        summary["not_blessed_because"] = summary["validation_failures"] or ["the Evaluator did not bless the model"]
    from pipeline.report import write_report

    summary["report"] = write_report(summary, os.path.join(os.path.abspath(args.output_dir), "report"))
    _write_summary(args.output_dir, summary)
    return 0


def compile_command(args: argparse.Namespace) -> int:
    from pipeline.kubeflow import compile_pipeline

    if args.gpus < 0:
        raise UsageError("--gpus must be 0 or more")
    path = compile_pipeline(
        args.output_file,
        image=args.image,
        pipeline_root=args.pipeline_root,
        data_root=args.data_root,
        serving_model_dir=args.serving_dir or args.pipeline_root.rstrip("/") + "/serving",
        gpus=args.gpus,
        gpu_type=args.gpu_type,
        extraction_gpus=args.extraction_gpus,
        weights=args.weights,
    )
    print(f"Kubeflow Pipelines v2 spec: {path} (image {args.image}, Trainer GPUs {args.gpus})")
    return 0


def _write_summary(output_dir: str, summary: dict[str, Any]) -> None:
    path = os.path.join(output_dir, "run_summary.json")
    with open(path, "w") as summary_file:
        json.dump(summary, summary_file, indent=2)
    print(_human_summary(summary, path))


def _human_summary(summary: dict[str, Any], path: str) -> str:
    splits, extraction = summary["splits"], summary["feature_extraction"]
    lines = [
        "",
        f"Run summary ({path})",
        f"  clips        train {splits['train']}, eval {splits['eval']}, test {splits['test']}; skipped {len(summary['skipped_videos'])}",
    ]
    lines += [f"    skipped {item['path']}: {item['reason']}" for item in summary["skipped_videos"]]
    pretrained = "" if summary["weights"] != "none" else "  (NOT pretrained: random init)"
    lines.append(f"  backbone     DenseNet121, weights {summary['weights_id']}{pretrained}")
    lines.append(f"  extraction   {extraction['frames']} frames in {extraction['seconds']} s ({extraction['frames_per_second']} frames/s)")
    lines.append(f"  examples     {summary['examples_uri']}")
    if "test_accuracy" in summary:
        lines.append(f"  test         accuracy {summary['test_accuracy']:.3f} on {summary['test_examples']} clips")
        lines += [
            f"    {label:<20} precision {figures['precision']:.2f}  recall {figures['recall']:.2f}  support {figures['support']}"
            for label, figures in summary["per_class"].items()
        ]
        baseline = "against the last blessed model" if summary["baseline_model_uri"] else "no earlier blessed model"
        verdict = "BLESSED" if summary["blessed"] else "NOT blessed: " + "; ".join(summary["not_blessed_because"])
        lines.append(f"  evaluator    {verdict} ({baseline})")
        lines.append(f"  pushed       {summary['pushed_model_dir'] or 'nothing'}")
    seconds = summary["seconds"]
    per_component = ", ".join(f"{component} {value}" for component, value in seconds["components"].items())
    lines.append(f"  seconds      total {seconds['total']} ({per_component})")
    if "report" in summary:
        lines.append(f"  report       {summary['report']['report']}")
    if summary["cached_components"]:
        lines.append(f"  from cache   {', '.join(summary['cached_components'])}")
    return "\n".join(lines)


class UsageError(Exception):
    """A bad option value; the message is shown as it is."""


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is the whole story: printed as one line, no traceback."""
    from components.video_example_gen.errors import BackboneWeightsError, ExtractionError
    from pipeline.tfx_cli import ConfigError
    from video_datasets.manifest import DatasetError

    return (UsageError, ConfigError, DatasetError, BackboneWeightsError, ExtractionError)


def _find_user_error(error: BaseException) -> BaseException | None:
    """The user error behind `error`, also when a runner wrapped it."""
    user_errors = _user_errors()
    while error is not None:
        if isinstance(error, user_errors):
            return error
        error = error.__cause__ or error.__context__
    return None


def _split_beam_args(unknown: list[str]) -> list[str]:
    """Unknown options spelled as Beam's (--name_with_underscores[=value]) go to Beam; others are errors."""
    beam_args = []
    for item in unknown:
        name = item.split("=", 1)[0]
        if item.startswith("--") and "-" in name[2:]:
            raise UsageError(f"unknown option {name} (see --help)")
        beam_args.append(item.replace("--beam_runner", "--runner", 1) if name == "--beam_runner" else item)
    return beam_args


@contextlib.contextmanager
def _private_tmpdir():
    """Beam copies ~50 MB into $TMPDIR per component run and never removes it: keep it in one folder, removed at exit."""
    run_tmpdir = tempfile.mkdtemp(prefix="video-pipeline-")
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"], tempfile.tempdir = run_tmpdir, None
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = previous
        tempfile.tempdir = None
        shutil.rmtree(run_tmpdir, ignore_errors=True)


def _tfx_cli_run(args: argparse.Namespace) -> int:
    from pipeline.tfx_cli import run_with_local_dag_runner

    run_with_local_dag_runner()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if argv is None and len(sys.argv) == 1:
        # `tfx pipeline create|update` and `tfx run create --engine local` run this file without arguments.
        args, unknown = argparse.Namespace(handler=_tfx_cli_run), []
    else:
        args, unknown = parser.parse_known_args(argv)
        if unknown and args.command != "run":
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    _configure_logging()
    try:
        args.beam_args = _split_beam_args(unknown)
        with _private_tmpdir():
            return args.handler(args)
    except Exception as error:
        user_error = _find_user_error(error)
        if user_error is None:
            raise
        print(f"error: {user_error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
