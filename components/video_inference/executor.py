"""VideoInference's executor: inference/batch.py's job into the InferenceResult artifact's folder."""

from __future__ import annotations

from typing import Any

from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

from inference.batch import InferenceRequest, infer_videos, open_request

REQUEST_KEY = "request"  # the InferenceRequest as JSON
RESULT_KEY = "inference_result"


class Executor(base_beam_executor.BaseBeamExecutor):
    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict[str, Any]) -> None:
        request = InferenceRequest.from_json(exec_properties[REQUEST_KEY])
        result = artifact_utils.get_single_instance(output_dict[RESULT_KEY])
        video_list, model = open_request(request)
        summary = infer_videos(video_list, model, request, result.uri, self._beam_pipeline_args or [])
        # Counts on the artifact, so that the metadata store (and Kubeflow's UI) shows them without opening a file.
        result.set_int_custom_property("videos", summary["videos"])
        result.set_int_custom_property("predicted", summary["predicted"])
        result.set_int_custom_property("failed", len(summary["failed"]))
