"""pipeline/kubeflow.py: the compiled KFP v2 spec, read back with the kfp package. No pipeline runs."""
import json

import pytest
from google.protobuf import json_format
from kfp import components as kfp_components
from kfp.pipeline_spec import pipeline_spec_pb2

from frame_path.config import ExtractionConfig
from pipeline import configs
from pipeline.configs import PipelineConfig
from pipeline.kubeflow import DEFAULT_GPU_TYPE, compile_pipeline

IMAGE = "europe-docker.pkg.dev/project/repo/video-pipeline:test"
# Nothing exists at these paths: compiling must not touch data or the network.
PIPELINE_ROOT = "gs://no-such-bucket/pipeline_root"
DATA_ROOT = "gs://no-such-bucket/videos"
SERVING_DIR = "gs://no-such-bucket/serving"
COMPONENT_IDS = (
    "VideoExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "Transform",
    "Trainer",
    "latest_blessed_model_resolver",
    "Evaluator",
    "Pusher",
)


class CompiledSpec:
    """A compiled file, parsed strictly into KFP's protos and loaded with kfp's component loader."""

    def __init__(self, path):
        with open(path) as spec_file:
            self.job_dict = json.load(spec_file)
        # ignore_unknown_fields=False: every field must be a PipelineJob field.
        self.job = json_format.ParseDict(self.job_dict, pipeline_spec_pb2.PipelineJob())
        self.component = kfp_components.load_component_from_text(json.dumps(self.job_dict["pipelineSpec"]))
        self.spec = self.component.pipeline_spec
        self.deployment = json_format.ParseDict(
            json_format.MessageToDict(self.spec.deployment_spec), pipeline_spec_pb2.PipelineDeploymentConfig()
        )

    @property
    def tasks(self):
        return self.spec.root.dag.tasks

    def executor(self, task_name):
        return self.deployment.executors[self.spec.components[self.tasks[task_name].component_ref.name].executor_label]

    def container_executors(self):
        return {label: executor.container for label, executor in self.deployment.executors.items() if executor.HasField("container")}

    def constant(self, task_name, parameter):
        """A task's constant parameter: `constant` (schema 2.1) or the older `constant_value`."""
        value = self.tasks[task_name].inputs.parameters[parameter].runtime_value
        if value.HasField("constant"):
            return json_format.MessageToDict(value.constant)
        return getattr(value.constant_value, value.constant_value.WhichOneof("value"))


def _compile(tmp_path_factory, name, config=PipelineConfig(data_root=DATA_ROOT), **options):
    output_file = str(tmp_path_factory.mktemp("kubeflow") / name)
    options = {"serving_model_dir": SERVING_DIR, **options}
    path = compile_pipeline(output_file, config, image=IMAGE, pipeline_root=PIPELINE_ROOT, **options)
    assert path == output_file
    return CompiledSpec(path)


@pytest.fixture(scope="module")
def cpu_spec(tmp_path_factory):
    return _compile(tmp_path_factory, "cpu.json", PipelineConfig(data_root=DATA_ROOT, hparams={"epochs": 3}))


@pytest.fixture(scope="module")
def gpu_spec(tmp_path_factory):
    return _compile(tmp_path_factory, "gpu.json", gpus=1)


def test_every_component_is_a_task_of_the_dag(cpu_spec):
    tasks = set(cpu_spec.tasks)
    for component_id in COMPONENT_IDS:
        # The resolver compiles into one task per resolved channel, named after it.
        assert component_id in tasks or any(task.startswith(component_id + "-") for task in tasks), component_id
    assert cpu_spec.spec.pipeline_info.name == configs.PIPELINE_NAME
    assert cpu_spec.job.runtime_config.gcs_output_directory == PIPELINE_ROOT
    assert set(cpu_spec.tasks["Trainer"].dependent_tasks) >= {"Transform", "VideoExampleGen", "SchemaGen"}


def test_every_executor_runs_the_image_with_the_project_code(cpu_spec):
    containers = cpu_spec.container_executors()
    assert len(containers) == len(COMPONENT_IDS) - 1  # all but the resolver
    assert {container.image for container in containers.values()} == {IMAGE}
    example_gen = cpu_spec.executor("VideoExampleGen").container
    args = list(example_gen.args)
    assert args[args.index("--executor_class_path") + 1] == "components.video_example_gen.executor.Executor"


def test_parameters_reach_the_tasks(cpu_spec):
    assert cpu_spec.constant("VideoExampleGen", "input_base") == DATA_ROOT
    assert cpu_spec.constant("VideoExampleGen", "weights") == ExtractionConfig().weights
    assert cpu_spec.constant("Transform", "preprocessing_fn") == "trainer.preprocessing.preprocessing_fn"
    assert cpu_spec.constant("Trainer", "run_fn") == "trainer.run_fn.run_fn"
    assert json.loads(cpu_spec.constant("Trainer", "custom_config"))["epochs"] == 3
    assert SERVING_DIR in cpu_spec.constant("Pusher", "push_destination")


def test_without_gpus_nothing_requests_an_accelerator(cpu_spec):
    for label, container in cpu_spec.container_executors().items():
        assert not container.resources.HasField("accelerator"), label


def test_gpus_go_to_the_trainer_only(gpu_spec):
    accelerator = gpu_spec.executor("Trainer").container.resources.accelerator
    assert (accelerator.count, accelerator.type) == (1, DEFAULT_GPU_TYPE)
    assert (accelerator.resource_count, accelerator.resource_type) == ("1", DEFAULT_GPU_TYPE)
    others = {label: c for label, c in gpu_spec.container_executors().items() if label != gpu_spec.spec.components["Trainer"].executor_label}
    for label, container in others.items():
        assert not container.resources.HasField("accelerator"), label


def test_extraction_gpus_and_limits(tmp_path_factory):
    spec = _compile(
        tmp_path_factory,
        "gpu2.json",
        serving_model_dir=None,
        gpus=2,
        gpu_type="nvidia.com/gpu",
        extraction_gpus=True,
        cpu_limit=8,
        memory_limit_gb=32,
        config=PipelineConfig(data_root=DATA_ROOT, extraction=ExtractionConfig(weights="none")),
    )
    for task_name in ("Trainer", "VideoExampleGen"):
        resources = spec.executor(task_name).container.resources
        assert (resources.accelerator.count, resources.accelerator.type) == (2, "nvidia.com/gpu")
        assert (resources.cpu_limit, resources.memory_limit) == (8, 32)
    assert not spec.executor("Transform").container.resources.HasField("accelerator")
    assert not any(task.startswith("Pusher") for task in spec.tasks)
    assert spec.constant("VideoExampleGen", "weights") == "none"


def test_pipeline_spec_2_1(tmp_path_factory):
    spec = _compile(tmp_path_factory, "spec21.json", pipeline_spec_2_1=True, gpus=1)
    assert spec.spec.schema_version == "2.1.0"
    assert spec.tasks["VideoExampleGen"].inputs.parameters["input_base"].runtime_value.HasField("constant")
    assert spec.executor("Trainer").container.resources.accelerator.count == 1


@pytest.mark.parametrize("options", [{"gpus": -1}, {"gpus": 0, "extraction_gpus": True}])
def test_bad_gpu_options(tmp_path, options):
    with pytest.raises(ValueError):
        compile_pipeline(str(tmp_path / "x.json"), PipelineConfig(data_root=DATA_ROOT), image=IMAGE, pipeline_root=PIPELINE_ROOT, serving_model_dir=None, **options)
