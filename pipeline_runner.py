"""Command line of the video action recognition pipeline.

    python pipeline_runner.py extract --data-root DIR --output-dir DIR   videos -> frame-feature Examples

Run a command with --help for its options.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

from pipeline import configs

# Loggers of this project that report progress at INFO; everything else (TFX,
# Beam, TensorFlow) only speaks up for warnings.
_PROJECT_LOGGERS = ("components", "pipeline", "trainer", "video_datasets", "pipeline_runner")
logger = logging.getLogger("pipeline_runner")


def _add_extraction_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", required=True, help="folder of videos: train.csv/test.csv + train/ test/ (Keras example layout) or UCF101 class folders")
    parser.add_argument("--output-dir", required=True, help="where the pipeline root, the metadata store and run_summary.json go")
    parser.add_argument(
        "--weights",
        default=configs.WEIGHTS,
        help="DenseNet121 weights: 'imagenet' (downloaded once by Keras), 'none' (random init: offline tests only) "
        "or the path of a notop weights file (default: %(default)s)",
    )
    parser.add_argument("--sampling", choices=configs.SAMPLING_MODES, default=configs.SAMPLING, help="'uniform': frames spread over the whole clip; 'first': the first frames, as the Keras example (default: %(default)s)")
    parser.add_argument("--max-seq-length", type=int, default=configs.MAX_SEQ_LENGTH, help="frames per clip; shorter clips are zero-padded and masked (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=configs.IMAGE_SIZE, help="frames are center-cropped and resized to this square size, at least 32 (default: %(default)s)")
    parser.add_argument("--frame-batch-size", type=int, default=configs.FRAME_BATCH_SIZE, help="frames per DenseNet121 forward pass (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    extract = commands.add_parser(
        "extract",
        help="decode videos and write DenseNet121 frame-feature TFRecords (train/eval/test)",
        description="Runs a TFX pipeline of just the VideoExampleGen component with LocalDagRunner "
        "and writes OUTPUT_DIR/run_summary.json.",
    )
    _add_extraction_options(extract)
    extract.set_defaults(handler=extract_command)
    return parser


def _configure_logging() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    for name in _PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def _check_extraction_options(args: argparse.Namespace) -> None:
    """Fails fast, before any component runs, on options and data that cannot work."""
    from components.video_example_gen import backbone
    from video_datasets import manifest

    clips = manifest.read_manifest(args.data_root)
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


def _latest_artifact_uri(output_dir: str, type_name: str) -> str:
    from tfx.orchestration import metadata

    with metadata.Metadata(metadata.sqlite_metadata_connection_config(_metadata_path(output_dir))) as store:
        artifacts = store.store.get_artifacts_by_type(type_name)
    return max(artifacts, key=lambda artifact: artifact.id).uri


def extract_command(args: argparse.Namespace) -> int:
    _check_extraction_options(args)
    from tfx import v1 as tfx

    from components.video_example_gen.executor import REPORT_FILE
    from pipeline.pipeline import create_pipeline

    output_dir = os.path.abspath(args.output_dir)
    os.makedirs(output_dir, exist_ok=True)
    started = time.monotonic()
    tfx.orchestration.LocalDagRunner().run(
        create_pipeline(
            pipeline_name=configs.PIPELINE_NAME,
            pipeline_root=os.path.join(output_dir, "pipeline_root"),
            data_root=os.path.abspath(args.data_root),
            max_seq_length=args.max_seq_length,
            image_size=args.image_size,
            weights=args.weights,
            sampling=args.sampling,
            frame_batch_size=args.frame_batch_size,
            last_component="VideoExampleGen",
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(_metadata_path(output_dir)),
        )
    )
    examples_uri = _latest_artifact_uri(output_dir, "Examples")
    with open(os.path.join(examples_uri, REPORT_FILE)) as report_file:
        report = json.load(report_file)
    summary = {"examples_uri": examples_uri, **report, "seconds": {"total": round(time.monotonic() - started, 2)}}
    _write_summary(output_dir, summary)
    print(f"Examples: {examples_uri}")
    print(f"Clips per split: {report['splits']}; skipped: {len(report['skipped_videos'])}")
    for skipped in report["skipped_videos"]:
        print(f"  skipped {skipped['path']}: {skipped['reason']}")
    extraction = report["feature_extraction"]
    print(f"Backbone weights: {report['weights_id']}; {extraction['frames']} frames in {extraction['seconds']} s ({extraction['frames_per_second']} frames/s)")
    return 0


def _write_summary(output_dir: str, summary: dict[str, Any]) -> None:
    path = os.path.join(output_dir, "run_summary.json")
    with open(path, "w") as summary_file:
        json.dump(summary, summary_file, indent=2)
    print(f"Summary: {path}")


class UsageError(Exception):
    """A bad option value; the message is shown as it is."""


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is the whole story: printed as one line, no traceback."""
    from components.video_example_gen.errors import BackboneWeightsError, ExtractionError
    from video_datasets.manifest import DatasetError

    return (UsageError, DatasetError, BackboneWeightsError, ExtractionError)


def _find_user_error(error: BaseException) -> BaseException | None:
    """The user error behind `error`, also when a runner wrapped it."""
    user_errors = _user_errors()
    while error is not None:
        if isinstance(error, user_errors):
            return error
        error = error.__cause__ or error.__context__
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging()
    try:
        return args.handler(args)
    except Exception as error:
        user_error = _find_user_error(error)
        if user_error is None:
            raise
        print(f"error: {user_error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
