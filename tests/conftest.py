"""Test-wide setup: every temporary file of the run goes to one folder that is removed at the end."""
import os
import shutil
import sys
import tempfile

# Beam components copy ~50 MB into $TMPDIR per run and never clean it up.
_RUN_TMPDIR = tempfile.mkdtemp(prefix="video-pipeline-tests-")
os.environ["TMPDIR"] = _RUN_TMPDIR
tempfile.tempdir = None  # re-read TMPDIR
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_RUN_TMPDIR, ignore_errors=True)
