"""Windows of a long video, each sampled as a training clip, with every frame decoded once.

A timeline classifies overlapping windows (`window_frames` long, one every
`stride_frames`). Cutting each window out and decoding it as a clip would
decode a frame once per window that holds it; here one pass over the video
keeps only the frames some window samples, and hands each window out as soon
as its last frame is read, so memory holds the frames of the open windows
only, whatever the video's length. The same pass gives the whole video's
sample (the one label of the video), as frames.decode_clip samples it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import cv2
import numpy as np

from frame_path.frames import DEFAULT_FPS, VideoDecodeError, crop_and_resize, sample_frame_indices
from video_datasets.listing import file_problem


@dataclasses.dataclass(frozen=True)
class Window:
    start_frame: int
    end_frame: int  # exclusive
    frame_indices: np.ndarray  # the frames sampled from it, as indices into the whole video


def plan_windows(num_frames: int, window_frames: int, stride_frames: int, max_seq_length: int, sampling: str) -> list[Window]:
    """Windows from the start, one every `stride_frames`, plus one ending at the last frame if the stride leaves a tail.

    A video no longer than one window is one window, the whole video.
    """
    if num_frames < 1 or window_frames < 1 or stride_frames < 1:
        raise ValueError(f"need frames, a window and a stride of at least 1, got {num_frames}, {window_frames}, {stride_frames}")
    window_frames = min(window_frames, num_frames)
    starts = list(range(0, num_frames - window_frames + 1, stride_frames))
    if starts[-1] + window_frames < num_frames:
        starts.append(num_frames - window_frames)
    offsets = sample_frame_indices(window_frames, max_seq_length, sampling)
    return [Window(start, start + window_frames, start + offsets) for start in starts]


@dataclasses.dataclass(frozen=True)
class WindowedVideo:
    fps: float
    declared_frames: int
    windows: list[Window]
    whole: Window  # the whole video, sampled as a clip


def open_windows(path: str, window_seconds: float, stride_seconds: float, max_seq_length: int, sampling: str) -> WindowedVideo:
    """The windows of `path`, planned from the frame count and rate its container declares."""
    problem = file_problem(path)
    if problem is not None:
        raise VideoDecodeError(problem)
    capture = cv2.VideoCapture(path, cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
    try:
        if not capture.isOpened():
            raise VideoDecodeError("not a readable video (unknown container or codec)")
        declared_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    finally:
        capture.release()
    if declared_frames <= 0:
        raise VideoDecodeError("declares no frame count: a timeline cannot be planned")
    window_frames = max(1, round(window_seconds * fps))
    stride_frames = max(1, round(stride_seconds * fps))
    whole = Window(0, declared_frames, sample_frame_indices(declared_frames, max_seq_length, sampling))
    return WindowedVideo(fps, declared_frames, plan_windows(declared_frames, window_frames, stride_frames, max_seq_length, sampling), whole)


def decode_windows(path: str, video: WindowedVideo, image_size: int) -> Iterator[tuple[Window, np.ndarray]]:
    """(window, its sampled frames: uint8 RGB [n, image_size, image_size, 3]) in order, each frame decoded once;
    then (video.whole, the whole video's sample) if the file has exactly the frames its container declares.

    Where the count differs, the whole video's sample is not given: frames.decode_clip samples the frames it
    decodes, so the caller reads it again there (as decode_clip itself would). Windows past the frames the
    file really has (a container that overcounts) are not given; VideoDecodeError if no window could be.
    """
    window_frames = set(np.concatenate([window.frame_indices for window in video.windows]).tolist())
    whole_frames = set(video.whole.frame_indices.tolist())
    pending = list(video.windows)
    kept: dict[int, np.ndarray] = {}
    kept_for_whole: dict[int, np.ndarray] = {}
    given = 0
    capture = cv2.VideoCapture(path, cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
    try:
        index = 0
        while capture.grab():  # to the end: the real frame count decides the whole video's sample
            if index in window_frames or index in whole_frames:
                ok, frame = capture.retrieve()
                if not ok:
                    break
                resized = crop_and_resize(frame, image_size)
                if index in window_frames:
                    kept[index] = resized
                if index in whole_frames:
                    kept_for_whole[index] = resized
            while pending and pending[0].end_frame - 1 <= index:
                window = pending.pop(0)
                yield window, np.stack([kept[i] for i in window.frame_indices.tolist()])
                given += 1
                first_needed = pending[0].start_frame if pending else index + 1
                for old in [i for i in kept if i < first_needed]:
                    del kept[old]
            index += 1
    finally:
        capture.release()
    if not given:
        raise VideoDecodeError("no decodable frames")
    if index == video.declared_frames and len(kept_for_whole) == len(whole_frames):
        yield video.whole, np.stack([kept_for_whole[i] for i in video.whole.frame_indices.tolist()])
