"""`pipeline_runner.py infer`: a pushed model over a folder of videos on the pipeline's Beam runners.

Writes OUTPUT_DIR/predictions.jsonl (one JSON object a video, in the order the
videos were listed) and OUTPUT_DIR/inference_summary.json (counts, the videos
that could not be read and why, frames/s).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Any, Optional

from inference.model import PushedModel
from inference.timeline import TimelineConfig
from inference.videos import list_videos
from pipeline import runner

logger = logging.getLogger(__name__)
PREDICTIONS_FILE = "predictions.jsonl"
SUMMARY_FILE = "inference_summary.json"
TIMELINES_DIR = "timelines"  # one picture a video: <its position in the list>_<its file name>.png


@dataclasses.dataclass(frozen=True)
class InferenceSettings:
    videos: tuple[str, ...]  # folders, files, glob patterns
    model_dir: str  # a serving directory (its newest version) or one version folder
    output_dir: str
    top_k: int = 5
    weights: Optional[str] = None  # backbone weights; default: those the model was trained with
    beam_args: tuple[str, ...] = ()
    timeline: Optional[TimelineConfig] = None  # windows and segments per video, and a picture of each


def run_inference(settings: InferenceSettings) -> dict[str, Any]:
    """Runs the Beam pipeline and returns the summary it wrote; bad inputs fail before Beam starts."""
    videos = list_videos(list(settings.videos))
    model = PushedModel.open(settings.model_dir, settings.weights)
    output_dir = runner.prepare_output_dir(settings.output_dir, "--output-dir")
    logger.info("Inference: %d videos, model %s (%d labels)", len(videos), model.version_dir, len(model.info.labels))

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from inference.beam import PredictVideos
    from pipeline.beam_plugin import with_default_beam_args

    shard_prefix = os.path.join(output_dir, PREDICTIONS_FILE + ".beam")
    started = time.monotonic()
    with beam.Pipeline(options=PipelineOptions(with_default_beam_args(settings.beam_args))) as pipeline:
        _ = (
            pipeline
            | "Videos" >> beam.Create(videos)
            | "PredictVideos" >> PredictVideos(model, settings.top_k, settings.timeline)
            | "ToJson" >> beam.Map(json.dumps)
            | "Write" >> beam.io.WriteToText(shard_prefix, num_shards=1, shard_name_template="")
        )
    seconds = time.monotonic() - started

    with open(shard_prefix, encoding="utf-8") as shard:
        results = [json.loads(line) for line in shard]
    os.remove(shard_prefix)
    order = {video: index for index, video in enumerate(videos)}
    results.sort(key=lambda result: order[result["video"]])
    runner.write_atomically(os.path.join(output_dir, PREDICTIONS_FILE), "".join(json.dumps(result) + "\n" for result in results))

    if settings.timeline is not None:
        _draw_timelines(results, os.path.join(output_dir, TIMELINES_DIR), model.info.labels)
    frames = sum(result.get("frames", 0) for result in results)
    summary = {
        "videos": len(videos),
        "predicted": sum("predictions" in result for result in results),
        "failed": [{"video": result["video"], "reason": result["error"]} for result in results if "error" in result],
        "frames": frames,
        "seconds": round(seconds, 2),
        "frames_per_second": round(frames / seconds, 2) if seconds else None,
        "model_dir": model.version_dir,
        "predictions_file": os.path.join(output_dir, PREDICTIONS_FILE),
    }
    runner.write_atomically(os.path.join(output_dir, SUMMARY_FILE), json.dumps(summary, indent=2) + "\n")
    return summary


def _draw_timelines(results: list[dict[str, Any]], folder: str, labels: list[str]) -> None:
    from inference.timeline import draw_timeline

    os.makedirs(folder, exist_ok=True)
    for index, result in enumerate(results):
        if "segments" in result:
            name = os.path.splitext(os.path.basename(result["video"]))[0]
            draw_timeline(result, os.path.join(folder, f"{index:05d}_{name}.png"), labels)


def console_summary(summary: dict[str, Any]) -> str:
    """What a person reads at the end of `infer`."""
    lines = [
        f"Predicted {summary['predicted']} of {summary['videos']} videos ({summary['frames']} frames in {summary['seconds']} s, "
        f"{summary['frames_per_second']} frames/s) -> {summary['predictions_file']}",
    ]
    lines += [f"  not read: {failed['video']}: {failed['reason']}" for failed in summary["failed"]]
    return "\n".join(lines)
