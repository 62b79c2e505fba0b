"""One video's result, as predict.py prints it and `infer` writes it to predictions.jsonl."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from frame_path import frames
from inference.model import VideoClassifier
from inference.timeline import TimelineConfig, timeline


def video_results(
    classifier: VideoClassifier, videos: Iterable[str], top_k: int, timeline_config: TimelineConfig | None = None
) -> Iterator[dict[str, Any]]:
    """Per video, in order: {video, predictions [{label, probability}] most likely first, frames[, windows, segments]}
    or {video, error}.

    A video that cannot be read is an error entry, never an exception; the
    model's own errors (ModelDirError) are raised: no other video could succeed.
    Without a timeline the videos go through the classifier together (decoded
    ahead, frames batched across videos); a timeline takes one video at a time.
    """
    if timeline_config is None:
        for video, outcome, num_frames in classifier.classify_videos(videos, top_k):
            if isinstance(outcome, frames.VideoDecodeError):
                yield {"video": video, "error": str(outcome)}
            else:
                yield {"video": video, "predictions": outcome, "frames": num_frames}
        return
    for video in videos:
        try:
            yield {"video": video, **timeline(classifier, video, timeline_config, top_k)}
        except frames.VideoDecodeError as error:
            yield {"video": video, "error": str(error)}


def timeline_table(result: dict[str, Any]) -> str:
    """The segments of a result as readable lines."""
    return "\n".join(
        f"  {segment['start_s']:8.2f} - {segment['end_s']:8.2f} s  {segment['label']:<24} {segment['probability']:.3f}"
        for segment in result["segments"]
    )
