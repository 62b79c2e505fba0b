"""The batch inference job: a pushed model over a list of videos on Beam, its results written to a folder.

What `pipeline_runner.py infer` runs, and the VideoInference component's
executor on Kubeflow: OUTPUT_DIR/predictions.jsonl (one JSON object a video,
in the order the videos were listed), OUTPUT_DIR/inference_summary.json
(counts, the videos that could not be read and why, frames/s) and, with a
timeline, one picture a video in OUTPUT_DIR/timelines/. Files are written
through Beam's FileSystems, so OUTPUT_DIR may be a bucket's URI.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import run_files
from inference.model import PushedModel, add_views_option, check_views
from inference.timeline import TimelineConfig, add_timeline_options, timeline_config_of
from inference.videos import VideoList, list_videos
from video_datasets.listing import ignored_files_report

logger = logging.getLogger(__name__)
PREDICTIONS_FILE = "predictions.jsonl"
SUMMARY_FILE = "inference_summary.json"
TIMELINES_DIR = "timelines"  # one picture a video: <its position in the list>_<its file name>.png


@dataclasses.dataclass(frozen=True)
class InferenceRequest:
    """What to infer: the same for `infer` and the VideoInference component (which gets it as JSON)."""

    videos: tuple[str, ...]  # folders, files, glob patterns
    model_dir: str  # a serving directory (its newest version) or one version folder
    top_k: int = 5
    weights: str | None = None  # backbone weights; default: those the model was trained with
    timeline: TimelineConfig | None = None  # windows and segments per video, and a picture of each
    views: int = 1  # VideoClassifier's multi-view testing

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError("--top-k must be at least 1")
        check_views(self.views)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> InferenceRequest:
        values = json.loads(text)
        timeline = values.pop("timeline")
        return cls(**{**values, "videos": tuple(values["videos"])}, timeline=TimelineConfig(**timeline) if timeline else None)


def add_request_options(parser: Any) -> None:
    """What `infer` and `compile-inference` take alike: InferenceRequest's fields."""
    parser.add_argument(
        "--videos", nargs="+", required=True, metavar="PATH", help="folders (their video files, recursively), video files or glob patterns"
    )
    parser.add_argument("--model-dir", required=True, help="a serving directory (its newest version is used) or one version folder")
    parser.add_argument("--top-k", type=int, default=5, help="how many actions to keep per video (default: %(default)s)")
    parser.add_argument("--weights", help="backbone weights file, as for run (default: the ones the model was trained with)")
    add_views_option(parser)
    add_timeline_options(parser)


def request_of(args: Any) -> InferenceRequest:
    """The InferenceRequest of parsed `add_request_options`; ValueError for a bad value."""
    return InferenceRequest(tuple(args.videos), args.model_dir, args.top_k, args.weights, timeline_config_of(args), args.views)


def open_request(request: InferenceRequest) -> tuple[VideoList, PushedModel]:
    """The videos listed and the model opened and checked: VideoListError, ModelDirError or BackboneWeightsError, before Beam starts."""
    return list_videos(list(request.videos)), PushedModel.open(request.model_dir, request.weights, request.views)


def infer_videos(
    video_list: VideoList, model: PushedModel, request: InferenceRequest, output_dir: str, beam_args: Sequence[str]
) -> dict[str, Any]:
    """Runs the Beam pipeline over the listed videos and writes the results into `output_dir`; returns the summary written."""
    import apache_beam as beam
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from inference.beam import PredictVideos

    videos = video_list.videos
    logger.info("Inference: %d videos, model %s (%d labels)", len(videos), model.version_dir, len(model.info.labels))
    start_outputs(output_dir)
    shard_prefix = FileSystems.join(output_dir, PREDICTIONS_FILE + ".beam")
    started = time.monotonic()
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
        _ = (
            pipeline
            | "Videos" >> beam.Create(videos)
            | "PredictVideos" >> PredictVideos(model, request.top_k, request.timeline, request.views)
            | "ToJson" >> beam.Map(json.dumps)
            | "Write" >> beam.io.WriteToText(shard_prefix, num_shards=1, shard_name_template="")
        )
    seconds = time.monotonic() - started

    with FileSystems.open(shard_prefix) as shard:
        results = [json.loads(line) for line in io.TextIOWrapper(shard, encoding="utf-8")]
    FileSystems.delete([shard_prefix])
    order = {video: index for index, video in enumerate(videos)}
    results.sort(key=lambda result: order[result["video"]])
    run_files.write_atomically(
        FileSystems.join(output_dir, PREDICTIONS_FILE), "".join(json.dumps(result) + "\n" for result in results).encode()
    )

    if request.timeline is not None:
        _draw_timelines(results, FileSystems.join(output_dir, TIMELINES_DIR), model.info.labels)
    frames = sum(result.get("frames", 0) for result in results)
    summary = {
        "status": "complete",
        "videos": len(videos),
        "predicted": sum("predictions" in result for result in results),
        "failed": [{"video": result["video"], "reason": result["error"]} for result in results if "error" in result],
        "ignored_files": ignored_files_report(video_list.ignored),
        "frames": frames,
        "seconds": round(seconds, 2),
        "frames_per_second": round(frames / seconds, 2) if seconds else None,
        "model_dir": model.version_dir,
        "predictions_file": FileSystems.join(output_dir, PREDICTIONS_FILE),
    }
    run_files.write_atomically(FileSystems.join(output_dir, SUMMARY_FILE), (json.dumps(summary, indent=2) + "\n").encode())
    return summary


def start_outputs(output_dir: str) -> None:
    """Before the job: the previous run's results move aside (predictions.previous.jsonl, inference_summary.previous.json,
    timelines.previous/: run_files.start_outputs), inference_summary.json says the run is under way, and what killed
    runs left of Beam's temporary files is removed. (The output folder is this run's alone: `infer` holds its lock, a
    Kubeflow step has a folder of its own.)"""
    from apache_beam.io.filesystems import FileSystems

    def matching(pattern: str) -> list[str]:
        return [match.path for match in FileSystems.match([FileSystems.join(output_dir, pattern)])[0].metadata_list]

    # Beam's temporary folder is found through its files (a match lists files only).
    stale = {os.path.dirname(path) for path in matching(f"beam-temp-{PREDICTIONS_FILE}*/*")}
    stale.update(matching(f"{PREDICTIONS_FILE}.beam*") + matching("*" + run_files.PARTIAL))
    if stale:
        FileSystems.delete(sorted(stale))
    run_files.start_outputs(output_dir, (PREDICTIONS_FILE, SUMMARY_FILE, TIMELINES_DIR), SUMMARY_FILE, {"pid": os.getpid()})


def _draw_timelines(results: list[dict[str, Any]], folder: str, labels: list[str]) -> None:
    from inference.timeline import draw_timeline

    for index, result in enumerate(results):
        if "segments" in result:
            picture = io.BytesIO()
            draw_timeline(result, picture, labels)
            name = os.path.splitext(os.path.basename(result["video"]))[0]
            run_files.write_atomically(f"{folder}/{index:05d}_{name}.png", picture.getvalue())
