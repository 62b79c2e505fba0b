"""Test-wide setup (one TMPDIR removed at the end) and the shared tiny pipeline runs."""

import csv
import json
import os
import shutil
import sys
import tempfile

import cv2
import numpy as np
import pytest

# Beam components on a named runner copy ~50 MB into $TMPDIR per run, and never clean it up.
_RUN_TMPDIR = tempfile.mkdtemp(prefix="video-pipeline-tests-")
os.environ["TMPDIR"] = _RUN_TMPDIR
tempfile.tempdir = None  # re-read TMPDIR
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the project root


# Imported after sys.path and TMPDIR are set.
import pipeline_runner  # noqa: E402
from tests.helpers import PROJECT_ROOT  # noqa: E402
from video_datasets import demo  # noqa: E402

SMALL = ["--max-seq-length", "8", "--image-size", "32", "--weights", "none"]
# A tiny model may be at chance: runs that must bless it turn the absolute and the majority-class bounds off.
GATE_OFF = ["--min-test-accuracy", "0", "--min-lift-over-majority", "-1"]
# frame_streams=auto trains one model per candidate (3x the Trainer's time: the Trainer test's fixture took 351 s,
# 133 s with one). Whole-pipeline runs that do not test the choice train one; the choice is
# tests/trainer/test_stream_selection.py's, and `local_runs`' first run keeps the default.
ONE_STREAM = ["--hparam", "frame_streams=change"]
ONE_STREAM_HPARAMS = {"frame_streams": "change"}


def run_pipeline(data_root, output_dir, *options):
    """`pipeline_runner.py run` on tiny settings, in process; returns run_summary.json."""
    exit_code = pipeline_runner.main(["run", "--data-root", data_root, "--output-dir", output_dir, *SMALL, *options])
    assert exit_code == 0
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        return json.load(summary_file)


REAL_CLIPS = os.path.join(os.path.dirname(PROJECT_ROOT), "shared", "data", "real_clips")

# Clips every command must survive: skipped with these reasons (train split) ...
SKIPPED_CLIPS = {
    "v_Grow_g08_c90.avi": "empty file",
    "v_Grow_g08_c91.avi": "not a readable video (unknown container or codec)",
    "v_Grow_g08_c92.avi": "truncated",
    "v_Grow_g08_c93.avi": "no decodable frames",
    "v_Grow_g08_c94.avi": "file not found",
}
# ... or used as they are (test split): a 1080p clip and a grayscale clip.
ODD_VALID_CLIPS = {"v_Grow_g01_c90.mp4": "Grow", "v_Darken_g01_c91.avi": "Darken"}


def _write_clip(path, fourcc, width, height, num_frames, is_color=True):
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 25, (width, height), isColor=is_color)
    gradient = np.linspace(0, 255, width, dtype=np.float32)[np.newaxis, :]
    for index in range(num_frames):
        frame = np.clip(gradient * (index + 1) / num_frames + np.zeros((height, 1)), 0, 255).astype(np.uint8)
        writer.write(frame if not is_color else np.repeat(frame[..., np.newaxis], 3, axis=2))
    writer.release()


def add_hard_clips(data_root):
    """Adds the SKIPPED_CLIPS and ODD_VALID_CLIPS to a Keras-layout dataset."""
    train_dir, test_dir = os.path.join(data_root, "train"), os.path.join(data_root, "test")
    names = list(SKIPPED_CLIPS)
    open(os.path.join(train_dir, names[0]), "w").close()
    with open(os.path.join(train_dir, names[1]), "w") as text_file:
        text_file.write("this is a text file, not a video\n" * 100)
    with open(os.path.join(REAL_CLIPS, "v_Punch_g03_c01.avi"), "rb") as real_clip:
        content = real_clip.read()
    with open(os.path.join(train_dir, names[2]), "wb") as truncated:
        truncated.write(content[: len(content) // 2])
    _write_clip(os.path.join(train_dir, names[3]), "MJPG", 64, 48, num_frames=0)
    _write_clip(os.path.join(test_dir, "v_Grow_g01_c90.mp4"), "mp4v", 1920, 1080, num_frames=10)
    _write_clip(os.path.join(test_dir, "v_Darken_g01_c91.avi"), "MJPG", 96, 64, num_frames=12, is_color=False)
    with open(os.path.join(data_root, "train.csv"), "a", newline="") as train_csv:
        csv.writer(train_csv).writerows([name, "Grow"] for name in SKIPPED_CLIPS)
    with open(os.path.join(data_root, "test.csv"), "a", newline="") as test_csv:
        csv.writer(test_csv).writerows(ODD_VALID_CLIPS.items())
    return data_root


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory):
    """The one demo-data factory of the tests: `demo_dataset(train, test)` is the demo dataset with that many
    train and test clips per class, generated once per session and shared, so never to be changed;
    `demo_dataset(train, test, copy=True)` is a fresh copy of it for a test that adds or edits files.
    """
    generated: dict[tuple[int, int], str] = {}

    def make(
        train_clips_per_class: int = demo.TRAIN_CLIPS_PER_CLASS, test_clips_per_class: int = demo.TEST_CLIPS_PER_CLASS, copy: bool = False
    ) -> str:
        size = (train_clips_per_class, test_clips_per_class)
        if size not in generated:
            generated[size] = demo.generate_demo_dataset(
                str(tmp_path_factory.mktemp(f"demo_{train_clips_per_class}_{test_clips_per_class}")), *size
            )
        if not copy:
            return generated[size]
        copied = str(tmp_path_factory.mktemp("demo_copy") / "data")
        shutil.copytree(generated[size], copied)
        return copied

    return make


@pytest.fixture(scope="session")
def data_root(demo_dataset):
    """The tiny demo dataset (6 train + 2 test clips per class) plus the hard clips."""
    return add_hard_clips(demo_dataset(6, 2, copy=True))


@pytest.fixture(scope="session")
def local_runs(data_root, tmp_path_factory):
    """Two runs in one output dir: a first one and a retrained second one, with the first's blessed model as baseline.

    (A run that is not blessed, and the Tuner, are tests/pipeline/test_not_blessed.py's black-clips run.)
    """
    output_dir = str(tmp_path_factory.mktemp("local"))
    first = run_pipeline(data_root, output_dir, "--epochs", "3", *GATE_OFF)
    second = run_pipeline(data_root, output_dir, "--epochs", "4", *GATE_OFF, *ONE_STREAM)
    return output_dir, first, second


@pytest.fixture(scope="session")
def project_image(tmp_path_factory):
    """The id of the project's image built from this checkout (tests/image.py: once per run, shared)."""
    from tests.image import build_image

    # Under pytest-xdist each worker's base folder is in the run's: the marker is shared by the run's workers only.
    base = tmp_path_factory.getbasetemp()
    run_folder = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return build_image(str(tmp_path_factory.mktemp("image") / "build.log"), str(run_folder / "project_image.id"))


@pytest.fixture
def worker_trace(tmp_path, monkeypatch):
    """A folder where every Beam worker process started meanwhile writes its trace (tests/beam_workers.py reads them).

    Worker processes inherit this environment (the direct runner's directly, the pool's through the boot).
    """
    from pipeline.beam_plugin import WORKER_TRACE_ENV

    trace_dir = str(tmp_path / "worker_trace")
    monkeypatch.setenv(WORKER_TRACE_ENV, trace_dir)
    # Workers import this project's code by module path, whatever their working directory.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [PROJECT_ROOT, os.environ.get("PYTHONPATH")])))
    return trace_dir


# The test modules that use `local_runs` (checked at collection): under pytest-xdist they share a worker, so
# that its three runs are made once.
LOCAL_RUNS_MODULES = {"tests/pipeline/test_pipeline_runs.py", "tests/test_hardening.py", "tests/test_predict.py", "tests/test_infer.py"}


def pytest_collection_modifyitems(items):
    """Every test that needs the whole-pipeline runs of `local_runs` is `e2e`, so `-m "not e2e"` stays fast."""
    for item in items:
        if "local_runs" in item.fixturenames:
            item.add_marker(pytest.mark.e2e)
            module = item.nodeid.split("::", 1)[0]
            assert module in LOCAL_RUNS_MODULES, f"{module} uses local_runs: add it to LOCAL_RUNS_MODULES"


def pytest_xdist_make_scheduler(config, log):
    """`make test` runs on both cores (-n 2): a module's tests on one worker, so that module fixtures run once,
    and the LOCAL_RUNS_MODULES on one. (xdist_group marks would say it, but pytest 9.2 ignores the node ids
    pytest-xdist 3.8 rewrites for them: measured, every module split over both workers.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "local_runs" if module in LOCAL_RUNS_MODULES else module

    return ByModule(config, log)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_RUN_TMPDIR, ignore_errors=True)
