"""The project's image (Dockerfile), built once per test run, and containers of it that the tests start and
always remove. Every engine detail (Podman or Docker, the VM's runtime flags, the base image) is
tools/container's; this module only calls it.

The image is built once per test run: the first pytest-xdist worker that needs it builds it, under a file lock
that also keeps builds of other checkouts apart, and leaves its id in the run's shared temporary folder for
the other worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence

from pipeline.configs import DEFAULT_IMAGE
from tests.helpers import PROJECT_ROOT

CONTAINER_TOOL = os.path.join(PROJECT_ROOT, "tools", "container")
# What `make image` tags and `compile` names by default; VIDEO_PIPELINE_IMAGE builds and tests another tag.
IMAGE_TAG = os.environ.get("VIDEO_PIPELINE_IMAGE", DEFAULT_IMAGE)
BUILD_LOCK = "/tmp/video-action-pipeline-image.lock"
BUILD_TIMEOUT_SECONDS = 30 * 60


def container_tool(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """tools/container with `args` (the engine with this machine's flags), its output captured."""
    result = subprocess.run([CONTAINER_TOOL, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"tools/container {' '.join(args[:3])} ... exited with {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def build_image(log_path: str, built_marker: str) -> str:
    """Builds IMAGE_TAG from this checkout (make image's command) and returns the image's id, unless another
    process of this test run (a pytest-xdist worker) wrote it to `built_marker` already: even with every layer
    cached a build took 45-100 s on 2 busy cores, most of it checking the 3.2 GB venv that the final stage copies."""
    with open(BUILD_LOCK, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if os.path.exists(built_marker):
                with open(built_marker) as marker:
                    return marker.read().strip()
            with open(log_path, "w") as log:
                process = subprocess.run(
                    [CONTAINER_TOOL, "build", IMAGE_TAG], stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_SECONDS
                )
            if process.returncode != 0:
                with open(log_path) as log:
                    raise AssertionError(f"the image build failed ({process.returncode}):\n{log.read()[-4000:]}")
            image_id = container_tool("image", "inspect", "--format", "{{.Id}}", IMAGE_TAG).stdout.strip()
            with open(built_marker, "w") as marker:
                marker.write(image_id)
            return image_id
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def volume(path: str | os.PathLike, read_only: bool = False) -> list[str]:
    """A host folder mounted at the same path inside, so that the URIs written on either side hold on both."""
    path = os.path.abspath(path)
    return ["--volume", f"{path}:{path}" + (":ro" if read_only else "")]


@contextlib.contextmanager
def container(image: str, command: Sequence[str], options: Sequence[str] = (), log_path: str | None = None) -> Iterator[subprocess.Popen]:
    """A container of `image` running `command` (the image's ENTRYPOINT gets it as arguments, unless `options`
    has --entrypoint), its output in `log_path`; stopped and removed when the block ends, however it ends.
    The engine's client is a process of its own, apart from the container: hence the stop by name."""
    name = f"video-pipeline-test-{uuid.uuid4().hex[:12]}"
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [CONTAINER_TOOL, "run", "--rm", "--name", name, *options, image, *command],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            container_tool("stop", "--time", "5", name, check=False, timeout=120)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        container_tool("rm", "--force", name, check=False, timeout=120)
        if log_path:
            log.close()


def run_in_container(image: str, command: Sequence[str], options: Sequence[str], log_path: str, timeout: float) -> int:
    """Runs `command` in a container of `image` to its end (at most `timeout` s) and returns its exit status."""
    with container(image, command, options, log_path) as process:
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return -1


def entrypoint_option(command: Sequence[str]) -> list[str]:
    """What Kubernetes does with a container's `command`: it replaces the image's ENTRYPOINT."""
    return ["--entrypoint", json.dumps(list(command))]
