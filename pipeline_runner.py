"""Command line of the video action recognition pipeline.

    python pipeline_runner.py run --demo --output-dir DIR                the whole pipeline on built-in demo data
    python pipeline_runner.py run --data-root DIR --output-dir DIR       the whole pipeline on your videos
    python pipeline_runner.py extract --data-root DIR --output-dir DIR   videos -> frame-feature Examples only
    python pipeline_runner.py compile --output-file pipeline.json        a Kubeflow Pipelines v2 spec
    python pipeline_runner.py infer --videos DIR --model-dir SERVING_DIR --output-dir DIR
                                                                         a pushed model over new videos (Beam)

The `tfx` command line's pipeline file is tfx_pipeline.py (VIDEO_* variables,
see pipeline/tfx_cli.py).

Run a command with --help for its options.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from typing import Any, Callable, Iterator, Optional

from pipeline import interrupts

if __name__ == "__main__":
    interrupts.stop_on_ctrl_c()  # first, before any thread starts (NumPy's start when it is imported)

from frame_path.config import ExtractionConfig  # noqa: E402
from inference.model import add_views_option  # noqa: E402
from inference.timeline import add_timeline_options, timeline_config_of  # noqa: E402
from pipeline import configs, flink, options, runner  # noqa: E402
from trainer.hparams import tunable_fields  # noqa: E402
from typed_config import bounds_text  # noqa: E402

# Loggers of this project that report progress at INFO; everything else (TFX,
# Beam, TensorFlow) only speaks up for errors: their warnings are mostly deprecations.
_PROJECT_LOGGERS = ("components", "pipeline", "trainer", "inference", "video_datasets", "pipeline_runner")


def _add_extraction_options(parser: argparse.ArgumentParser, data_root_required: bool = True, trains: bool = True) -> None:
    parser.add_argument("--data-root", required=data_root_required, help="folder of videos: train.csv/test.csv + train/ test/ (Keras example layout) or UCF101 class folders")
    parser.add_argument("--output-dir", required=True, help="where the pipeline root, the metadata store and run_summary.json go")
    options.add_arguments(parser, ExtractionConfig, default_notes={"weights": "; none with --demo"})
    options.add_arguments(parser, configs.SpanConfig, leave_out=() if trains else ("train_spans",))


def _add_hparam_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, help="training epochs at most (default: trainer/hparams.py's, 100)")
    parser.add_argument("--hparam", action="append", default=[], metavar="NAME=VALUE", help="a model hyperparameter of trainer/hparams.py's HParams (VALUE read as JSON: 0.001, true), one of: " + ", ".join(f"{field.name} (default {json.dumps(field.default)}{'; ' + bounds_text(field) if bounds_text(field) else ''})" for field in tunable_fields()) + "; repeatable")


_BEAM_OPTIONS_HELP = (
    "Beam's own options (--direct_num_workers=2, --direct_running_mode=multi_processing, --beam_runner=DataflowRunner "
    "...) are passed to the Beam pipelines of the components; Beam's --runner is spelled --beam_runner here. An option "
    "that neither this command nor Beam knows is refused; what follows -- goes to Beam unchecked."
)


# The tag `make image` gives the project's image (tools/container); a cluster needs it pushed to a registry.
DEFAULT_IMAGE = "localhost/video-action-pipeline:latest"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="the whole pipeline: extract, validate, transform, train, evaluate, push",
        description="Runs the whole pipeline (VideoExampleGen, StatisticsGen, SchemaGen, ExampleValidator, Transform, "
        "Trainer, Evaluator, Pusher) and writes OUTPUT_DIR/run_summary.json and OUTPUT_DIR/report/. " + _BEAM_OPTIONS_HELP,
    )
    _add_extraction_options(run, data_root_required=False)
    run.add_argument("--demo", action="store_true", help="use the built-in demo dataset (generated into OUTPUT_DIR/demo_data, offline); implies --weights none unless given")
    run.add_argument("--runner", choices=runner.ORCHESTRATORS, default="local", help="orchestrate with LocalDagRunner or the Beam DAG runner; flink: LocalDagRunner with every Beam step a job of a Flink cluster (make flink-up) (default: %(default)s)")
    _add_flink_master_option(run)
    _add_hparam_options(run)
    run.add_argument("--tune", action="store_true", help="run the TFX Tuner (KerasTuner, trainer/tuner.py's small search) before the Trainer, which then trains with its best hyperparameters")
    options.add_arguments(run, configs.GateConfig)
    run.add_argument("--serving-dir", help="where blessed models are pushed, one numbered folder each (default: OUTPUT_DIR/serving)")
    run.add_argument("--no-cache", action="store_true", help="run every component again even when its inputs did not change")
    run.set_defaults(handler=run_command)

    extract = commands.add_parser(
        "extract",
        help="decode videos and write DenseNet121 frame-feature TFRecords (train/eval/test)",
        description="Runs a TFX pipeline of just the VideoExampleGen component with LocalDagRunner "
        "and writes OUTPUT_DIR/run_summary.json. " + _BEAM_OPTIONS_HELP,
    )
    _add_extraction_options(extract, trains=False)
    extract.add_argument("--no-cache", action="store_true", help="extract again even when the clips and settings did not change")
    _add_engine_option(extract)
    extract.set_defaults(handler=extract_command)

    compile_parser = commands.add_parser(
        "compile",
        help="write a Kubeflow Pipelines v2 spec (KubeflowV2DagRunner) of the whole pipeline",
        description="Compiles the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines. Nothing is read or run "
        "here: URIs are used by the cluster. Build the image from the Dockerfile first. Beam options "
        "(--beam_runner=DataflowRunner --project=..., --beam_runner=PortableRunner --job_endpoint=...) go to the "
        "Beam components, as with run; without them each Beam step runs inside its own container.",
    )
    compile_parser.add_argument("--output-file", required=True, help="where to write the pipeline JSON")
    _add_spec_options(compile_parser)
    compile_parser.add_argument("--data-root", default="gs://YOUR_BUCKET/ucf101", help="videos URI, as for run (default: %(default)s)")
    compile_parser.add_argument("--serving-dir", help="where blessed models are pushed (default: PIPELINE_ROOT/serving)")
    options.add_arguments(compile_parser, ExtractionConfig)
    options.add_arguments(compile_parser, configs.SpanConfig)
    _add_hparam_options(compile_parser)
    compile_parser.add_argument("--tune", action="store_true", help="put the TFX Tuner in front of the Trainer, as run --tune")
    options.add_arguments(compile_parser, configs.GateConfig)
    compile_parser.add_argument("--gpus", type=int, default=0, help="GPUs the Trainer asks for (default: %(default)s)")
    compile_parser.add_argument("--gpu-type", help="accelerator type, e.g. NVIDIA_TESLA_T4 (Vertex) or nvidia.com/gpu (self-hosted KFP)")
    compile_parser.add_argument("--extraction-gpus", action="store_true", help="give VideoExampleGen the same GPUs as the Trainer")
    compile_parser.add_argument("--cpu-limit", type=float, help="CPU limit of the GPU components, e.g. 8")
    compile_parser.add_argument("--memory-limit-gb", type=float, help="memory limit of the GPU components in GB, e.g. 32")
    _add_engine_option(compile_parser)
    compile_parser.set_defaults(handler=compile_command)

    infer = commands.add_parser(
        "infer",
        help="apply a pushed model to new, unlabelled videos on Beam (predictions.jsonl)",
        description="Decodes, samples and encodes each video as VideoExampleGen did for the model's training clips (the "
        "settings its model_info.json records), classifies it with the model's serving_default signature, and writes "
        "OUTPUT_DIR/predictions.jsonl (one JSON object a video: video, predictions [{label, probability}] most likely "
        "first, frames; or error) and OUTPUT_DIR/inference_summary.json. " + _BEAM_OPTIONS_HELP,
    )
    _add_inference_options(infer)
    infer.add_argument("--output-dir", required=True, help="where predictions.jsonl and inference_summary.json go")
    _add_engine_option(infer)
    infer.set_defaults(handler=infer_command)

    compile_inference = commands.add_parser(
        "compile-inference",
        help="write a Kubeflow Pipelines v2 spec of infer (one VideoInference step)",
        description="Compiles infer as a one-step TFX pipeline (the VideoInference component) for Kubeflow Pipelines v2 / "
        "Vertex AI Pipelines; its InferenceResult artifact holds predictions.jsonl and inference_summary.json. Nothing is "
        "read here: paths are the cluster's. Beam options go to the step, as with compile.",
    )
    compile_inference.add_argument("--output-file", required=True, help="where to write the pipeline JSON")
    _add_inference_options(compile_inference)
    _add_spec_options(compile_inference)
    compile_inference.set_defaults(handler=compile_inference_command)
    return parser


def _add_flink_master_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flink-master", metavar="HOST:PORT", help=f"with --runner flink: the Flink JobManager's REST address (default: {flink.DEFAULT_FLINK_MASTER}, make flink-up's cluster)")


def _add_engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runner", choices=("local", "flink"), default="local", help="where the Beam work runs: the local engine, or jobs of a Flink cluster through Beam's Flink job server (pipeline/flink.py; make flink-up) (default: %(default)s)")
    _add_flink_master_option(parser)


def _add_inference_options(parser: argparse.ArgumentParser) -> None:
    """What infer and compile-inference take alike: inference.batch.InferenceRequest's fields."""
    parser.add_argument("--videos", nargs="+", required=True, metavar="PATH", help="folders (their video files, recursively), video files or glob patterns")
    parser.add_argument("--model-dir", required=True, help="a serving directory (its newest version is used) or one version folder")
    parser.add_argument("--top-k", type=int, default=5, help="how many actions to keep per video (default: %(default)s)")
    parser.add_argument("--weights", help="backbone weights file, as for run (default: the ones the model was trained with)")
    add_views_option(parser)
    add_timeline_options(parser)


def _add_spec_options(parser: argparse.ArgumentParser) -> None:
    """The image, the artifact root and the schema of a compiled spec, for compile and compile-inference."""
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="container image with this project, built from the Dockerfile (default: %(default)s, what `make image` tags)")
    parser.add_argument("--pipeline-root", default="gs://YOUR_BUCKET/pipeline_root", help="artifact root URI (default: %(default)s)")
    parser.add_argument("--pipeline-spec-2-1", action="store_true", help="write PipelineSpec schema 2.1.0, which recent self-hosted Kubeflow Pipelines 2.x backends need (default: 2.0.0, what Vertex AI runs)")


def _configure_logging() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("absl").setLevel(logging.ERROR)  # absl sets its own level
    # Beam logs every error a DoFn raises, with its traceback, and raises it again: main
    # reports it (one line for a user error or a full disk, the traceback otherwise).
    logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)
    for name in _PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def _hparams(args: argparse.Namespace) -> dict[str, Any]:
    """--hparam NAME=VALUE (values read as JSON where they parse) and --epochs; checked by HParams when the pipeline is built."""
    hparams: dict[str, Any] = {}
    for item in args.hparam:
        name, separator, value = item.partition("=")
        if not separator:
            raise UsageError(f"--hparam takes NAME=VALUE, got {item!r}")
        if name in hparams:
            raise UsageError(f"--hparam {name} is given twice: give it once")
        try:
            hparams[name] = json.loads(value)
        except ValueError:
            hparams[name] = value
    if args.epochs is not None:
        if "epochs" in hparams:
            raise UsageError("--epochs and --hparam epochs both set the epochs: give one")
        hparams["epochs"] = args.epochs
    return hparams


def _output_dir(args: argparse.Namespace) -> str:
    return runner.prepare_output_dir(os.path.abspath(args.output_dir), "--output-dir")


def _pipeline_config(args: argparse.Namespace, data_root: str, demo: bool = False) -> configs.PipelineConfig:
    """What run, extract and compile share; extract has no training options and takes the defaults."""
    extraction = options.given_values(args, ExtractionConfig)
    if demo:
        extraction.setdefault("weights", runner.DEMO_WEIGHTS)
    return options.pipeline_config(
        data_root,
        extraction,
        options.given_values(args, configs.GateConfig),
        _hparams(args) if hasattr(args, "hparam") else {},
        getattr(args, "tune", False),
        options.given_values(args, configs.SpanConfig),
        epochs_given=getattr(args, "epochs", None) is not None,
    )


def _settings(args: argparse.Namespace, pipeline: configs.PipelineConfig, output_dir: str, **settings: Any) -> runner.RunSettings:
    return runner.RunSettings(output_dir=output_dir, pipeline=pipeline, beam_args=tuple(args.beam_args), enable_cache=not args.no_cache, **settings)


def _print_summary(summary: dict[str, Any], output_dir: str) -> None:
    from pipeline import reporting

    print(reporting.console_summary(summary, reporting.summary_path(output_dir)))


def run_command(args: argparse.Namespace) -> int:
    if args.demo and args.data_root:
        raise UsageError("--demo and --data-root exclude each other")
    if not args.demo and not args.data_root:
        raise UsageError("give --data-root DIR, or --demo for the built-in demo dataset")
    demo_root = runner.demo_data_root(os.path.abspath(args.output_dir), generate=False)
    pipeline_config = _pipeline_config(args, demo_root if args.demo else os.path.abspath(args.data_root), demo=args.demo)
    output_dir = _output_dir(args)  # after the options' checks: a bad one leaves no output dir and no demo data
    if args.demo:
        runner.demo_data_root(output_dir)
    settings = _settings(
        args,
        pipeline_config,
        output_dir,
        serving_dir=os.path.abspath(args.serving_dir) if args.serving_dir else None,
        orchestrator=args.runner,
        flink_master=args.flink_master,
    )
    _print_summary(runner.run(settings), settings.output_dir)
    return 0


def extract_command(args: argparse.Namespace) -> int:
    settings = _settings(args, _pipeline_config(args, os.path.abspath(args.data_root)), _output_dir(args), orchestrator=args.runner, flink_master=args.flink_master)
    _print_summary(runner.run(settings, last_component="VideoExampleGen"), settings.output_dir)
    return 0


def _check_output_file(path: str) -> None:
    """A local --output-file must go into an existing, writable folder (checked before TFX is imported)."""
    if "://" in path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--output-file {path} is a folder; give the path of the JSON file to write")
    if not os.path.isdir(folder):
        raise UsageError(f"--output-file {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--output-file {path}: folder {folder} is not writable")


def compile_command(args: argparse.Namespace) -> int:
    # Every check before TFX is imported (a minute on 2 cores).
    if args.gpus < 0:
        raise UsageError("--gpus must be 0 or more")
    if not args.image.strip():
        raise UsageError("--image must name the container image built from this project's Dockerfile (TFX's stock image lacks its code)")
    _check_output_file(args.output_file)
    pipeline_config = _pipeline_config(args, args.data_root)
    if pipeline_config.spans.train_spans > 1:
        # TFX 1.21's KubeflowV2DagRunner compiles no resolver function ("Only single Channel is supported").
        raise UsageError("--train-spans: a Kubeflow Pipelines v2 spec trains on its run's span only; train on several spans with run or the tfx CLI")
    from pipeline.kubeflow import compile_pipeline

    path = compile_pipeline(
        args.output_file,
        pipeline_config,
        image=args.image,
        pipeline_root=args.pipeline_root,
        serving_model_dir=args.serving_dir or args.pipeline_root.rstrip("/") + "/serving",
        gpus=args.gpus,
        gpu_type=args.gpu_type,
        extraction_gpus=args.extraction_gpus,
        cpu_limit=args.cpu_limit,
        memory_limit_gb=args.memory_limit_gb,
        pipeline_spec_2_1=args.pipeline_spec_2_1,
        beam_pipeline_args=list(flink.beam_args_for(args.runner, args.flink_master, args.beam_args)),
    )
    print(f"Kubeflow Pipelines v2 spec: {path} (image {args.image}, Trainer GPUs {args.gpus})")
    return 0


def _inference_request(args: argparse.Namespace) -> Any:
    """The InferenceRequest of infer's and compile-inference's options; UsageError for a bad value."""
    from inference.batch import InferenceRequest

    try:
        return InferenceRequest(tuple(args.videos), args.model_dir, args.top_k, args.weights, timeline_config_of(args), args.views)
    except ValueError as error:
        raise UsageError(str(error)) from None


def infer_command(args: argparse.Namespace) -> int:
    request = _inference_request(args)
    from pipeline import inference

    request = dataclasses.replace(request, model_dir=os.path.abspath(request.model_dir))
    settings = inference.InferenceSettings(request, os.path.abspath(args.output_dir), tuple(args.beam_args), args.runner, args.flink_master)
    summary = inference.run_inference(settings)
    print(inference.console_summary(summary))
    return 1 if summary["failed"] else 0  # as predict.py: a script can tell that a video could not be read


def compile_inference_command(args: argparse.Namespace) -> int:
    request = _inference_request(args)
    from pipeline.kubeflow import compile_inference_pipeline

    path = compile_inference_pipeline(
        args.output_file, request, image=args.image, pipeline_root=args.pipeline_root,
        pipeline_spec_2_1=args.pipeline_spec_2_1, beam_pipeline_args=args.beam_args,
    )
    print(f"Kubeflow Pipelines v2 spec of the inference: {path} (image {args.image})")
    return 0


class UsageError(Exception):
    """A bad option value; the message is shown as it is."""


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is the whole story: printed as one line, no traceback."""
    from frame_path.errors import BackboneWeightsError, ExtractionError
    from inference.model import ModelDirError
    from inference.videos import VideoListError
    from trainer.errors import TrainingDiverged
    from video_datasets.manifest import DatasetError

    return (UsageError, options.OptionError, DatasetError, BackboneWeightsError, ExtractionError, TrainingDiverged, ModelDirError, VideoListError)


def _find_user_error(error: BaseException) -> BaseException | None:
    """The user error behind `error`, also when a runner wrapped it."""
    user_errors = _user_errors()
    while error is not None:
        if isinstance(error, user_errors):
            return error
        error = error.__cause__ or error.__context__
    return None


# How Beam's portable runner reports a job its engine (Flink, Spark, a job service) ended as failed.
_FAILED_JOB = re.compile(r"Pipeline (\S+) failed in state (FAILED|CANCELLED|UNRECOGNIZED): *(.*)", re.S)


def _engine_failure(error: Optional[BaseException]) -> Optional[str]:
    """One line for a Beam job that its engine failed (a lost TaskManager, a killed worker), from `error` or one it
    was raised from; None for any other error. The engine's log and UI have the whole story."""
    while error is not None:
        match = _FAILED_JOB.search(str(error))
        if match:
            reason = " ".join(match.group(3).split())[:300] or "no reason given"
            return f"the Beam job {match.group(1)} ended {match.group(2)} on its engine: {reason}"
        error = error.__cause__ or error.__context__
    return None


# A full disk, as the OS and TensorFlow's file system say it, and as SQLite does (ML Metadata's store).
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_TEXTS = ("No space left on device", "Disk quota exceeded")
_FULL_STORE_TEXT = "database or disk is full"


def _no_space_left(error: BaseException | None) -> str | None:
    """Whether `error`, or one it was raised from (Beam and TFX wrap it in theirs), says a disk is full.

    "store" where the metadata store said it (OUTPUT_DIR/metadata.sqlite), "disk" for another.
    """
    found = None
    while error is not None:
        if _FULL_STORE_TEXT in str(error):
            return "store"
        if isinstance(error, OSError) and error.errno in _NO_SPACE_ERRNOS or any(text in str(error) for text in _NO_SPACE_TEXTS):
            found = "disk"
        error = error.__cause__ or error.__context__
    return found


def _no_space_message(args: argparse.Namespace, where: str) -> str:
    """Names the output dir, and TMPDIR (Beam's temporary files) where the full one may be either."""
    if getattr(args, "output_dir", None):
        option, path = "--output-dir", os.path.abspath(args.output_dir)
    elif getattr(args, "output_file", None):
        option, path = "--output-file", os.path.abspath(args.output_file)
    else:
        from pipeline import tfx_cli

        option, path = tfx_cli.PREFIX + "OUTPUT_DIR", tfx_cli.output_dir_of()
    message = f"no space left on the device of {option} {path}"
    tmpdir = tempfile.gettempdir()
    if where == "disk" and _device(path) != _device(tmpdir):
        message += f" or of TMPDIR {tmpdir}"
    return message


def _device(path: str) -> int | None:
    """The device of `path`, or of its nearest existing parent folder."""
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


_TMPDIR_PREFIX = "video-pipeline-"


def _remove_stale_tmpdirs(parent: str) -> None:
    """Removes the private temp folders in `parent` of runs that ended without removing theirs (SIGKILL, a crash).

    A run holds the lock in its folder while it lives (runner.take_lock), so a
    folder whose lock can be taken is a dead run's. Folders without a lock file,
    or with an empty one (a run that is just starting), are left alone.
    """
    for name in os.listdir(parent):
        lock_path = os.path.join(parent, name, runner.LOCK_FILE)
        if not name.startswith(_TMPDIR_PREFIX) or runner.lock_holder(lock_path) == "?":
            continue
        try:
            lock = runner.take_lock(lock_path)
        except OSError:  # removed meanwhile by another run
            continue
        if lock is not None:  # silently: housekeeping, not news (an error must stay one line)
            with lock:
                shutil.rmtree(os.path.dirname(lock_path), ignore_errors=True)


@contextlib.contextmanager
def _private_tmpdir() -> Iterator[None]:
    """TFX's Beam executors pack ~50 MB into $TMPDIR per component run on a named runner (pipeline/beam_engine.py) and never remove it: keep $TMPDIR in one folder, removed at exit (also at Ctrl-C, or by the next run)."""
    _remove_stale_tmpdirs(tempfile.gettempdir())
    run_tmpdir = tempfile.mkdtemp(prefix=_TMPDIR_PREFIX)
    lock = runner.take_lock(os.path.join(run_tmpdir, runner.LOCK_FILE))
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"], tempfile.tempdir = run_tmpdir, None
    try:
        with interrupts.clean_up_on_interrupt(lambda: shutil.rmtree(run_tmpdir, ignore_errors=True)):
            yield
    finally:
        if previous is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = previous
        tempfile.tempdir = None
        shutil.rmtree(run_tmpdir, ignore_errors=True)
        lock.close()


def _tfx_cli_run(args: argparse.Namespace) -> int:
    from pipeline.tfx_cli import output_dir_of, run_with_local_dag_runner

    summary = run_with_local_dag_runner()
    if summary is not None:
        _print_summary(summary, output_dir_of())
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
    if getattr(args, "flink_master", None) and args.runner != "flink":
        parser.error(f"--flink-master goes with --runner flink (the {args.command} command runs its Beam steps on Flink only then)")
    known = _command_options(parser, args.command)
    return _run_command(args, lambda: options.beam_args_of(unknown, passed_through, known))


def _command_options(parser: argparse.ArgumentParser, command: str) -> list[str]:
    """The option strings of `command`'s parser, for naming the closest one to a mistyped option."""
    [commands] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return options.option_strings(commands.choices[command])


def tfx_cli_main() -> int:
    """The whole pipeline of the VIDEO_* variables (tfx_pipeline.py, for the `tfx` CLI), with main's error handling."""
    return _run_command(argparse.Namespace(handler=_tfx_cli_run), lambda: [])


def _run_command(args: argparse.Namespace, beam_args: Callable[[], list[str]]) -> int:
    """Runs the command's handler; a user error, or a full disk, is one line on stderr and exit code 2."""
    _configure_logging()
    try:
        args.beam_args = beam_args()
        with _private_tmpdir():
            return args.handler(args)
    except Exception as error:
        engine_failure = _engine_failure(error)
        if engine_failure:
            print(f"error: {engine_failure}", file=sys.stderr)
            return 1
        user_error = _find_user_error(error)
        no_space = _no_space_left(error) if user_error is None else None
        if no_space:
            user_error = _no_space_message(args, no_space)
        if user_error is None:
            raise
        print(f"error: {user_error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
