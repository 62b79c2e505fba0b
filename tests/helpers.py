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


def decode_worker_children():
    """Live children of this process that run frame_path.decode_worker."""
    children = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat_file:
                parent = stat_file.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline_file:
                command = cmdline_file.read()
        except OSError:
            continue
        if parent == str(os.getpid()) and b"frame_path.decode_worker" in command:
            children.append(int(entry))
    return children


CLASSES = ("Punch", "Drumming", "Skiing")  # the stand-in datasets' classes


def touch(path) -> None:
    """A stand-in clip for manifest tests: a few dozen bytes, unique to its path (so no two are identical files), not empty or tiny."""
    write_text(path, f"a stand-in for a video file at {path}\n")


def write_text(path, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as text_file:
        text_file.write(text)


def ucf101_name(class_name: str, group: int, clip: int, extension: str = ".avi") -> str:
    return f"v_{class_name}_g{group:02d}_c{clip:02d}{extension}"


def keras_rows(groups, classes=CLASSES) -> list[tuple[str, str]]:
    return [(ucf101_name(class_name, group, clip), class_name) for class_name in classes for group in groups for clip in (1, 2)]


def make_keras_dataset(root, train_rows, test_rows, header="video_name,tag", index_column=True, create_files=True):
    """train.csv/test.csv as the Keras example writes them (pandas index column) plus the files."""
    for split, rows in (("train", train_rows), ("test", test_rows)):
        lines = [("," if index_column else "") + header]
        for number, (video_name, tag) in enumerate(rows):
            lines.append((f"{number}," if index_column else "") + f"{video_name},{tag}")
        write_text(root / f"{split}.csv", "\n".join(lines) + "\n")
        if create_files:
            for video_name, _ in rows:
                touch(root / split / video_name)
    return str(root)


def make_class_folders(root, groups, classes=CLASSES) -> list[str]:
    video_ids = []
    for class_name in classes:
        for group in groups:
            for clip in (1, 2):
                video_id = f"{class_name}/{ucf101_name(class_name, group, clip)}"
                touch(root / video_id)
                video_ids.append(video_id)
    return video_ids
