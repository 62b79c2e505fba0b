"""Test-wide setup (one TMPDIR removed at the end) and the shared tiny pipeline runs."""
import json
import os
import shutil
import sys
import tempfile

import pytest

# Beam components copy ~50 MB into $TMPDIR per run and never clean it up.
_RUN_TMPDIR = tempfile.mkdtemp(prefix="video-pipeline-tests-")
os.environ["TMPDIR"] = _RUN_TMPDIR
tempfile.tempdir = None  # re-read TMPDIR
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# Imported after sys.path and TMPDIR are set.
import pipeline_runner  # noqa: E402
from video_datasets import demo  # noqa: E402

SMALL = ["--max-seq-length", "8", "--image-size", "32", "--weights", "none"]


def run_pipeline(data_root, output_dir, *options):
    """`pipeline_runner.py run` on tiny settings, in process; returns run_summary.json."""
    exit_code = pipeline_runner.main(["run", "--data-root", data_root, "--output-dir", output_dir, *SMALL, *options])
    assert exit_code == 0
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        return json.load(summary_file)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    return demo.generate_demo_dataset(str(tmp_path_factory.mktemp("data")), train_clips_per_class=6, test_clips_per_class=2)


@pytest.fixture(scope="session")
def local_runs(data_root, tmp_path_factory):
    """Three runs in one output dir: first, a retrained second, and one whose gate cannot be met."""
    output_dir = str(tmp_path_factory.mktemp("local"))
    first = run_pipeline(data_root, output_dir, "--epochs", "3", "--min-test-accuracy", "0")
    second = run_pipeline(data_root, output_dir, "--epochs", "4", "--min-test-accuracy", "0")
    unreachable = run_pipeline(data_root, output_dir, "--epochs", "4", "--min-test-accuracy", "1.01")
    return output_dir, first, second, unreachable


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_RUN_TMPDIR, ignore_errors=True)
