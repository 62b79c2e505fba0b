"""The clips a benchmark measures on: a dataset's, synthetic UCF101-like ones, copies of real ones, or the demo's."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from collections.abc import Callable

import cv2
import numpy as np

from benchmarks import common

logger = logging.getLogger("benchmarks")
FPS = 25.0


def clip_paths_of(data_root: str) -> list[str]:
    """Every clip of a dataset (Keras or UCF101 layout, all splits), in video id order."""
    from video_datasets import manifest

    try:
        clips = manifest.read_manifest(data_root)
    except manifest.DatasetError as error:
        raise common.fail(str(error)) from None
    return [clip.path for clip in sorted(clips, key=lambda clip: clip.video_id)]


def ucf101_like_clip_paths(output_dir: str, num_clips: int, seed: int = 0) -> list[str]:
    """Synthetic clips shaped like UCF101's: 320x240, 25 fps, 150-210 frames, XVID .avi.

    A smooth texture panning under per-frame noise, so that the codec has real
    work (about 3 MB a clip: more bits than UCF101's ~0.5 MB, i.e. decoding is
    on the expensive side). Decoding every frame of such clips costs a large
    share of the model's time, unlike the demo's 6-40 small frames.
    """
    rng = np.random.RandomState(seed)
    os.makedirs(output_dir, exist_ok=True)
    paths = []
    for index in range(num_clips):
        paths.append(os.path.join(output_dir, f"v_Synthetic_g{index // 4 + 1:02d}_c{index % 4 + 1:02d}.avi"))
        scene = texture_scene(rng)
        write_panning_texture(paths[-1], scene, rng.randint(150, 211), lambda _: rng.normal(0, 6, (240, 320, 1)))
    return paths


def texture_scene(rng: np.random.RandomState) -> np.ndarray:
    """A smooth random texture of 640x480, twice a frame's size, for write_panning_texture to pan over."""
    return cv2.resize(rng.uniform(0, 255, (60, 80, 3)).astype(np.float32), (640, 480), interpolation=cv2.INTER_CUBIC)


def write_panning_texture(path: str, scene: np.ndarray, num_frames: int, noise: Callable[[int], np.ndarray]) -> None:
    """A 320x240 XVID video at 25 frames/s of `num_frames` frames: a window panning over `scene`, plus `noise(frame index)`."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"XVID"), FPS, (320, 240))
    try:
        for frame_index in range(num_frames):
            left, top = (2 * frame_index) % 320, frame_index % 240
            writer.write(np.clip(scene[top : top + 240, left : left + 320] + noise(frame_index), 0, 255).astype(np.uint8))
    finally:
        writer.release()


def copied_clip_paths(source_dir: str, output_dir: str, num_clips: int) -> list[str]:
    """`num_clips` copies of the videos in `source_dir`, cycled: real footage when only a few clips exist."""
    from video_datasets.ucf101_layout import VIDEO_EXTENSIONS

    sources = (
        sorted(name for name in os.listdir(source_dir) if name.lower().endswith(VIDEO_EXTENSIONS)) if os.path.isdir(source_dir) else []
    )
    if not sources:
        raise common.fail(f"--copies-of: no video files in {source_dir}")
    os.makedirs(output_dir, exist_ok=True)
    paths = []
    for index in range(num_clips):
        name = sources[index % len(sources)]
        paths.append(os.path.join(output_dir, f"{index:04d}_{name}"))
        shutil.copyfile(os.path.join(source_dir, name), paths[-1])
    return paths


def clip_paths(args: argparse.Namespace, workdir: str) -> tuple[list[str], str]:
    """The --clips clips to measure on and what they are (the JSON's clip_style)."""
    if args.data_root:
        return clip_paths_of(args.data_root)[: args.clips], "data-root"
    if args.copies_of:
        return copied_clip_paths(args.copies_of, os.path.join(workdir, "copies"), args.clips), f"copies-of {args.copies_of}"
    logger.info("generating %d %s clips in %s", args.clips, args.clip_style, workdir)
    if args.clip_style == "ucf101-like":
        return ucf101_like_clip_paths(os.path.join(workdir, "ucf101_like"), args.clips), args.clip_style
    common.demo_dataset(os.path.join(workdir, "demo"), args.clips)
    return clip_paths_of(os.path.join(workdir, "demo"))[: args.clips], args.clip_style
