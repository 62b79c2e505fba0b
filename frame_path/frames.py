"""Decoding a clip into model-ready frames, as plain functions.

The same functions serve the Beam extractor, `predict.py` and the tests, so a
clip is always turned into frames one way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import cv2
import numpy as np

from video_datasets.listing import file_problem

SAMPLING_MODES = ("uniform", "first")
# Fewer bytes than the headers of any container OpenCV reads (an AVI's RIFF and main headers alone are 88).
DEFAULT_FPS = 25.0  # for containers that declare no frame rate


class VideoDecodeError(Exception):
    """A clip that yields no usable frames; the message is the skip reason."""


@dataclasses.dataclass(frozen=True)
class DecodedClip:
    frames: np.ndarray  # uint8 RGB [num_sampled, image_size, image_size, 3]
    num_frames: int  # frames decoded from the file (the whole clip for 'uniform')
    seconds: float = 0.0  # the clip's duration: its frames (as declared where only the first were read) at its frame rate


def sample_frame_indices(num_frames: int, max_seq_length: int, sampling: str) -> np.ndarray:
    """Indices of the frames to keep from a clip of `num_frames` frames.

    'uniform' spreads `max_seq_length` frames over the whole clip, so that the
    model sees the whole action; 'first' keeps the first frames, as the Keras
    example does. A clip with fewer frames keeps all of them. Index i of
    'uniform' is i * (num_frames - 1) / (max_seq_length - 1) rounded half up,
    in integers so that the serving graph (trainer/serving_frames.py) computes
    exactly the same indices.
    """
    if sampling not in SAMPLING_MODES:
        raise ValueError(f"unknown sampling {sampling!r}: use one of {', '.join(SAMPLING_MODES)}")
    if num_frames <= max_seq_length or sampling == "first":
        return np.arange(min(num_frames, max_seq_length))
    if max_seq_length == 1:
        return np.zeros(1, dtype=np.int64)
    steps = np.arange(max_seq_length, dtype=np.int64)
    return (2 * steps * (num_frames - 1) + (max_seq_length - 1)) // (2 * (max_seq_length - 1))


def view_positions(num_sampled: int, max_seq_length: int, views: int) -> np.ndarray:
    """Multi-view testing: `views` temporally offset samplings of a clip, as positions into its dense sample.

    The dense sample is `sample_frame_indices(num_frames, max_seq_length * views, 'uniform')`, `num_sampled` frames;
    view k takes `max_seq_length` of them, spread as a training clip's sample but shifted by (k - (views - 1) / 2)
    / views of the spacing between its frames, so the views interleave and each still covers the whole clip.
    Returns int64 [distinct views, min(num_sampled, max_seq_length)]: a clip of at most `max_seq_length` frames
    has one view, all its frames; `views` 1 gives exactly the training clip's sample.
    """
    if views < 1:
        raise ValueError(f"views must be at least 1, got {views}")
    if num_sampled <= max_seq_length or views == 1:
        return sample_frame_indices(num_sampled, max_seq_length, "uniform")[None]
    spacing = (num_sampled - 1) / max(1, max_seq_length - 1)
    offsets = (np.arange(views) - (views - 1) / 2) * spacing / views
    positions = np.floor(np.arange(max_seq_length) * spacing + offsets[:, None] + 0.5)
    return np.unique(np.clip(positions, 0, num_sampled - 1).astype(np.int64), axis=0)


def clip_views(frame_features: np.ndarray, max_seq_length: int, views: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The views (view_positions) of a clip's dense [num_sampled, dim] features, each padded as pad_to_length pads a clip."""
    return [
        pad_to_length(frame_features[positions], max_seq_length) for positions in view_positions(len(frame_features), max_seq_length, views)
    ]


def center_crop_square(frame: np.ndarray) -> np.ndarray:
    """The largest centered square of a [height, width, ...] frame."""
    height, width = frame.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return frame[top : top + side, left : left + side]


def crop_and_resize(frame_bgr: np.ndarray, image_size: int) -> np.ndarray:
    """Center-crops an OpenCV BGR frame and returns it as RGB image_size x image_size."""
    square = center_crop_square(frame_bgr)
    # INTER_AREA averages source pixels, the right filter when shrinking.
    resized = cv2.resize(square, (image_size, image_size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)


def pad_to_length(frame_features: np.ndarray, max_seq_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pads [num_frames, dim] features to [max_seq_length, dim] plus a 0/1 mask."""
    num_frames, feature_dim = frame_features.shape
    if num_frames > max_seq_length:
        raise ValueError(f"{num_frames} frames exceed max_seq_length {max_seq_length}")
    padded = np.zeros((max_seq_length, feature_dim), dtype=np.float32)
    padded[:num_frames] = frame_features
    frame_mask = np.zeros(max_seq_length, dtype=np.int64)
    frame_mask[:num_frames] = 1
    return padded, frame_mask


def _is_truncated(decoded_frames: int, expected_frames: int) -> bool:
    """Far fewer frames than the container declares: a cut-off file, not a short clip.

    Containers may miscount by a frame or two (seen on real UCF101 clips), and
    some declare nothing (0 or less), so only a clear shortfall counts.
    """
    if expected_frames <= 0:
        return False
    return expected_frames - decoded_frames > max(2, 0.1 * expected_frames)


def _read_frames(
    path: str, plan: Callable[[int], np.ndarray | None], image_size: int, max_frames: int | None
) -> tuple[int, dict[int, np.ndarray], int, float]:
    """Decodes a clip's frames in order: (declared frame count, {index: cropped RGB frame}, frames decoded, frame rate).

    `plan` maps the frame count the container declares to the indices to keep
    (None: every frame). Every frame is decoded (`grab`), so the count is the
    real one, but only the kept frames pay for colour conversion (`retrieve`),
    cropping and resizing: on a 320x240 clip of ~180 frames, of which 20 are
    kept, that is most of the decoding CPU.
    """
    # One decoding thread per clip: callers decode several clips in parallel
    # (ClipEncoder's pool), and FFmpeg's own frame threads then only add
    # synchronisation (~30% more CPU for the same frames, measured).
    capture = cv2.VideoCapture(path, cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
    try:
        if not capture.isOpened():
            raise VideoDecodeError("not a readable video (unknown container or codec)")
        declared_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
        wanted = plan(declared_frames)
        wanted_set = None if wanted is None else set(wanted.tolist())
        kept: dict[int, np.ndarray] = {}
        num_frames = 0
        while max_frames is None or num_frames < max_frames:
            if not capture.grab():
                break
            if wanted_set is None or num_frames in wanted_set:
                ok, frame = capture.retrieve()
                if not ok:
                    break
                kept[num_frames] = crop_and_resize(frame, image_size)
            num_frames += 1
    finally:
        capture.release()
    return declared_frames, kept, num_frames, fps


def decode_clip(path: str, max_seq_length: int, image_size: int, sampling: str) -> DecodedClip:
    """Decodes a video file into sampled, cropped and resized RGB frames.

    The sample is planned from the frame count the container declares, and only
    the planned frames are cropped and resized. The frame count used for
    sampling is still the number of frames actually decoded: if it differs from
    the declared one (a container off by a frame or two), the clip is read a
    second time for the frames the real count calls for, so the result is
    always that of sampling the decoded frames. Raises VideoDecodeError with the
    reason when the file is no video (listing.file_problem), gives no frame or is
    clearly cut off.
    """
    problem = file_problem(path)
    if problem is not None:
        raise VideoDecodeError(problem)

    def planned_sample(declared_frames: int) -> np.ndarray | None:
        # Some containers declare no count (0 or less): then every frame is kept.
        return sample_frame_indices(declared_frames, max_seq_length, sampling) if declared_frames > 0 else None

    # 'first' never needs more than max_seq_length frames.
    max_frames = max_seq_length if sampling == "first" else None
    declared_frames, kept, num_frames, fps = _read_frames(path, planned_sample, image_size, max_frames)
    if num_frames == 0:
        raise VideoDecodeError("no decodable frames")
    expected_frames = declared_frames if sampling != "first" else min(declared_frames, max_seq_length)
    if _is_truncated(num_frames, expected_frames):
        raise VideoDecodeError(f"truncated: {num_frames} of {declared_frames} frames decodable")
    indices = sample_frame_indices(num_frames, max_seq_length, sampling)
    if not all(index in kept for index in indices.tolist()):
        # The container miscounted: read again for the frames the real count calls for.
        _, kept, recount, _ = _read_frames(path, lambda _declared_frames: indices, image_size, max_frames)
        if recount != num_frames:
            raise VideoDecodeError(f"unstable decoding: {num_frames} frames, then {recount} when read again")
    seconds = (declared_frames if sampling == "first" and declared_frames > num_frames else num_frames) / fps
    return DecodedClip(frames=np.stack([kept[index] for index in indices.tolist()]), num_frames=num_frames, seconds=round(seconds, 3))
