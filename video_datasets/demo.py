"""A small, deterministic demo dataset in the Keras example layout.

Four classes in two time-reversed pairs: `Grow`/`Shrink` (a patterned shape whose
size grows/shrinks over the clip) and `Brighten`/`Darken` (a textured scene that
fades in/out). Each `Shrink` clip is the frames of a `Grow` clip in reverse
order (same for `Darken`/`Brighten`), so every class sees the same frames and
only frame ORDER tells the classes apart: a model that ignores time is at
chance within a pair. The per-frame change is global (size, brightness), since
the features come from a CNN with global average pooling, which cannot see
where an object is.

Like the hard benchmark (video_datasets/hard_benchmark.py) and UCF101, the
clips of one group number (`v_<Class>_gNN_cNN`) share a scene (frame size,
colours, shape, texture): a group's `Grow` and `Shrink` clips are one scene
forwards and backwards, so the scene says nothing about the class within a
pair; test groups (1-7) are never seen in training, and the action
fills only a random stretch of each clip (static before and after it), so the
demo rewards a model that learns the action rather than the scene.

    python -m video_datasets.demo OUTPUT_DIR
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import sys

import cv2
import numpy as np

from video_datasets.keras_layout import COLUMNS as KERAS_COLUMNS
from video_datasets.keras_layout import CSV_FILES as KERAS_CSV_FILES
from video_datasets.ucf101_layout import FALLBACK_TEST_GROUPS

# (forward class, its time-reversed partner)
CLASS_PAIRS: tuple[tuple[str, str], ...] = (("Grow", "Shrink"), ("Brighten", "Darken"))
DEMO_CLASSES: tuple[str, ...] = tuple(name for pair in CLASS_PAIRS for name in pair)

# (fourcc, extension): clips cycle through the three, so decoding is tested on each.
CODECS: tuple[tuple[str, str], ...] = (("MJPG", ".avi"), ("XVID", ".avi"), ("mp4v", ".mp4"))
# (width, height); non-square sizes make center cropping matter.
FRAME_SIZES: tuple[tuple[int, int], ...] = ((160, 120), (128, 96), (96, 96), (176, 144))
MIN_FRAMES, MAX_FRAMES = 6, 40
SHORT_CLIP_FRAMES = 20  # every third clip is shorter than this (clips shorter than MAX_SEQ_LENGTH)
FPS = 25.0
# UCF101 split 1 numbering (the manifest's fallback): groups 1-7 are test, 8 and up train.
FIRST_TRAIN_GROUP = FALLBACK_TEST_GROUPS.stop
TEST_GROUPS = len(FALLBACK_TEST_GROUPS)
# Many training scenes with one clip each: what varies across scenes is what a
# model can learn to ignore. Measured (demo features, test accuracy, mean of
# 3 training seeds, patterned shapes): 6 groups of 2 clips 0.92, 12 groups of
# 1 clip 1.00 (same number of clips, same extraction time).
TRAIN_CLIPS_PER_GROUP = 1
MJPEG_QUALITY = 75  # keeps the dataset small; quality is not what the demo is about
ACTION_FRACTION_RANGE = (0.5, 1.0)  # share of the clip the action fills


@dataclasses.dataclass(frozen=True)
class _Scene:
    """What the clips of one group share (as a UCF101 group shares actor and place)."""

    width: int
    height: int
    background: np.ndarray  # [3] (Grow/Shrink)
    shape_color: np.ndarray  # [3] (Grow/Shrink)
    is_circle: bool
    texture: np.ndarray  # float [height, width, 3] (Brighten/Darken)


@dataclasses.dataclass(frozen=True)
class _ClipSpec:
    num_frames: int
    width: int
    height: int
    fourcc: str
    extension: str


def _scene(seed: int, pair_index: int, group: int) -> _Scene:
    """The scene of a group; a clip and its time-reversed partner share it."""
    rng = np.random.RandomState([seed, pair_index, group])
    width, height = FRAME_SIZES[rng.randint(len(FRAME_SIZES))]
    background = rng.randint(0, 256, size=3)
    # Each channel half the range away from the background: the shape always stands out.
    shape_color = (background + 128 + rng.randint(-40, 41, size=3)) % 256
    texture = np.zeros((height, width, 3), dtype=np.float64)
    # Smooth random blobs at two scales: texture for the CNN, no single object.
    for cells, weight in ((4, 0.6), (12, 0.4)):
        coarse = rng.uniform(0.0, 1.0, size=(cells, cells, 3))
        texture += weight * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    texture = 80.0 + 175.0 * np.clip(texture, 0.0, 1.0)
    return _Scene(width, height, background, shape_color, bool(rng.rand() < 0.5), texture)


def _action_progress(num_frames: int, rng: np.random.RandomState) -> np.ndarray:
    """0 -> 1 with eased ends over a random stretch of the clip; static before and after it."""
    action_frames = min(num_frames, max(2, int(round(rng.uniform(*ACTION_FRACTION_RANGE) * num_frames))))
    start = rng.randint(0, num_frames - action_frames + 1)
    t = np.clip((np.arange(num_frames) - start) / (action_frames - 1), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _grow_frames(spec: _ClipSpec, scene: _Scene, rng: np.random.RandomState) -> list[np.ndarray]:
    """A patterned shape on a noisy background whose size grows from ~10% to ~90% of the frame.

    The shape carries a fine checker pattern (as a real object carries detail):
    a flat shape of colour B growing on A looks like a flat shape of A
    shrinking on B, so with random scene colours Grow and Shrink were
    ambiguous (6 training groups of 2 clips: test accuracy 0.75 with flat
    shapes, 0.92 patterned).
    """
    background, shape_color, is_circle = scene.background, scene.shape_color, scene.is_circle
    start_size, end_size = rng.uniform(0.08, 0.14), rng.uniform(0.85, 0.95)
    side = min(spec.width, spec.height)
    # Centered, so the shape is inside the center crop at every size; no motion.
    center = (spec.width // 2, spec.height // 2)
    rows, columns = np.mgrid[: spec.height, : spec.width]
    checker = ((rows // 4 + columns // 4) % 2).astype(np.float64)[..., None]
    shape_fill = shape_color[None, None, :] + 50.0 * (2.0 * checker - 1.0)
    frames = []
    for progress in _action_progress(spec.num_frames, rng):
        noise = rng.normal(0.0, 4.0, size=(spec.height, spec.width, 1))
        half_size = max(1, int(round(side * (start_size + (end_size - start_size) * progress) / 2)))
        inside = np.zeros((spec.height, spec.width), dtype=np.uint8)
        if is_circle:
            cv2.circle(inside, center, half_size, 1, thickness=-1)
        else:
            cv2.rectangle(
                inside, (center[0] - half_size, center[1] - half_size), (center[0] + half_size, center[1] + half_size), 1, thickness=-1
            )
        frame = np.where(inside[..., None].astype(bool), shape_fill, background[None, None, :]) + noise
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def _brighten_frames(spec: _ClipSpec, scene: _Scene, rng: np.random.RandomState) -> list[np.ndarray]:
    """The group's textured image, fading from ~15% to 100% brightness."""
    texture = scene.texture
    start_level, end_level = rng.uniform(0.12, 0.18), 1.0
    frames = []
    for progress in _action_progress(spec.num_frames, rng):
        level = start_level + (end_level - start_level) * progress
        noise = rng.normal(0.0, 3.0, size=(spec.height, spec.width, 1))
        frames.append(np.clip(texture * level + noise, 0, 255).astype(np.uint8))
    return frames


_FORWARD_FRAMES = {"Grow": _grow_frames, "Brighten": _brighten_frames}


def write_clip(path: str, frames: list[np.ndarray], fourcc: str) -> None:
    """BGR frames of one size -> a video file with the codec `fourcc` (shared with the hard benchmark)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), FPS, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} video to {path}")
    try:
        if fourcc == "MJPG":
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, MJPEG_QUALITY)
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()


def clip_name(class_name: str, group: int, clip: int, extension: str) -> str:
    return f"v_{class_name}_g{group:02d}_c{clip:02d}{extension}"


def _train_group_and_clip(index: int) -> tuple[int, int]:
    return FIRST_TRAIN_GROUP + index // TRAIN_CLIPS_PER_GROUP, index % TRAIN_CLIPS_PER_GROUP + 1


def _test_group_and_clip(index: int) -> tuple[int, int]:
    return index % TEST_GROUPS + 1, index // TEST_GROUPS + 1


def _clip_spec(rng: np.random.RandomState, index: int, codec_offset: int, scene: _Scene) -> _ClipSpec:
    # Every third clip is short, so padding and masking are always exercised.
    if index % 3 == 0:
        num_frames = rng.randint(MIN_FRAMES, SHORT_CLIP_FRAMES)
    else:
        num_frames = rng.randint(MIN_FRAMES, MAX_FRAMES + 1)
    width, height = scene.width, scene.height
    fourcc, extension = CODECS[(index + codec_offset) % len(CODECS)]
    return _ClipSpec(num_frames, width, height, fourcc, extension)


TRAIN_CLIPS_PER_CLASS, TEST_CLIPS_PER_CLASS = 12, 4  # the demo of `make setup`


def generate_demo_dataset(
    output_dir: str, train_clips_per_class: int = TRAIN_CLIPS_PER_CLASS, test_clips_per_class: int = TEST_CLIPS_PER_CLASS, seed: int = 0
) -> str:
    """Writes the demo dataset (train.csv, test.csv, train/, test/) to `output_dir`; returns it.

    The same seed gives byte-identical CSVs and identical decoded frames.
    """
    if train_clips_per_class < 1 or test_clips_per_class < 1:
        raise ValueError("train_clips_per_class and test_clips_per_class must be at least 1")
    rng = np.random.RandomState(seed)
    csv_rows: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for split, clips_per_class, group_and_clip in (
        ("train", train_clips_per_class, _train_group_and_clip),
        ("test", test_clips_per_class, _test_group_and_clip),
    ):
        split_dir = os.path.join(output_dir, split)
        os.makedirs(split_dir, exist_ok=True)
        for pair_index, (forward_class, reversed_class) in enumerate(CLASS_PAIRS):
            for index in range(clips_per_class):
                group, clip = group_and_clip(index)
                scene = _scene(seed, pair_index, group)
                spec = _clip_spec(rng, index, pair_index, scene)
                forward_frames = _FORWARD_FRAMES[forward_class](spec, scene, rng)
                # The partner clip is the same frames backwards: identical content, opposite order.
                for class_name, frames in ((forward_class, forward_frames), (reversed_class, forward_frames[::-1])):
                    name = clip_name(class_name, group, clip, spec.extension)
                    write_clip(os.path.join(split_dir, name), frames, spec.fourcc)
                    csv_rows[split].append((name, class_name))
    write_csvs(output_dir, csv_rows)
    return output_dir


def write_csvs(output_dir: str, rows_by_split: dict[str, list[tuple[str, str]]]) -> None:
    """SPLIT.csv (video_name,tag) of the Keras layout for each split (shared with the hard benchmark).

    Fixed line endings and row order: the CSVs are byte-identical for a seed.
    """
    for split, rows in rows_by_split.items():
        with open(os.path.join(output_dir, KERAS_CSV_FILES[split]), "w", newline="", encoding="utf-8") as csv_file:
            writer = csv.writer(csv_file, lineterminator="\n")
            writer.writerow(KERAS_COLUMNS)
            writer.writerows(sorted(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m video_datasets.demo",
        description=f"Writes the built-in demo dataset (classes {', '.join(DEMO_CLASSES)}) in the Keras example layout.",
    )
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="folder for train.csv, test.csv, train/ and test/")
    parser.add_argument("--train-clips-per-class", type=int, default=12, help="training clips per class (default: %(default)s)")
    parser.add_argument("--test-clips-per-class", type=int, default=4, help="test clips per class (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same dataset (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.train_clips_per_class < 1 or args.test_clips_per_class < 1:
        parser.error("--train-clips-per-class and --test-clips-per-class must be at least 1")
    generate_demo_dataset(args.output_dir, args.train_clips_per_class, args.test_clips_per_class, args.seed)
    num_clips = len(DEMO_CLASSES) * (args.train_clips_per_class + args.test_clips_per_class)
    print(f"Demo dataset: {num_clips} clips in {os.path.abspath(args.output_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
