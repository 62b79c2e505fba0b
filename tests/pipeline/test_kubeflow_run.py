"""The compiled Kubeflow Pipelines v2 spec of the training pipeline, executed step by step by
tests/kfp_launcher.py as the KFP launcher runs it. Paths are local; the resolver finds no blessed model (a
first run), so the Evaluator has no baseline.

In the project's image: every step a container of its own (the spec's command replaces the image's
ENTRYPOINT, as Kubernetes does), no network, only the folders that the spec's paths name mounted (at the
same paths) and no project code: what runs is what the image holds. Its Beam steps run on the local
engine inside their containers, as a spec compiled without Beam options does on a cluster; then
compile-inference's one step runs on the pushed model the same way.

As subprocesses in the image's environment (`python` is the pinned stack, the project is on PYTHONPATH,
the working directory is elsewhere), with the spec compiled with Beam options for a portable job service,
as on a cluster whose Beam steps run on Flink or Spark: tests/beam_workers.py's job service and worker
pool, whose worker processes are traced and matched with the steps' times.
"""

import json
import os

import pytest

from frame_path.config import ExtractionConfig
from pipeline.configs import GateConfig, PipelineConfig, SpecConfig
from pipeline.kubeflow import compile_pipeline
from tests.beam_workers import assert_beam_components_ran_in_workers, job_service_and_worker_pool
from tests.conftest import ONE_STREAM_HPARAMS
from tests.helpers import EXECUTED_COMPONENTS
from tests.image import IMAGE_TAG, container_tool, volume
from tests.kfp_launcher import run_spec, topological_order


def test_topological_order_puts_producers_first():
    tasks = {
        "c": {"inputs": {"artifacts": {"x": {"taskOutputArtifact": {"producerTask": "b", "outputArtifactKey": "x"}}}}},
        "b": {"dependentTasks": ["a"]},
        "a": {},
    }
    assert topological_order(tasks) == ["a", "b", "c"]


def _tiny_config(data_root):
    return PipelineConfig(
        data_root=data_root,
        extraction=ExtractionConfig.of(weights="none", max_seq_length=8, image_size=32),
        hparams={"epochs": 1, **ONE_STREAM_HPARAMS},
        gate=GateConfig(min_test_accuracy=0.0, min_lift_over_majority=-1.0),  # a 1-epoch model may be at chance
    )


def _assert_blessed_and_pushed(launcher, serving_dir):
    """Every step ran, in order, and the model was blessed and pushed."""
    outputs = launcher.outputs

    executed = [task for task, _ in launcher.executed]
    assert executed[:2] == ["VideoExampleGen", "VideoExampleGen"]  # the driver, then the executor
    assert dict(launcher.executed)["VideoExampleGen"] == "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
    assert launcher.executed[0][1] == "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"
    assert set(executed) == set(EXECUTED_COMPONENTS)
    assert executed.index("Trainer") > executed.index("Transform") and executed[-1] == "Pusher"

    examples = outputs["VideoExampleGen"]["examples"][0]
    assert json.loads(examples["metadata"]["split_names"]) == ["train", "eval", "test"]
    assert "input_fingerprint" in examples["metadata"]  # computed by the driver, kept by the executor
    for split in ("train", "eval", "test"):
        assert os.listdir(os.path.join(examples["uri"], f"Split-{split}"))
    assert os.path.exists(os.path.join(outputs["Transform"]["transform_graph"][0]["uri"], "transform_fn", "saved_model.pb"))
    blessing = outputs["Evaluator"]["blessing"][0]
    assert blessing["metadata"]["blessed"] == 1
    assert os.path.exists(os.path.join(blessing["uri"], "BLESSED"))
    pushed = outputs["Pusher"]["pushed_model"][0]
    assert pushed["metadata"]["pushed"] == 1
    versions = os.listdir(serving_dir)
    assert len(versions) == 1 and os.path.exists(os.path.join(serving_dir, versions[0], "saved_model.pb"))


@pytest.mark.e2e
def test_compiled_specs_run_step_by_step_in_the_image(tmp_path, demo_dataset, project_image):
    """Each step of the training spec in its own container of the image, to a blessed, pushed model; then the
    inference spec's step on that model. Compiled with the image's tag, as a user does (`--image`)."""
    import pipeline_runner

    assert container_tool("image", "inspect", "--format", "{{.Id}}", IMAGE_TAG).stdout.strip() == project_image  # this checkout's
    data_root = demo_dataset(3, 1)
    pipeline_root, serving_dir, log_dir = tmp_path / "pipeline_root", tmp_path / "serving", tmp_path / "logs"
    for folder in (pipeline_root, serving_dir, log_dir):
        folder.mkdir()
    spec_path = compile_pipeline(
        str(tmp_path / "pipeline.json"),
        _tiny_config(data_root),
        SpecConfig(IMAGE_TAG, str(pipeline_root)),
        serving_model_dir=str(serving_dir),
    )
    # The spec's paths, and nothing of the project: no network, as a step that must not download anything.
    mounts = ["--network", "none", *volume(data_root, read_only=True), *volume(pipeline_root), *volume(serving_dir)]
    launcher = run_spec(spec_path, log_dir, container_options=mounts)
    _assert_blessed_and_pushed(launcher, str(serving_dir))

    videos = sorted(os.path.join(data_root, "test", name) for name in os.listdir(os.path.join(data_root, "test")))[:2]
    inference_spec = str(tmp_path / "inference.json")
    inference_root = tmp_path / "inference_root"
    inference_root.mkdir()
    command = [
        "compile-inference",
        "--output-file",
        inference_spec,
        "--image",
        IMAGE_TAG,
        "--videos",
        *videos,
        "--model-dir",
        str(serving_dir),
        "--pipeline-root",
        str(inference_root),
    ]
    assert pipeline_runner.main(command) == 0
    mounts = ["--network", "none", *volume(data_root, read_only=True), *volume(serving_dir, read_only=True), *volume(inference_root)]
    inference = run_spec(inference_spec, log_dir, container_options=mounts)
    assert inference.executed == [("VideoInference", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor")]
    [result] = inference.outputs["VideoInference"]["inference_result"]
    with open(os.path.join(result["uri"], "predictions.jsonl")) as predictions_file:
        predictions = [json.loads(line) for line in predictions_file]
    assert [prediction["video"] for prediction in predictions] == videos
    assert all(prediction["predictions"] for prediction in predictions)
    assert result["metadata"]["predicted"] == 2


@pytest.mark.e2e
def test_compiled_spec_runs_step_by_step_to_a_pushed_model_with_beam_on_a_job_service(tmp_path, demo_dataset, worker_trace):
    """The spec compiled with Beam options for a portable job service (as for Flink or Spark): its Beam steps
    send their work to a job service and an external SDK worker pool, started and stopped here."""
    data_root = demo_dataset(3, 1)
    pipeline_root, serving_dir = str(tmp_path / "pipeline_root"), str(tmp_path / "serving")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    with job_service_and_worker_pool(str(log_dir)) as (job_port, pool_port):
        beam_args = [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{pool_port}",
        ]
        spec_path = compile_pipeline(
            str(tmp_path / "pipeline.json"),
            _tiny_config(data_root),
            SpecConfig("video-pipeline:test", pipeline_root),
            serving_model_dir=serving_dir,
            beam_pipeline_args=beam_args,
        )
        launcher = run_spec(spec_path, log_dir)
    _assert_blessed_and_pushed(launcher, serving_dir)
    assert_beam_components_ran_in_workers(worker_trace, launcher.windows, launcher.pids)
