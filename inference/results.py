"""One video's result, as predict.py prints it and `infer` writes it to predictions.jsonl."""
from __future__ import annotations

from typing import Any, Optional

from frame_path import frames
from inference.model import VideoClassifier
from inference.timeline import TimelineConfig, timeline


def video_result(classifier: VideoClassifier, video: str, top_k: int, timeline_config: Optional[TimelineConfig] = None) -> dict[str, Any]:
    """{video, predictions [{label, probability}] most likely first, frames[, windows, segments]} or {video, error}.

    A video that cannot be read is an error entry, never an exception; the
    model's own errors (ModelDirError) are raised: no other video could succeed.
    """
    try:
        if timeline_config is not None:
            return {"video": video, **timeline(classifier, video, timeline_config, top_k)}
        predictions, num_frames = classifier.classify(video, top_k)
    except frames.VideoDecodeError as error:
        return {"video": video, "error": str(error)}
    return {"video": video, "predictions": predictions, "frames": num_frames}


def timeline_table(result: dict[str, Any]) -> str:
    """The segments of a result as readable lines."""
    return "\n".join(
        f"  {segment['start_s']:8.2f} - {segment['end_s']:8.2f} s  {segment['label']:<24} {segment['probability']:.3f}" for segment in result["segments"]
    )
