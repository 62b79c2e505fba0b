"""Compiles the pipeline into a Kubeflow Pipelines v2 / Vertex AI Pipelines job spec.

    from pipeline.kubeflow import compile_pipeline
    compile_pipeline("pipeline.json", PipelineConfig(data_root="gs://BUCKET/videos"),
                     image="REGISTRY/video-pipeline:TAG", pipeline_root="gs://BUCKET/root",
                     serving_model_dir="gs://BUCKET/serving", gpus=1)

The image is the project's Dockerfile (TFX's image + this project on PYTHONPATH).
Compiling needs neither data nor network: paths are only written into the spec.
"""
from __future__ import annotations

import functools
import json
import os
from typing import Any, Callable, Optional, Sequence

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx

from inference.batch import InferenceRequest
from pipeline import configs
from pipeline.pipeline import create_pipeline

# Vertex AI Pipelines names accelerators like this; self-hosted Kubeflow
# Pipelines wants the Kubernetes resource name instead ("nvidia.com/gpu").
DEFAULT_GPU_TYPE = "NVIDIA_TESLA_T4"
# Component ids that may get GPUs: the Trainer always, the extractor on request.
TRAINER_ID = "Trainer"
EXAMPLE_GEN_ID = "VideoExampleGen"

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


def gpu_resource_spec(
    gpus: int,
    gpu_type: Optional[str] = None,
    cpu_limit: Optional[float] = None,
    memory_limit_gb: Optional[float] = None,
) -> ResourceSpec:
    """The platform config (a KFP ResourceSpec) that asks for `gpus` GPUs of `gpu_type`.

    Both spellings of the accelerator are set, as the KFP SDK's own compiler
    does: `type`/`count` (read by Vertex AI and older backends) and
    `resource_type`/`resource_count` (read first by recent self-hosted KFP backends).
    """
    if gpus < 1:
        raise ValueError(f"gpus must be at least 1, got {gpus}")
    gpu_type = gpu_type or DEFAULT_GPU_TYPE
    spec = ResourceSpec(
        accelerator=ResourceSpec.AcceleratorConfig(
            type=gpu_type, count=gpus, resource_type=gpu_type, resource_count=str(gpus)
        )
    )
    if cpu_limit is not None:
        spec.cpu_limit = cpu_limit
        spec.resource_cpu_limit = f"{cpu_limit:g}"
    if memory_limit_gb is not None:
        spec.memory_limit = memory_limit_gb
        spec.resource_memory_limit = f"{memory_limit_gb:g}G"
    return spec


def compile_pipeline(
    output_file: str,
    config: configs.PipelineConfig,
    *,
    image: str,
    pipeline_root: str,
    serving_model_dir: str | None,
    gpus: int = 0,
    gpu_type: str | None = None,
    extraction_gpus: bool = False,
    cpu_limit: float | None = None,
    memory_limit_gb: float | None = None,
    pipeline_spec_2_1: bool = False,
    beam_pipeline_args: Sequence[str] = (),
) -> str:
    """Writes the whole pipeline as a KFP v2 PipelineJob JSON file and returns its path.

    Every component runs in `image`. With `gpus` > 0 the Trainer (and the
    VideoExampleGen too with `extraction_gpus`) requests that many GPUs of
    `gpu_type` (default NVIDIA_TESLA_T4, Vertex AI's naming; use
    "nvidia.com/gpu" on self-hosted Kubeflow Pipelines), and `cpu_limit` /
    `memory_limit_gb` if given (these two apply to the GPU components only).
    The Pusher is left out when `serving_model_dir` is None. No metadata
    connection: the orchestrator provides its own.

    The spec follows PipelineSpec schema 2.0.0 (what Vertex AI Pipelines
    runs); `pipeline_spec_2_1` writes schema 2.1.0 instead, whose constant
    parameters (`constant` rather than the deprecated `constantValue`) are the
    only ones recent self-hosted KFP 2.x backends read.

    `beam_pipeline_args` go to the Beam components as with `run` (e.g. to
    Dataflow or a Flink job service); without them each Beam step runs on the
    local engine inside its container.
    """
    if gpus < 0:
        raise ValueError(f"gpus must not be negative, got {gpus}")
    if extraction_gpus and gpus == 0:
        raise ValueError("extraction_gpus needs gpus > 0")
    if config.spans.train_spans > 1:
        raise ValueError("train_spans > 1 needs a span resolver, which KubeflowV2DagRunner does not compile")
    pipeline = create_pipeline(
        config,
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=pipeline_root,
        serving_model_dir=serving_model_dir,
        metadata_connection_config=None,
        beam_pipeline_args=list(beam_pipeline_args),
    )
    if gpus > 0:
        gpu_ids = {TRAINER_ID, EXAMPLE_GEN_ID} if extraction_gpus else {TRAINER_ID}
        components = {component.id: component for component in pipeline.components}
        missing = gpu_ids - components.keys()
        if missing:
            raise ValueError(f"the pipeline has no component {sorted(missing)}")
        for component_id in sorted(gpu_ids):
            components[component_id].with_platform_config(
                gpu_resource_spec(gpus, gpu_type, cpu_limit, memory_limit_gb)
            )

    edit = functools.partial(_add_example_gen_resources, resources=gpu_resource_spec(gpus, gpu_type, cpu_limit, memory_limit_gb)) if extraction_gpus else None
    return _write_spec(pipeline, output_file, image, pipeline_spec_2_1, edit)


def compile_inference_pipeline(
    output_file: str,
    request: InferenceRequest,
    *,
    image: str,
    pipeline_root: str,
    pipeline_spec_2_1: bool = False,
    beam_pipeline_args: Sequence[str] = (),
) -> str:
    """Writes `infer` as a KFP v2 PipelineJob of one VideoInference step (pipeline/inference.py) and returns its path.

    The request's paths (videos, model) are the cluster's: nothing is read here.
    `beam_pipeline_args` as for compile_pipeline.
    """
    from pipeline.inference import create_inference_pipeline

    return _write_spec(create_inference_pipeline(request, pipeline_root, beam_pipeline_args), output_file, image, pipeline_spec_2_1)


def _write_spec(pipeline: Any, output_file: str, image: str, pipeline_spec_2_1: bool, edit: Optional[Callable[[str], None]] = None) -> str:
    """KubeflowV2DagRunner's JSON of `pipeline` (every component in `image`), `edit`ed, at `output_file`."""
    from tfx.dsl.io import fileio

    output_file = os.path.abspath(output_file) if "://" not in output_file else output_file
    # Written under a temporary name and renamed when complete: an interrupted compile leaves no spec that looks whole.
    partial_file = output_file + ".partial"
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image, use_pipeline_spec_2_1=pipeline_spec_2_1
        ),
        output_dir=os.path.dirname(partial_file),
        output_filename=os.path.basename(partial_file),
    )
    runner.run(pipeline, write_out=True)
    if edit is not None:
        edit(partial_file)
    fileio.rename(partial_file, output_file, overwrite=True)
    return output_file


def _add_example_gen_resources(spec_file: str, resources: ResourceSpec) -> None:
    """TFX builds a FileBasedExampleGen's container (driver hook included) without its platform config: add it."""
    from tfx.dsl.io import fileio

    with fileio.open(spec_file) as spec_json:
        pipeline_job = json.load(spec_json)
    executor = pipeline_job["pipelineSpec"]["deploymentSpec"]["executors"][f"{EXAMPLE_GEN_ID}_executor"]
    executor["container"]["resources"] = json_format.MessageToDict(resources)
    with fileio.open(spec_file, "w") as spec_json:
        json.dump(pipeline_job, spec_json, indent=2, sort_keys=True)
