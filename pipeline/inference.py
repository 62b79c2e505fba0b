"""`pipeline_runner.py infer` and `compile-inference`: a pushed model over a folder of videos, here on the
pipeline's Beam runners or as a one-step TFX pipeline (the VideoInference component) for Kubeflow.

Both run inference/batch.py's job; its files are described there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from inference.batch import InferenceRequest, infer_videos, open_request
from pipeline import flink, runner
from video_datasets.listing import ignored_files_text

INFERENCE_PIPELINE_NAME = "video-action-inference"


@dataclasses.dataclass(frozen=True)
class InferenceSettings:
    request: InferenceRequest
    output_dir: str
    beam_args: tuple[str, ...] = ()
    engine: str = "local"  # "flink": the job runs on the Flink cluster at flink_master (pipeline/flink.py)
    flink_master: str | None = None


def run_inference(settings: InferenceSettings) -> dict[str, Any]:
    """Runs the Beam pipeline and returns the summary it wrote; bad inputs fail before Beam starts."""
    from pipeline.beam_plugin import with_default_beam_args

    video_list, model = open_request(settings.request)
    output_dir = runner.prepare_output_dir(settings.output_dir, "--output-dir")
    beam_args = flink.beam_args_for(settings.engine, settings.flink_master, settings.beam_args)
    return infer_videos(video_list, model, settings.request, output_dir, with_default_beam_args(beam_args))


def create_inference_pipeline(
    request: InferenceRequest, pipeline_root: str, beam_pipeline_args: Sequence[str] = (), metadata_connection_config: Any | None = None
) -> Any:
    """A TFX pipeline of one VideoInference component (its InferenceResult artifact holds the job's files)."""
    from tfx import v1 as tfx

    from components.video_inference.component import VideoInference
    from pipeline.beam_plugin import with_default_beam_args

    return tfx.dsl.Pipeline(
        pipeline_name=INFERENCE_PIPELINE_NAME,
        pipeline_root=pipeline_root,
        components=[VideoInference(request)],
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=with_default_beam_args(list(beam_pipeline_args)),
    )


def console_summary(summary: dict[str, Any]) -> str:
    """What a person reads at the end of `infer`."""
    lines = [
        f"Predicted {summary['predicted']} of {summary['videos']} videos ({summary['frames']} frames in {summary['seconds']} s, "
        f"{summary['frames_per_second']} frames/s) -> {summary['predictions_file']}",
    ]
    lines += [f"  not read: {failed['video']}: {failed['reason']}" for failed in summary["failed"]]
    if summary["ignored_files"]["count"]:
        lines.append(f"  ignored: {ignored_files_text(summary['ignored_files'])} in the given folders: no video extension")
    return "\n".join(lines)
