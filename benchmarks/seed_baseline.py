"""The seed's feature extraction, as the Keras example ("Video Classification with Transformers") does it.

`load_video` decodes EVERY frame of a clip (center crop, cv2.resize, BGR->RGB); `prepare_all_videos`
then calls `feature_extractor.predict` once per frame, on a batch of one: the baseline the project's
frame path is timed against (benchmarks/extract_throughput.py's seed_loop).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def _seed_crop_center_square(frame: np.ndarray) -> np.ndarray:
    y, x = frame.shape[0:2]
    min_dim = min(y, x)
    start_x = (x // 2) - (min_dim // 2)
    start_y = (y // 2) - (min_dim // 2)
    return frame[start_y : start_y + min_dim, start_x : start_x + min_dim]


def seed_load_video(path: str, image_size: int, max_frames: int = 0) -> np.ndarray:
    """The Keras example's load_video: every frame (max_frames=0), cropped, resized, BGR->RGB."""
    cap = cv2.VideoCapture(path)
    video_frames = []
    try:
        while True:
            ret, frame = cap.read()
            if not ret:
                break
            frame = _seed_crop_center_square(frame)
            frame = cv2.resize(frame, (image_size, image_size))
            frame = frame[:, :, [2, 1, 0]]
            video_frames.append(frame)
            if len(video_frames) == max_frames:
                break
    finally:
        cap.release()
    return np.array(video_frames)


def seed_extract(model: Any, paths: list[str], image_size: int, max_seq_length: int) -> int:
    """The Keras example's prepare_all_videos loop; returns the frames that went through the model."""
    frames_encoded = 0
    for path in paths:
        batch = seed_load_video(path, image_size)
        features = np.zeros((max_seq_length, int(model.outputs[0].shape[-1])), dtype="float32")
        for j in range(min(max_seq_length, batch.shape[0])):
            if np.mean(batch[j, :, :]) > 0.0:
                # verbose=0: the example prints a progress bar per frame; stdout is the JSON here.
                features[j, :] = model.predict(batch[None, j, :].astype("float32"), verbose=0)
                frames_encoded += 1
    return frames_encoded
