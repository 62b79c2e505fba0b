"""VideoInference: a pushed model over a list of videos -> an InferenceResult artifact (predictions.jsonl and the summary).

The Kubeflow step of `pipeline_runner.py compile-inference`; the same Beam job as `infer` (inference/batch.py).
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.video_inference import executor
from inference.batch import InferenceRequest


class VideoInferenceSpec(types.ComponentSpec):
    PARAMETERS = {executor.REQUEST_KEY: ExecutionParameter(type=str)}  # InferenceRequest.to_json(), passed whole
    INPUTS: dict = {}
    OUTPUTS = {executor.RESULT_KEY: ChannelParameter(type=standard_artifacts.InferenceResult)}


class VideoInference(base_beam_component.BaseBeamComponent):
    """Classifies each video (and, with a timeline, its windows) as `infer` does; its files in the artifact's folder."""

    SPEC_CLASS = VideoInferenceSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, request: InferenceRequest):
        result = types.Channel(type=standard_artifacts.InferenceResult)
        super().__init__(VideoInferenceSpec(**{executor.REQUEST_KEY: request.to_json(), executor.RESULT_KEY: result}))
