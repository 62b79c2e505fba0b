"""The whole pipeline with its Beam steps in Beam worker processes of the multi-process direct runner.

It runs under the Beam DAG runner and behind tests/helpers.py's recording proxy. (Beam's portable Job API,
as Flink and Spark run Python, is tests/pipeline/test_kubeflow_run.py's: a job service and an external SDK
worker pool under the compiled Kubeflow spec.) tests/beam_workers.py says how worker processes are traced.
"""

import json
import os
import sys

import pytest

from tests.beam_workers import BEAM_COMPONENTS, assert_beam_components_ran_in_workers, component_windows, job_service_and_worker_pool
from tests.conftest import GATE_OFF, ONE_STREAM, SMALL
from tests.helpers import run_behind_proxy
from video_datasets import demo


@pytest.mark.e2e
def test_whole_run_on_the_beam_dag_runner_and_worker_processes_asks_the_network_for_nothing(demo_dataset, tmp_path, worker_trace):
    """`run --runner beam` with the multi-process direct runner, behind the recording proxy.

    The Beam DAG runner's orchestrating pipeline and every component's pipeline run on the local engine
    (pipeline/beam_engine.py), the components' work in worker processes, and none of them asks for Prism.
    (The local DAG runner starts no Beam pipeline of its own; the components' are the same under both.)
    """
    output_dir = str(tmp_path / "out")
    command = [
        sys.executable,
        "pipeline_runner.py",
        "run",
        "--runner",
        "beam",
        "--data-root",
        demo_dataset(3, 1),
        "--output-dir",
        output_dir,
        *SMALL,
        "--epochs",
        "1",
        *ONE_STREAM,
        *GATE_OFF,
        "--direct_num_workers=2",
        "--direct_running_mode=multi_processing",
    ]
    exit_code, requests, log, run_pid = run_behind_proxy(command, tmp_path / "home", tmp_path / "run.log", timeout=900)
    assert exit_code == 0, log
    assert requests == []
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        summary = json.load(summary_file)
    assert summary["blessed"] is True
    assert os.path.exists(os.path.join(summary["pushed_model_dir"], "saved_model.pb"))
    assert summary["splits"] == {"train": 8, "eval": 4, "test": len(demo.DEMO_CLASSES)}
    assert {*BEAM_COMPONENTS, "Trainer", "Pusher"} <= set(summary["seconds"]["components"])
    assert_beam_components_ran_in_workers(worker_trace, component_windows(os.path.join(output_dir, "metadata.sqlite")), {run_pid})


def test_services_are_stopped_even_when_the_run_fails(tmp_path):
    started = {}
    with pytest.raises(RuntimeError, match="the run failed"):
        with job_service_and_worker_pool(str(tmp_path), started) as (job_port, pool_port):
            assert job_port != pool_port
            raise RuntimeError("the run failed")
    assert set(started) == {"job_service", "worker_pool"}
    for process, _ in started.values():
        assert process.returncode is not None
        with pytest.raises(ProcessLookupError):  # nothing of its process group is left
            os.killpg(process.pid, 0)
