"""Compiles the pipeline into a Kubeflow Pipelines v2 / Vertex AI Pipelines job spec.

    from pipeline.kubeflow import compile_pipeline
    compile_pipeline("pipeline.json", PipelineConfig(data_root="gs://BUCKET/videos"),
                     SpecConfig(image="REGISTRY/video-pipeline:TAG", pipeline_root="gs://BUCKET/root"),
                     serving_model_dir="gs://BUCKET/serving", gpu=GpuConfig(gpus=1))

The image is the project's Dockerfile (TFX's image + this project on PYTHONPATH).
Compiling needs neither data nor network: paths are only written into the spec.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx

import run_files
from inference.batch import InferenceRequest
from pipeline import configs
from pipeline.pipeline import create_pipeline

# Component ids that may get GPUs: the Trainer always, the extractor on request.
TRAINER_ID = "Trainer"
EXAMPLE_GEN_ID = "VideoExampleGen"

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


def gpu_resource_spec(gpu: configs.GpuConfig) -> ResourceSpec:
    """The platform config (a KFP ResourceSpec) that asks for `gpu.gpus` GPUs of `gpu.gpu_type`.

    Both spellings of the accelerator are set, as the KFP SDK's own compiler
    does: `type`/`count` (read by Vertex AI and older backends) and
    `resource_type`/`resource_count` (read first by recent self-hosted KFP backends).
    """
    spec = ResourceSpec(
        accelerator=ResourceSpec.AcceleratorConfig(
            type=gpu.gpu_type, count=gpu.gpus, resource_type=gpu.gpu_type, resource_count=str(gpu.gpus)
        )
    )
    if gpu.cpu_limit:
        spec.cpu_limit = gpu.cpu_limit
        spec.resource_cpu_limit = f"{gpu.cpu_limit:g}"
    if gpu.memory_limit_gb:
        spec.memory_limit = gpu.memory_limit_gb
        spec.resource_memory_limit = f"{gpu.memory_limit_gb:g}G"
    return spec


def compile_pipeline(
    output_file: str,
    config: configs.PipelineConfig,
    spec: configs.SpecConfig,
    *,
    serving_model_dir: str | None,
    gpu: configs.GpuConfig = configs.GpuConfig(),
    beam_pipeline_args: Sequence[str] = (),
) -> str:
    """Writes the whole pipeline as a KFP v2 PipelineJob JSON file and returns its path.

    Every component runs in `spec.image`. With `gpu.gpus` > 0 the Trainer (and the
    VideoExampleGen too with `gpu.extraction_gpus`) requests that many GPUs of
    `gpu.gpu_type`, with its CPU and memory limits if given.
    The Pusher is left out when `serving_model_dir` is None. No metadata
    connection: the orchestrator provides its own.

    The spec follows PipelineSpec schema 2.0.0 (what Vertex AI Pipelines
    runs); `spec.pipeline_spec_2_1` writes schema 2.1.0 instead, whose constant
    parameters (`constant` rather than the deprecated `constantValue`) are the
    only ones recent self-hosted KFP 2.x backends read.

    `beam_pipeline_args` go to the Beam components as with `run` (e.g. to
    Dataflow or a Flink job service); without them each Beam step runs on the
    local engine inside its container.
    """
    configs.check_compilable(config)
    pipeline = create_pipeline(
        config,
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=spec.pipeline_root,
        serving_model_dir=serving_model_dir,
        metadata_connection_config=None,
        beam_pipeline_args=list(beam_pipeline_args),
    )
    if gpu.gpus > 0:
        gpu_ids = {TRAINER_ID, EXAMPLE_GEN_ID} if gpu.extraction_gpus else {TRAINER_ID}
        components = {component.id: component for component in pipeline.components}
        missing = gpu_ids - components.keys()
        if missing:
            raise ValueError(f"the pipeline has no component {sorted(missing)}")
        for component_id in sorted(gpu_ids):
            components[component_id].with_platform_config(gpu_resource_spec(gpu))

    edit = functools.partial(_add_example_gen_resources, resources=gpu_resource_spec(gpu)) if gpu.extraction_gpus else None
    return _write_spec(pipeline, output_file, spec, edit)


def compile_inference_pipeline(
    output_file: str,
    request: InferenceRequest,
    spec: configs.SpecConfig,
    *,
    beam_pipeline_args: Sequence[str] = (),
) -> str:
    """Writes `infer` as a KFP v2 PipelineJob of one VideoInference step (pipeline/inference.py) and returns its path.

    The request's paths (videos, model) are the cluster's: nothing is read here.
    `beam_pipeline_args` as for compile_pipeline.
    """
    from pipeline.inference import create_inference_pipeline

    return _write_spec(create_inference_pipeline(request, spec.pipeline_root, beam_pipeline_args), output_file, spec)


def _write_spec(pipeline: Any, output_file: str, spec: configs.SpecConfig, edit: Callable[[dict[str, Any]], None] | None = None) -> str:
    """KubeflowV2DagRunner's PipelineJob of `pipeline` (every component in `image`), `edit`ed, as JSON at `output_file`
    (written whole or not at all: an interrupted compile leaves no spec that looks whole)."""
    output_file = os.path.abspath(output_file) if "://" not in output_file else output_file
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=spec.image, use_pipeline_spec_2_1=spec.pipeline_spec_2_1
        ),
    )
    pipeline_job = runner.run(pipeline, write_out=False)
    if edit is not None:
        edit(pipeline_job)
    run_files.write_atomically(output_file, json.dumps(pipeline_job, indent=2, sort_keys=True))
    return output_file


def _add_example_gen_resources(pipeline_job: dict[str, Any], resources: ResourceSpec) -> None:
    """TFX builds a FileBasedExampleGen's container (driver hook included) without its platform config: add it."""
    executor = pipeline_job["pipelineSpec"]["deploymentSpec"]["executors"][f"{EXAMPLE_GEN_ID}_executor"]
    executor["container"]["resources"] = json_format.MessageToDict(resources)
