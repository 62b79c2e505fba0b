"""pipeline/kubeflow.py: the compiled KFP v2 spec, read back with the kfp package, against its golden
file and the Dockerfile. No pipeline runs (test_kubeflow_run.py executes the spec)."""

import difflib
import importlib.util
import json
import os
import re

import pytest
from google.protobuf import json_format
from kfp import components as kfp_components
from kfp.pipeline_spec import pipeline_spec_pb2

from frame_path.config import ExtractionConfig
from pipeline import configs
from pipeline.configs import GpuConfig, PipelineConfig, SpanConfig, SpecConfig
from pipeline.kubeflow import compile_pipeline
from typed_config import parse_bool

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


def _compile(tmp_path_factory, name, config=PipelineConfig(data_root=DATA_ROOT), pipeline_spec_2_1=False, **options):
    output_file = str(tmp_path_factory.mktemp("kubeflow") / name)
    options = {"serving_model_dir": SERVING_DIR, **options}
    path = compile_pipeline(output_file, config, SpecConfig(IMAGE, PIPELINE_ROOT, pipeline_spec_2_1), **options)
    assert path == output_file
    return CompiledSpec(path)


@pytest.fixture(scope="module")
def cpu_spec(tmp_path_factory):
    return _compile(tmp_path_factory, "cpu.json", PipelineConfig(data_root=DATA_ROOT, hparams={"epochs": 3}))


@pytest.fixture(scope="module")
def gpu_spec(tmp_path_factory):
    return _compile(tmp_path_factory, "gpu.json", gpu=GpuConfig(gpus=1))


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
    assert cpu_spec.constant("VideoExampleGen", "weights") == ExtractionConfig().features.weights
    assert cpu_spec.constant("Transform", "preprocessing_fn") == "trainer.preprocessing.preprocessing_fn"
    assert cpu_spec.constant("Trainer", "run_fn") == "trainer.run_fn.run_fn"
    assert json.loads(cpu_spec.constant("Trainer", "custom_config"))["epochs"] == 3
    assert SERVING_DIR in cpu_spec.constant("Pusher", "push_destination")


def test_without_gpus_nothing_requests_an_accelerator(cpu_spec):
    for label, container in cpu_spec.container_executors().items():
        assert not container.resources.HasField("accelerator"), label


def test_gpus_go_to_the_trainer_only(gpu_spec):
    accelerator = gpu_spec.executor("Trainer").container.resources.accelerator
    assert (accelerator.count, accelerator.type) == (1, GpuConfig().gpu_type)
    assert (accelerator.resource_count, accelerator.resource_type) == ("1", GpuConfig().gpu_type)
    others = {
        label: c for label, c in gpu_spec.container_executors().items() if label != gpu_spec.spec.components["Trainer"].executor_label
    }
    for label, container in others.items():
        assert not container.resources.HasField("accelerator"), label


def test_extraction_gpus_and_limits(tmp_path_factory):
    spec = _compile(
        tmp_path_factory,
        "gpu2.json",
        serving_model_dir=None,
        gpu=GpuConfig(gpus=2, gpu_type="nvidia.com/gpu", extraction_gpus=True, cpu_limit=8, memory_limit_gb=32),
        config=PipelineConfig(data_root=DATA_ROOT, extraction=ExtractionConfig.of(weights="none")),
    )
    for task_name in ("Trainer", "VideoExampleGen"):
        resources = spec.executor(task_name).container.resources
        assert (resources.accelerator.count, resources.accelerator.type) == (2, "nvidia.com/gpu")
        assert (resources.cpu_limit, resources.memory_limit) == (8, 32)
    assert not spec.executor("Transform").container.resources.HasField("accelerator")
    assert not any(task.startswith("Pusher") for task in spec.tasks)
    assert spec.constant("VideoExampleGen", "weights") == "none"


def test_pipeline_spec_2_1(tmp_path_factory):
    spec = _compile(tmp_path_factory, "spec21.json", pipeline_spec_2_1=True, gpu=GpuConfig(gpus=1))
    assert spec.spec.schema_version == "2.1.0"
    assert spec.tasks["VideoExampleGen"].inputs.parameters["input_base"].runtime_value.HasField("constant")
    assert spec.executor("Trainer").container.resources.accelerator.count == 1


@pytest.mark.parametrize("options", [{"gpus": -1}, {"gpus": 0, "extraction_gpus": True}])
def test_bad_gpu_options(options):
    with pytest.raises(ValueError):
        GpuConfig(**options)


def test_a_spec_of_several_spans_is_refused(tmp_path):
    with pytest.raises(ValueError, match="train_spans must be 1 in a Kubeflow Pipelines v2 spec"):
        compile_pipeline(
            str(tmp_path / "x.json"),
            PipelineConfig(data_root=DATA_ROOT, spans=SpanConfig(train_spans=2)),
            SpecConfig(IMAGE, PIPELINE_ROOT),
            serving_model_dir=None,
        )


# --- The compiled spec against a committed golden file ---------------------------------------------

GOLDEN_SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata", "compiled_spec.golden.json")
UPDATE_GOLDEN_ENV = "VIDEO_PIPELINE_UPDATE_GOLDEN"


# The Beam SDK image that the local engine's arguments name follows the installed Beam (pipeline/beam_engine.py).
BEAM_SDK_IMAGE = re.compile(r"apache/beam_python[0-9.]+_sdk:[0-9A-Za-z.]+")


def normalized_spec(job_dict):
    """The spec without what changes by itself: the TFX, Beam and Python versions (as TFX's own compiler tests do)."""
    job = json.loads(BEAM_SDK_IMAGE.sub("apache/beam_pythonVERSION_sdk:VERSION", json.dumps(job_dict)))
    job["pipelineSpec"]["sdkVersion"] = "tfx-VERSION"
    for label in ("tfx_version", "tfx_py_version"):
        if label in job.get("labels", {}):
            job["labels"][label] = "VERSION"
    return job


def test_compiled_spec_matches_the_golden_file(cpu_spec):
    """The whole compiled spec (paths and image are the fixed test values above) against the committed one.

    An intended change of the pipeline changes the spec: look at the diff, then regenerate with
        VIDEO_PIPELINE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/pipeline/test_kubeflow.py -k golden
    and commit tests/pipeline/testdata/compiled_spec.golden.json with the change.
    """
    actual = json.dumps(normalized_spec(cpu_spec.job_dict), indent=2, sort_keys=True) + "\n"
    if parse_bool(os.environ.get(UPDATE_GOLDEN_ENV) or "0"):
        os.makedirs(os.path.dirname(GOLDEN_SPEC), exist_ok=True)
        with open(GOLDEN_SPEC, "w") as golden_file:
            golden_file.write(actual)
    with open(GOLDEN_SPEC) as golden_file:
        expected = golden_file.read()
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "golden", "compiled", n=2))
        pytest.fail(f"the compiled spec differs from {GOLDEN_SPEC} (regenerate: {UPDATE_GOLDEN_ENV}=1, see the docstring):\n{diff[:6000]}")


# --- The Dockerfile's image runs what the spec's containers call -----------------------------------

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _dockerfile():
    """[(instruction, arguments)] of each stage of the project's Dockerfile (continued lines joined), and its
    ARGs before the first FROM as {name: default}."""
    with open(os.path.join(PROJECT_ROOT, "Dockerfile")) as dockerfile:
        text = re.sub(r"\\\n(\s*#.*\n)*", " ", dockerfile.read())
    stages, global_args = [], {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        instruction, arguments = instruction.upper(), " ".join(arguments.split())
        if instruction == "FROM":
            stages.append([])
        if not stages:
            if instruction == "ARG":
                name, _, default = arguments.partition("=")
                global_args[name] = default
            continue
        stages[-1].append((instruction, arguments))
    return stages, global_args


def _project_module_file(module):
    """Where the image has a project module: the project is copied to WORKDIR, which is PYTHONPATH."""
    path = os.path.join(PROJECT_ROOT, *module.split("."))
    return next((candidate for candidate in (path + ".py", os.path.join(path, "__init__.py")) if os.path.isfile(candidate)), None)


def _instructions(stage, name):
    return [arguments for instruction, arguments in stage if instruction == name]


def _make_variable(name):
    with open(os.path.join(PROJECT_ROOT, "Makefile")) as makefile:
        return re.search(rf"^(?:export )?{name} [:?]?= *(\S+)", makefile.read(), re.MULTILINE).group(1)


def test_dockerfile_builds_from_debian_with_the_locked_stack():
    """The image's stack is requirements.lock (the TFX the spec is compiled with: tests/test_lock.py), on
    Debian 12's Python 3.11, installed by the uv that `make install` uses; the final stage has no compiler."""
    stages, global_args = _dockerfile()
    assert global_args["BASE_IMAGE"].endswith("debian:bookworm-slim")
    assert [_instructions(stage, "FROM") for stage in stages] == [["${BASE_IMAGE} AS build"], ["${BASE_IMAGE}"]]
    build, final = stages
    (install,) = [run for run in _instructions(build, "RUN") if "requirements.lock" in run]
    assert "--require-hashes" in install and "--python /usr/bin/python3.11" in install
    assert _instructions(build, "ARG") == [f"UV_VERSION={_make_variable('UV_VERSION')}"]
    assert "g++" in " ".join(_instructions(build, "RUN")) and "g++" not in " ".join(_instructions(final, "RUN"))
    assert "--from=build /opt/venv /opt/venv" in _instructions(final, "COPY")
    assert any("PATH=/opt/venv/bin:$PATH" in env for env in _instructions(final, "ENV"))


def test_dockerfile_image_runs_the_spec_commands(cpu_spec):
    (_, final) = _dockerfile()[0]
    # The project's code is at WORKDIR, which is on PYTHONPATH.
    (workdir,) = _instructions(final, "WORKDIR")
    assert any(f"PYTHONPATH={workdir}" in env.split() for env in _instructions(final, "ENV"))
    assert ". ./" in _instructions(final, "COPY")
    # The ENTRYPOINT is Beam's SDK container boot (Dataflow, Flink and Spark start workers with it, and it
    # boots them through sdk_worker_main, which imports the --beam_plugin modules); KFP containers set
    # their command themselves, which replaces it.
    assert _instructions(final, "ENTRYPOINT") == ['["python", "-m", "pipeline.beam_worker_boot"]']
    assert not _instructions(final, "CMD")
    with open(os.path.join(PROJECT_ROOT, ".dockerignore")) as ignore_file:
        ignored = {line.strip().rstrip("/") for line in ignore_file if line.strip() and not line.startswith("#")}

    project_modules = set()
    containers = list(cpu_spec.container_executors().values())
    commands = [(container.command, container.args) for container in containers]
    commands += [(c.lifecycle.pre_cache_check.command, c.lifecycle.pre_cache_check.args) for c in containers if c.HasField("lifecycle")]
    assert len(commands) == len(containers) + 1  # VideoExampleGen's driver
    for command, args in commands:
        # `python -m MODULE` of the image's Python: a TFX entry point of the pinned TFX.
        assert list(command[:2]) == ["python", "-m"] and len(command) == 3, command
        assert importlib.util.find_spec(command[2]) is not None, command[2]
        args = list(args)
        if "--executor_class_path" in args:
            class_path = args[args.index("--executor_class_path") + 1]
            if not class_path.startswith("tfx."):
                project_modules.add(class_path.rsplit(".", 1)[0])
        project_modules.update(arg.split("=", 1)[1] for arg in args if arg.startswith("--beam_plugin="))
        project_modules.update(
            arg.split("=", 1)[1].rsplit(".", 1)[0] for arg in args if arg.startswith("--runner=") and "." in arg
        )  # a runner class by module path
    project_modules.add(cpu_spec.constant("Transform", "preprocessing_fn").rsplit(".", 1)[0])
    project_modules.add(cpu_spec.constant("Trainer", "run_fn").rsplit(".", 1)[0])
    entry_point = "pipeline.beam_worker_boot"
    assert project_modules == {
        "components.pusher.executor",
        "components.video_example_gen.executor",
        "pipeline.beam_engine",  # the local Beam engine, --runner=pipeline.beam_engine.LocalRunner
        "pipeline.beam_plugin",
        "trainer.preprocessing",
        "trainer.run_fn",
    }
    for module in project_modules | {entry_point}:
        module_file = _project_module_file(module)
        assert module_file is not None, f"{module} is not in the project (the image's {workdir})"
        top_folder = os.path.relpath(module_file, PROJECT_ROOT).split(os.sep)[0]
        assert top_folder not in ignored, f"{module}: .dockerignore keeps {top_folder} out of the image"


def test_make_image_tags_what_compile_names_by_default():

    assert _make_variable("IMAGE") == configs.DEFAULT_IMAGE
