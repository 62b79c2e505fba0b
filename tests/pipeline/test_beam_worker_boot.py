"""pipeline/beam_worker_boot.py as the image's ENTRYPOINT: Beam's SDK container contract (one worker, or
--worker_pool), and any other command run as given. Host processes only; tests/test_image.py runs it in
the image."""

import os
import socket
import subprocess
import sys
import time

from tests.beam_workers import _free_port, _stop
from tests.helpers import PROJECT_ROOT

BOOT = os.path.join(PROJECT_ROOT, "pipeline", "beam_worker_boot.py")


def _boot(*args, **kwargs):
    environment = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    return subprocess.run([BOOT, *args], env=environment, capture_output=True, text=True, timeout=120, **kwargs)


def test_a_command_that_is_not_a_flag_runs_as_given():
    """`podman run IMAGE python pipeline_runner.py ...` goes through the ENTRYPOINT as its arguments."""
    result = _boot("python", "-c", "import sys; print('ran', sys.argv[1:])", "x")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ran ['x']\n"


def test_the_exit_status_of_the_command_is_the_containers():
    assert _boot("python", "-c", "raise SystemExit(3)").returncode == 3


def test_setup_only_installs_nothing_and_exits():
    """Beam's boot with --setup_only installs the staged packages and exits; the image holds everything."""
    result = _boot("--setup_only", "--provision_endpoint=localhost:1", "--id=1")
    assert result.returncode == 0, result.stderr


def test_no_arguments_is_an_error_with_the_usage():
    result = _boot()
    assert result.returncode == 2
    assert "--worker_pool" in result.stderr


def test_worker_pool_serves_on_the_given_port():
    """--worker_pool starts Beam's worker pool with this boot as each worker's executable (port 50000
    unless --service_port says otherwise, so that a test on host networking can take a free port)."""
    port = _free_port()
    environment = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    process = subprocess.Popen(
        [BOOT, "--worker_pool", f"--service_port={port}"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode()
            with socket.socket() as probe:
                if probe.connect_ex(("localhost", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            raise AssertionError(f"no worker pool on port {port}")
        command = open(f"/proc/{process.pid}/cmdline", "rb").read().split(b"\0")
        assert b"apache_beam.runners.worker.worker_pool_main" in command
        assert f"--container_executable={BOOT}".encode() in command
    finally:
        _stop(process)
