"""What every front end does around its command (`pipeline_runner.py`, and tfx_pipeline.py for the `tfx` CLI):
quiet logging, a private TMPDIR, and each failure sorted into one line on stderr or a traceback.

    return front_end.run_command(lambda: handler(args), output_location)

Exit codes: the command's own (0; 1 when `infer` could not read a video), 1 for a Beam job its engine failed
(a lost TaskManager: the engine's log has the story), 2 for a user error (a bad option, bad data, a full disk).
Any other error is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator

import run_files
from pipeline import interrupts
from pipeline.options import OptionError

# Loggers of this project that report progress at INFO; everything else (TFX,
# Beam, TensorFlow) only speaks up for errors: their warnings are mostly deprecations.
_PROJECT_LOGGERS = ("components", "pipeline", "trainer", "inference", "video_datasets", "pipeline_runner")


def configure_logging() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("absl").setLevel(logging.ERROR)  # absl sets its own level
    # Beam logs every error a DoFn raises, with its traceback, and raises it again: run_command
    # reports it (one line for a user error or a full disk, the traceback otherwise).
    logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)
    for name in _PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def run_command(command: Callable[[], int], output_location: Callable[[], tuple[str, str]]) -> int:
    """Runs `command` in a private TMPDIR; a user error, or a full disk, is one line on stderr and exit code 2, a Beam
    job its engine failed one line and exit code 1. `output_location()`: the option that names where the command
    writes and its path, for the full-disk line."""
    configure_logging()
    try:
        with private_tmpdir():
            return command()
    except Exception as error:
        engine_failure = engine_failure_line(error)
        if engine_failure:
            print(f"error: {engine_failure}", file=sys.stderr)
            return 1
        user_error = find_user_error(error)
        no_space = no_space_left(error) if user_error is None else None
        if no_space:
            user_error = no_space_message(*output_location(), no_space)
        if user_error is None:
            raise
        print(f"error: {user_error}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is the whole story: printed as one line, no traceback."""
    from frame_path.errors import BackboneWeightsError, ExtractionError
    from inference.model import ModelDirError
    from inference.videos import VideoListError
    from trainer.errors import TrainingDiverged
    from video_datasets.manifest import DatasetError

    return (OptionError, DatasetError, BackboneWeightsError, ExtractionError, TrainingDiverged, ModelDirError, VideoListError)


def _raised_from(error: BaseException | None) -> Iterator[BaseException]:
    """`error`, then the error it was raised from, and so on: Beam and TFX wrap the error that tells the story."""
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def find_user_error(error: BaseException | None) -> BaseException | None:
    """The user error behind `error`, also when a runner wrapped it."""
    user_errors = _user_errors()
    return next((cause for cause in _raised_from(error) if isinstance(cause, user_errors)), None)


# How Beam's portable runner reports a job its engine (Flink, Spark, a job service) ended as failed.
_FAILED_JOB = re.compile(r"Pipeline (\S+) failed in state (FAILED|CANCELLED|UNRECOGNIZED): *(.*)", re.S)


def engine_failure_line(error: BaseException | None) -> str | None:
    """One line for a Beam job that its engine failed (a lost TaskManager, a killed worker), from `error` or one it
    was raised from; None for any other error. The engine's log and UI have the whole story."""
    for cause in _raised_from(error):
        match = _FAILED_JOB.search(str(cause))
        if match:
            reason = " ".join(match.group(3).split())[:300] or "no reason given"
            return f"the Beam job {match.group(1)} ended {match.group(2)} on its engine: {reason}"
    return None


# A full disk, as the OS and TensorFlow's file system say it, and as SQLite does (ML Metadata's store).
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_TEXTS = ("No space left on device", "Disk quota exceeded")
_FULL_STORE_TEXT = "database or disk is full"


def no_space_left(error: BaseException | None) -> str | None:
    """Whether `error`, or one it was raised from (Beam and TFX wrap it in theirs), says a disk is full.

    "store" where the metadata store said it (OUTPUT_DIR/metadata.sqlite), "disk" for another.
    """
    found = None
    for cause in _raised_from(error):
        if _FULL_STORE_TEXT in str(cause):
            return "store"
        if isinstance(cause, OSError) and cause.errno in _NO_SPACE_ERRNOS or any(text in str(cause) for text in _NO_SPACE_TEXTS):
            found = "disk"
    return found


def no_space_message(option: str, path: str, where: str) -> str:
    """Names the output (`option` `path`), and TMPDIR (Beam's temporary files) where the full one may be either."""
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

    A run holds the lock in its folder while it lives (run_files.take_lock), so a
    folder whose lock can be taken is a dead run's. Folders without a lock file,
    or with an empty one (a run that is just starting), are left alone.
    """
    for name in os.listdir(parent):
        lock_path = os.path.join(parent, name, run_files.LOCK_FILE)
        if not name.startswith(_TMPDIR_PREFIX) or run_files.lock_holder(lock_path) == "?":
            continue
        try:
            lock = run_files.take_lock(lock_path)
        except OSError:  # removed meanwhile by another run
            continue
        if lock is not None:  # silently: housekeeping, not news (an error must stay one line)
            with lock:
                shutil.rmtree(os.path.dirname(lock_path), ignore_errors=True)


@contextlib.contextmanager
def private_tmpdir() -> Iterator[None]:
    """TFX's Beam executors pack ~50 MB into $TMPDIR per component run on a named runner (pipeline/beam_engine.py)
    and never remove it: keep $TMPDIR in one folder, removed at exit (also at Ctrl-C, or by the next run)."""
    _remove_stale_tmpdirs(tempfile.gettempdir())
    run_tmpdir = tempfile.mkdtemp(prefix=_TMPDIR_PREFIX)
    lock = run_files.take_lock(os.path.join(run_tmpdir, run_files.LOCK_FILE))
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
