"""The project's image (Dockerfile, `make image`) as a user and Beam's runners start it: the locked stack
and no compiler, the demo run offline to a blessed model, and the image as Beam's SDK worker pool for a
Beam step of the pipeline. The Kubeflow steps in containers are tests/pipeline/test_kubeflow_run.py's.
Every container is started and removed here (tests/image.py)."""

import json
import os
import re
import subprocess
import sys
import time

import pytest

import pipeline_runner
from pipeline.beam_plugin import WORKER_TRACE_ENV
from tests.beam_workers import _free_port, _stop, _wait_for_port, worker_traces
from tests.conftest import SMALL
from tests.helpers import PROJECT_ROOT
from tests.image import container, run_in_container, volume
from video_datasets import demo

pytestmark = pytest.mark.e2e

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)")
STACK_PROBE = """
import importlib.metadata, json, shutil, sys
print(json.dumps({
    "python": list(sys.version_info[:2]),
    "packages": {dist.metadata["Name"].lower().replace("_", "-"): dist.version for dist in importlib.metadata.distributions()},
    "compilers": [tool for tool in ("gcc", "g++", "cc") if shutil.which(tool)],
}))
"""


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_image_holds_the_locked_stack_and_no_compiler(project_image, tmp_path):
    log_path = str(tmp_path / "probe.log")
    assert run_in_container(project_image, ["python", "-c", STACK_PROBE], ["--network", "none"], log_path, timeout=300) == 0
    with open(log_path) as log:
        probe = json.loads(log.read().strip().splitlines()[-1])
    with open(os.path.join(PROJECT_ROOT, "requirements.lock")) as lock_file:
        locked = {_canonical(match.group(1)): match.group(2) for match in map(PIN.match, lock_file) if match}
    assert probe["python"] == [3, 11]
    assert {_canonical(name): version for name, version in probe["packages"].items()} == locked  # exactly the lock
    assert probe["compilers"] == []  # the build stage's g++ stayed there


def test_the_demo_runs_offline_in_the_image_to_a_blessed_model(project_image, tmp_path):
    """The README's container command, with no network: generated demo data, the whole pipeline, pushed."""
    out = tmp_path / "out"
    out.mkdir()
    command = ["python", "pipeline_runner.py", "run", "--demo", "--output-dir", "/out/demo"]
    log_path = str(tmp_path / "demo.log")
    returncode = run_in_container(project_image, command, ["--network", "none", "--volume", f"{out}:/out"], log_path, timeout=1200)
    with open(log_path) as log:
        assert returncode == 0, log.read()[-4000:]
    with open(out / "demo" / "run_summary.json") as summary_file:
        summary = json.load(summary_file)
    assert summary["blessed"] is True
    pushed = summary["pushed_model_dir"]
    assert pushed.startswith("/out/demo/serving/")  # the container's path of the mounted folder
    assert os.path.exists(out / os.path.relpath(pushed, "/out") / "saved_model.pb")


def test_a_beam_step_runs_on_the_images_worker_pool(project_image, demo_dataset, tmp_path):
    """`IMAGE --worker_pool` (Beam's boot contract) as the external environment of a job service here:
    VideoExampleGen's Beam work runs in SDK workers inside the container, which reach the job service on
    localhost through the host's network. The same image is Dataflow's --sdk_container_image and Flink's
    and Spark's --environment_config."""
    data_root = demo_dataset(3, 1)
    output_dir, trace_dir, logs = tmp_path / "extracted", tmp_path / "worker_trace", tmp_path / "logs"
    for folder in (output_dir, trace_dir, logs):
        folder.mkdir()
    pool_port, job_port = _free_port(), _free_port()
    pool_options = [
        "--network",
        "host",
        *volume(data_root, read_only=True),
        *volume(output_dir),
        *volume(trace_dir),
        "--env",
        f"{WORKER_TRACE_ENV}={trace_dir}",
    ]
    pool_log = str(logs / "worker_pool.log")
    job_log = str(logs / "job_service.log")
    with container(project_image, ["--worker_pool", f"--service_port={pool_port}"], pool_options, pool_log) as pool:
        with open(job_log, "w") as log:
            job_service = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "apache_beam.runners.portability.local_job_service_main",
                    f"--port={job_port}",
                    f"--staging_dir={logs / 'staging'}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_for_port(pool_port, pool, pool_log, deadline=_deadline(180))
            _wait_for_port(job_port, job_service, job_log, deadline=_deadline(120))
            portable = [
                "--beam_runner=PortableRunner",
                f"--job_endpoint=localhost:{job_port}",
                "--environment_type=EXTERNAL",
                f"--environment_config=localhost:{pool_port}",
                # The launcher's stream of the job's state carries this deadline (default 60 s): the job took
                # 62 s on 2 busy cores, the workers' TensorFlow start in the container included.
                "--job_server_timeout=900",
            ]
            command = ["extract", "--data-root", data_root, "--output-dir", str(output_dir), *SMALL, *portable]
            assert pipeline_runner.main(command) == 0
        finally:
            _stop(job_service)
    with open(output_dir / "run_summary.json") as summary_file:
        summary = json.load(summary_file)
    assert summary["splits"] == {"train": 8, "eval": 4, "test": len(demo.DEMO_CLASSES)}
    traces = worker_traces(str(trace_dir))  # written only by SDK workers, and the only ones are the container's
    assert traces and any("components.video_example_gen.executor" in modules for _, modules in traces.values()), traces


def _deadline(seconds):
    return time.monotonic() + seconds
