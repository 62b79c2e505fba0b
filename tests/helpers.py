"""Helpers shared by the tests: plain functions, no fixtures (those live in conftest.py)."""
from __future__ import annotations

import os

import cv2
import numpy as np


def every_frame(path: str | os.PathLike, rgb: bool = False) -> list[np.ndarray]:
    """Every frame OpenCV decodes from `path`, in order (BGR as OpenCV gives them, or RGB); [] for an unreadable file."""
    capture = cv2.VideoCapture(str(path))
    decoded = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            decoded.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if rgb else frame)
    finally:
        capture.release()
    return decoded


def declared_frame_count(path: str | os.PathLike) -> int:
    """The frame count the container declares (which may be wrong)."""
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
