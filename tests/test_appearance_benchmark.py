"""The appearance benchmark generator: only the object's look tells its classes apart (real files, decoded with OpenCV)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from tests.helpers import every_frame
from video_datasets import appearance_benchmark
from video_datasets.hard_benchmark import BenchmarkConfig
from video_datasets.manifest import read_manifest

SMALL = BenchmarkConfig(seed=2, train_groups=2, test_groups=1, train_clips_per_group=1, test_clips_per_group=1, corrupt_files=False)


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("mixed")
    appearance_benchmark.generate_appearance_benchmark(str(root), SMALL, appearance_benchmark.MIXED_CLASSES)
    return root


def _centre_changes(frames: list[np.ndarray]) -> np.ndarray:
    """How much the object area (the frame's middle) differs from the first frame, frame by frame."""
    height, width = frames[0].shape[:2]
    middle = [frame[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3].astype(np.float32) for frame in frames]
    return np.array([np.abs(frame - middle[0]).mean() for frame in middle])


def test_the_manifest_reads_every_class_in_disjoint_train_and_test_scenes(mixed_root):
    clips = read_manifest(str(mixed_root))
    assert {clip.label for clip in clips} == set(appearance_benchmark.MIXED_CLASSES)
    train_groups = {clip.group for clip in clips if clip.split != "test"}
    test_groups = {clip.group for clip in clips if clip.split == "test"}
    assert train_groups and test_groups and not train_groups & test_groups
    assert all(clip.problem is None for clip in clips)


def test_look_classes_keep_their_object_in_view_and_pop_classes_switch_it_part_way(mixed_root):
    for path in sorted((mixed_root / "train").iterdir()):
        frames = every_frame(path)
        label = path.name.split("_")[1]
        steps = np.abs(np.diff(_centre_changes(frames)))  # measured: pop jumps 16-60, the sway's steps at most 10
        if label in appearance_benchmark.POP_CLASSES:
            # A jump part-way (the square appears or leaves), not at the ends.
            jump = int(np.argmax(steps))
            assert steps[jump] > 12 and 0.2 * len(frames) < jump < 0.8 * len(frames), path.name
        else:
            assert steps.max() < 12, path.name  # the sway moves the object a little each frame


def test_the_same_seed_gives_the_same_clips(tmp_path):
    one_class = BenchmarkConfig(seed=5, train_groups=1, test_groups=1, train_clips_per_group=1, test_clips_per_group=1, corrupt_files=False)
    for name in ("a", "b"):
        appearance_benchmark.generate_appearance_benchmark(str(tmp_path / name), one_class, ("Disc",))
    assert (tmp_path / "a" / "train.csv").read_bytes() == (tmp_path / "b" / "train.csv").read_bytes()
    [first] = (tmp_path / "a" / "train").iterdir()
    np.testing.assert_array_equal(np.stack(every_frame(first)), np.stack(every_frame(tmp_path / "b" / "train" / first.name)))
