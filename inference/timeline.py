"""Timelines of a long video: which action when, from overlapping windows each classified as a training clip."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

from frame_path.windows import decode_windows, open_windows
from inference.model import VideoClassifier
from trainer.model_files import ModelInfo

NO_ACTION = "no action"


# For a model that records no training clip durations (one trained before they were recorded).
FALLBACK_WINDOW_SECONDS = 4.0


@dataclasses.dataclass(frozen=True)
class TimelineConfig:
    # None: from the model. A window is as long as the median training clip (UCF101's ~7 s, the demo's ~1 s):
    # each window is then sampled like a training clip; windows overlap by half.
    window_seconds: float | None = None
    stride_seconds: float | None = None  # None: half the window
    min_probability: float = 0.5  # a window whose best label is below this is "no action"

    def __post_init__(self) -> None:
        if any(value is not None and not 0 < value < math.inf for value in (self.window_seconds, self.stride_seconds)):
            raise ValueError(
                f"--window-seconds and --stride-seconds must be finite numbers above 0, got {self.window_seconds} and {self.stride_seconds}"
            )
        if not 0 <= self.min_probability <= 1:
            raise ValueError(f"--min-probability must be within [0, 1], got {self.min_probability}")

    def for_model(self, info: ModelInfo) -> TimelineConfig:
        """Window and stride as given, or derived from the durations of the model's training clips."""
        recorded = (info.train_clip_seconds or {}).get("median") or FALLBACK_WINDOW_SECONDS
        window_seconds = self.window_seconds or recorded
        return dataclasses.replace(self, window_seconds=window_seconds, stride_seconds=self.stride_seconds or window_seconds / 2)


def add_timeline_options(parser: Any) -> None:
    """--timeline and its settings, for predict.py and `infer` alike."""
    defaults = TimelineConfig()
    parser.add_argument(
        "--timeline", action="store_true", help="also classify overlapping windows of each video: windows and segments (which action when)"
    )
    parser.add_argument(
        "--window-seconds", type=float, help="timeline window length (default: the median duration of the model's training clips)"
    )
    parser.add_argument("--stride-seconds", type=float, help="time between window starts (default: half the window)")
    parser.add_argument(
        "--min-probability",
        type=float,
        default=defaults.min_probability,
        help=f"windows whose best label is less likely are '{NO_ACTION}' (default: %(default)s)",
    )


def timeline_config_of(args: Any) -> TimelineConfig | None:
    """The TimelineConfig of parsed options, None without --timeline; ValueError for bad values."""
    if not args.timeline:
        return None
    return TimelineConfig(args.window_seconds, args.stride_seconds, args.min_probability)


def segments(windows: list[dict[str, Any]], min_probability: float) -> list[dict[str, Any]]:
    """Neighbouring windows of one best label merged; a window below `min_probability` is NO_ACTION.

    Windows overlap: a segment ends where the next one's first window starts,
    so segments tile the video without overlapping. Its probability is the mean
    best probability of its windows (0 for NO_ACTION).
    """
    merged: list[dict[str, Any]] = []
    for window in windows:
        best = window["predictions"][0]
        label = best["label"] if best["probability"] >= min_probability else NO_ACTION
        probability = best["probability"] if label != NO_ACTION else 0.0
        if merged and merged[-1]["label"] == label:
            segment = merged[-1]
            segment["end_s"], segment["_probabilities"] = window["end_s"], segment["_probabilities"] + [probability]
            continue
        if merged:
            merged[-1]["end_s"] = window["start_s"]
        merged.append({"start_s": window["start_s"], "end_s": window["end_s"], "label": label, "_probabilities": [probability]})
    for segment in merged:
        probabilities = segment.pop("_probabilities")
        segment["probability"] = round(sum(probabilities) / len(probabilities), 6)
    return merged


def timeline(classifier: VideoClassifier, video_path: str, config: TimelineConfig, top_k: int) -> dict[str, Any]:
    """{predictions, frames, windows: [{start_s, end_s, predictions}], segments: [...]}: the whole video, as
    VideoClassifier.classify gives it, and its windows, from one pass over its frames (a second read only for a
    container that miscounts its frames); VideoDecodeError for an unreadable video."""
    features = classifier.model.features
    config = config.for_model(classifier.model.info)
    # Each window is sampled for all the classifier's views, as a whole clip is.
    video = open_windows(video_path, config.window_seconds, config.stride_seconds, classifier.sampled_frames, features.sampling)
    windows, whole = [], None
    for window, sampled_frames in decode_windows(video_path, video, features.image_size):
        if window is video.whole:
            whole = (
                classifier.classify_frames(sampled_frames, top_k, os.path.basename(video_path), video.declared_frames),
                video.declared_frames,
            )
            continue
        windows.append(
            {
                "start_s": round(window.start_frame / video.fps, 3),
                "end_s": round(window.end_frame / video.fps, 3),
                "predictions": classifier.classify_frames(sampled_frames, top_k, video_path, window.end_frame - window.start_frame),
            }
        )
    predictions, num_frames = whole if whole is not None else classifier.classify(video_path, top_k)
    return {"predictions": predictions, "frames": num_frames, "windows": windows, "segments": segments(windows, config.min_probability)}


def draw_timeline(result: dict[str, Any], target: Any, labels: list[str] | None = None) -> None:
    """A PNG picture of the segments (labels over time) and of each label's probability per window, to a path or a binary file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = labels or sorted({p["label"] for w in result["windows"] for p in w["predictions"]})
    figure, (bars, curves) = plt.subplots(2, 1, figsize=(10, 4), sharex=True, gridspec_kw={"height_ratios": [1, 3]})
    colours = {label: plt.cm.tab10(index % 10) for index, label in enumerate(labels)}
    for segment in result["segments"]:
        colour = colours.get(segment["label"], (0.85, 0.85, 0.85, 1))
        bars.barh(0, segment["end_s"] - segment["start_s"], left=segment["start_s"], color=colour)
        bars.text((segment["start_s"] + segment["end_s"]) / 2, 0, segment["label"], ha="center", va="center", fontsize=8)
    bars.set_yticks([])
    centres = [(w["start_s"] + w["end_s"]) / 2 for w in result["windows"]]
    for label in labels:
        values = [next((p["probability"] for p in w["predictions"] if p["label"] == label), 0.0) for w in result["windows"]]
        curves.plot(centres, values, label=label, color=colours[label])
    curves.set_xlabel("seconds")
    curves.set_ylabel("probability")
    curves.set_ylim(0, 1)
    curves.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    figure.savefig(target, dpi=80, format="png")
    plt.close(figure)
