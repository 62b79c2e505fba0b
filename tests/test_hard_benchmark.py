"""Tests of the hard benchmark generator, on real files decoded with OpenCV (a small configuration)."""

from __future__ import annotations

import csv
import pathlib
import re

import cv2
import numpy as np
import pytest

from frame_path import frames as clip_frames
from tests.helpers import every_frame
from video_datasets import hard_benchmark
from video_datasets.hard_benchmark import BenchmarkConfig
from video_datasets.manifest import read_manifest

SMALL = BenchmarkConfig(seed=3, train_groups=2, test_groups=1, train_clips_per_group=1, test_clips_per_group=2)
CLIPS_PER_GROUP = {"train": SMALL.train_clips_per_group, "test": SMALL.test_clips_per_group}
CLIP_NAME = re.compile(r"^v_(?P<label>[A-Za-z]+)_g(?P<group>\d{2})_c(?P<clip>\d{2})\.(?P<ext>avi|mp4)$")


def _rows(root: pathlib.Path, split: str) -> list[dict[str, str]]:
    with open(root / f"{split}.csv", newline="") as csv_file:
        return list(csv.DictReader(csv_file))


@pytest.fixture(scope="module")
def small_root(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("hard")
    assert hard_benchmark.generate_hard_benchmark(str(root), SMALL) == str(root)
    return root


@pytest.fixture(scope="module")
def decoded(small_root) -> dict[str, list[np.ndarray]]:
    clips = {}
    for split in ("train", "test"):
        for row in _rows(small_root, split):
            path = small_root / split / row["video_name"]
            if path.stat().st_size > 100_000:  # the corrupt files are tiny or cut; they have their own test
                clips[f"{split}/{row['video_name']}"] = every_frame(path)
    return clips


def test_layout_classes_and_disjoint_groups(small_root):
    assert len(hard_benchmark.CLASSES) == 6
    groups = {}
    for split, group_count in (("train", SMALL.train_groups), ("test", SMALL.test_groups)):
        text = (small_root / f"{split}.csv").read_text()
        assert text.startswith("video_name,tag\n")
        rows = _rows(small_root, split)
        regular = [row for row in rows if int(CLIP_NAME.match(row["video_name"])["clip"]) <= CLIPS_PER_GROUP[split]]
        assert len(regular) == len(hard_benchmark.CLASSES) * group_count * CLIPS_PER_GROUP[split]
        for row in rows:
            match = CLIP_NAME.match(row["video_name"])
            assert match and match["label"] == row["tag"]
            assert (small_root / split / row["video_name"]).is_file()
        groups[split] = {int(CLIP_NAME.match(row["video_name"])["group"]) for row in rows}
    assert not groups["train"] & groups["test"]
    assert max(groups["test"]) < hard_benchmark.FIRST_TRAIN_GROUP <= min(groups["train"])
    # The manifest reads it and keeps the eval split's groups out of train.
    clips = read_manifest(str(small_root))
    assert {clip.split for clip in clips} == {"train", "eval", "test"}
    assert not {c.group for c in clips if c.split == "eval"} & {c.group for c in clips if c.split == "train"}


def test_corrupt_files_are_listed_and_rejected_by_the_frame_path(small_root):
    corrupt = [
        small_root / split / row["video_name"]
        for split in ("train", "test")
        for row in _rows(small_root, split)
        if int(CLIP_NAME.match(row["video_name"])["clip"]) > CLIPS_PER_GROUP[split]
    ]
    assert len(corrupt) == 3
    for path in corrupt:
        with pytest.raises(clip_frames.VideoDecodeError):
            clip_frames.decode_clip(str(path), max_seq_length=20, image_size=32, sampling="uniform")


def test_clip_properties(decoded):
    lengths, sizes = [], set()
    for video_id, clip in decoded.items():
        assert hard_benchmark.MIN_FRAMES <= len(clip) <= hard_benchmark.MAX_FRAMES, video_id
        height, width = clip[0].shape[:2]
        assert 320 <= width <= 480 and 240 <= height <= 300, video_id
        lengths.append(len(clip))
        sizes.add((width, height))
    assert min(lengths) < 20 < max(lengths), "clips both shorter and longer than the sampled frames"
    assert len(sizes) >= 3


def test_group_clips_share_a_frame_size_and_groups_differ(decoded):
    sizes: dict[tuple[str, str], set] = {}
    for video_id, clip in decoded.items():
        match = CLIP_NAME.match(video_id.split("/")[1])
        sizes.setdefault((match["label"], match["group"]), set()).add(clip[0].shape)
    assert all(len(group_sizes) == 1 for group_sizes in sizes.values()), sizes
    assert len({next(iter(group_sizes)) for group_sizes in sizes.values()}) > 1


def _brightness_change(clip: list[np.ndarray]) -> float:
    return float(clip[-1].mean() - clip[0].mean())


def test_pairs_differ_only_in_direction(decoded):
    """Brighten gets brighter, Darken darker; Grow/Shrink and Sharpen/Blur change their own measure in opposite directions."""

    def sharpness(frame: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    for video_id, clip in decoded.items():
        label = CLIP_NAME.match(video_id.split("/")[1])["label"]
        if label == "Brighten":
            assert _brightness_change(clip) > 30, video_id
        elif label == "Darken":
            assert _brightness_change(clip) < -30, video_id
        elif label in ("Sharpen", "Blur"):
            ratio = sharpness(clip[-1]) / sharpness(clip[0])
            assert (ratio > 2.0) if label == "Sharpen" else (ratio < 0.5), (video_id, ratio)
        elif label in ("Grow", "Shrink"):
            # At the big end the object covers the frame's centre: its colour there is the object's.
            big_end = clip[-1] if label == "Grow" else clip[0]
            height, width = big_end.shape[:2]
            colour = np.median(big_end[height // 2 - 2 : height // 2 + 3, width // 2 - 2 : width // 2 + 3].reshape(-1, 3), axis=0)

            def coverage(frame: np.ndarray) -> float:
                return float((np.abs(frame.astype(np.int32) - colour).sum(axis=2) < 60).mean())

            growth = coverage(clip[-1]) - coverage(clip[0])
            assert (growth > 0.1) if label == "Grow" else (growth < -0.1), (video_id, growth)


def test_actions_fill_part_of_long_clips(decoded):
    """Long clips start or end with a static stretch (the action is inside the clip)."""
    static = 0
    long_clips = [clip for video_id, clip in decoded.items() if len(clip) >= 40 and ("Brighten" in video_id or "Darken" in video_id)]
    for clip in long_clips:
        brightness = np.array([frame.mean() for frame in clip])
        steps = np.abs(np.diff(brightness))
        if steps[:5].max() < 1.0 or steps[-5:].max() < 1.0:
            static += 1
    assert not long_clips or static >= len(long_clips) // 2


def test_same_seed_same_dataset_other_seed_differs(tmp_path):
    roots = [tmp_path / name for name in ("a", "b", "c")]
    for root, seed in zip(roots, (5, 5, 6)):
        hard_benchmark.generate_hard_benchmark(str(root), BenchmarkConfig(seed, 1, 1, 1, corrupt_files=False))
    differs = False
    for split in ("train", "test"):
        assert (roots[0] / f"{split}.csv").read_bytes() == (roots[1] / f"{split}.csv").read_bytes()
        for row in _rows(roots[0], split):
            first, second = (every_frame(root / split / row["video_name"]) for root in roots[:2])
            assert len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))
            other = roots[2] / split / row["video_name"]
            differs |= not other.exists() or len(every_frame(other)) != len(first)
    assert differs


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError):
        BenchmarkConfig(test_groups=8)
    with pytest.raises(ValueError):
        BenchmarkConfig(train_clips_per_group=0)
    with pytest.raises(ValueError):
        BenchmarkConfig(test_clips_per_group=0)


def test_the_shifted_set_fills_whole_clips_with_part_of_an_action(tmp_path):
    """hard_benchmark.SHIFTED: no static stretch at either end (the action fills the clip), and only part of its course."""
    import dataclasses

    config = dataclasses.replace(hard_benchmark.SHIFTED, seed=3, test_groups=1, test_clips_per_group=3, num_frames_range=(30, 60))
    hard_benchmark.generate_hard_benchmark(str(tmp_path), config)
    changes = []
    for row in _rows(tmp_path, "test"):
        if row["tag"] not in ("Brighten", "Darken"):
            continue
        brightness = np.array([frame.mean() for frame in every_frame(tmp_path / "test" / row["video_name"])])
        whole_change = abs(brightness[-1] - brightness[0])
        tenth = max(1, len(brightness) // 10)
        assert abs(brightness[tenth] - brightness[0]) > 0.01 * whole_change, row  # moving from the first frame
        assert abs(brightness[-1] - brightness[-1 - tenth]) > 0.01 * whole_change, row  # to the last
        changes.append(whole_change / brightness.max())
    assert len(changes) == 6 and min(changes) < 0.69  # a full course goes from 15-30% to 100% brightness: 0.7-0.85
    with pytest.raises(ValueError):
        dataclasses.replace(hard_benchmark.SHIFTED, course_fraction_range=(0.0, 1.0))


def test_an_action_sequence_holds_its_actions_in_a_row(tmp_path):
    path = tmp_path / "sequence.avi"
    actions = hard_benchmark.write_action_sequence(str(path), ("Brighten", "Grow", "Darken"), group=2, frames_per_action=(30, 40))
    assert [action["label"] for action in actions] == ["Brighten", "Grow", "Darken"]
    assert actions[0]["start_frame"] == 0 and all(
        before["end_frame"] == after["start_frame"] for before, after in zip(actions, actions[1:])
    )
    video = every_frame(path)
    assert len(video) == actions[-1]["end_frame"] and all(30 <= action["end_frame"] - action["start_frame"] <= 40 for action in actions)
    brighten, _, darken = ([frame.mean() for frame in video[action["start_frame"] : action["end_frame"]]] for action in actions)
    assert brighten[-1] - brighten[0] > 30 and darken[-1] - darken[0] < -30


def test_the_held_out_sets_draw_other_scenes_timings_and_easing(tmp_path):
    """hard_benchmark.HELDOUT_TEST / HELDOUT_WHOLE: another seed's scenes, constant speed, the whole course in HELDOUT_WHOLE."""
    import dataclasses

    assert hard_benchmark.HELDOUT_TEST.seed != BenchmarkConfig().seed and hard_benchmark.HELDOUT_TEST.easing == "linear"
    assert hard_benchmark.HELDOUT_WHOLE.action_fraction_range == (1.0, 1.0) and hard_benchmark.HELDOUT_WHOLE.course_fraction_range == (
        1.0,
        1.0,
    )
    config = dataclasses.replace(hard_benchmark.HELDOUT_WHOLE, test_groups=1, test_clips_per_group=1, num_frames_range=(30, 30))
    hard_benchmark.generate_hard_benchmark(str(tmp_path), config)
    [brighten] = [row for row in _rows(tmp_path, "test") if row["tag"] == "Brighten"]
    brightness = np.array([frame.mean() for frame in every_frame(tmp_path / "test" / brighten["video_name"])])
    steps = np.diff(brightness)
    # Constant speed from the first frame to the last: the first and last steps are as large as the middle ones
    # (a smoothstep's are near zero).
    assert steps[0] > 0.5 * np.median(steps) and steps[-1] > 0.5 * np.median(steps)
    with pytest.raises(ValueError):
        BenchmarkConfig(easing="cubic")
