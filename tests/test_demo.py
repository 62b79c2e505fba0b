"""Tests of the demo dataset generator and the download helper (offline), on real files."""

from __future__ import annotations

import csv
import io
import os
import pathlib
import re
import subprocess
import sys
import tarfile

import cv2
import numpy as np
import pytest

from tests.helpers import declared_frame_count, every_frame
from video_datasets import demo, download
from video_datasets.manifest import DatasetError, read_manifest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_TRAIN, DEFAULT_TEST = 12, 4
# Nothing listens on the discard port of the loopback interface: the connection is refused at once.
UNREACHABLE_URL = "http://127.0.0.1:9/ucf101_top5.tar.gz"
CLIP_NAME = re.compile(r"^v_(?P<label>[A-Za-z]+)_g(?P<group>\d{2})_c(?P<clip>\d{2})\.(?P<ext>avi|mp4)$")


def _decode(path) -> tuple[list[np.ndarray], int, str]:
    """Every frame of a clip, the container's frame count and the codec fourcc."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"OpenCV cannot open {path}"
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("ascii", errors="replace")
    capture.release()
    return every_frame(path), declared_frame_count(path), fourcc


def _read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as csv_file:
        return list(csv.DictReader(csv_file))


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("demo")
    assert demo.generate_demo_dataset(str(root)) == str(root)
    return root


@pytest.fixture(scope="module")
def decoded_clips(demo_root) -> dict[str, tuple[list[np.ndarray], int, str]]:
    """'train/v_..avi' -> decoded clip, for every clip of the default dataset (decoded once)."""
    return {
        f"{split}/{row['video_name']}": _decode(demo_root / split / row["video_name"])
        for split in ("train", "test")
        for row in _read_csv(demo_root / f"{split}.csv")
    }


# --- demo dataset ------------------------------------------------------------------------------


def test_demo_csvs(demo_root):
    for split, clips_per_class, groups in (("train", DEFAULT_TRAIN, range(8, 100)), ("test", DEFAULT_TEST, range(1, 8))):
        text = (demo_root / f"{split}.csv").read_text()
        assert text.startswith("video_name,tag\n")
        rows = _read_csv(demo_root / f"{split}.csv")
        assert len(rows) == clips_per_class * len(demo.DEMO_CLASSES)
        for row in rows:
            match = CLIP_NAME.match(row["video_name"])
            assert match, row["video_name"]
            assert match["label"] == row["tag"]
            assert int(match["group"]) in groups
            assert (demo_root / split / row["video_name"]).is_file()
        for class_name in demo.DEMO_CLASSES:
            assert sum(row["tag"] == class_name for row in rows) == clips_per_class
    train_groups = [CLIP_NAME.match(row["video_name"])["group"] for row in _read_csv(demo_root / "train.csv")]
    # About two clips per group and class, so that eval can hold groups out.
    assert max(train_groups.count(group) for group in set(train_groups)) <= 2 * len(demo.DEMO_CLASSES)
    assert len(set(train_groups)) >= 3


def test_demo_clips_decode_to_their_frame_counts(decoded_clips):
    lengths = []
    for video_id, (frames, frame_count, _) in decoded_clips.items():
        assert len(frames) == frame_count, f"{video_id}: decoded {len(frames)} of {frame_count} frames"
        assert demo.MIN_FRAMES <= len(frames) <= demo.MAX_FRAMES
        lengths.append(len(frames))
    assert sum(length < 20 for length in lengths) >= 5, "several clips are shorter than MAX_SEQ_LENGTH"
    assert max(lengths) > 20


def test_demo_clips_vary_in_codec_and_size(demo_root, decoded_clips):
    fourccs = {fourcc for _, _, fourcc in decoded_clips.values()}
    assert len(fourccs) >= 2, fourccs
    assert {os.path.splitext(video_id)[1] for video_id in decoded_clips} == {".avi", ".mp4"}
    # The AVI stream header names the codec it was written with.
    avi_codecs = {(demo_root / video_id).read_bytes()[:512].count(b"XVID") > 0 for video_id in decoded_clips if video_id.endswith(".avi")}
    assert avi_codecs == {True, False}, "both MJPG and XVID AVI files"
    shapes = {frames[0].shape[:2] for frames, _, _ in decoded_clips.values()}
    assert len(shapes) >= 3
    assert any(height != width for height, width in shapes), "some frames are not square"


def test_demo_dataset_is_small(demo_root):
    total_bytes = sum(path.stat().st_size for path in demo_root.rglob("*") if path.is_file())
    assert total_bytes < 10 * 1024 * 1024


def _partner(video_id: str, forward: str, backward: str) -> str:
    return video_id.replace(f"v_{forward}_", f"v_{backward}_")


def _foreground_fraction(frame: np.ndarray) -> float:
    """Share of pixels unlike the corners (the background), i.e. the size of the shape."""
    corners = np.stack([frame[0, 0], frame[0, -1], frame[-1, 0], frame[-1, -1]]).astype(np.int32)
    background = np.median(corners, axis=0)
    distance = np.abs(frame.astype(np.int32) - background).sum(axis=2)
    return float((distance > 60).mean())


def test_demo_pairs_are_time_reversed(decoded_clips):
    for forward, backward in demo.CLASS_PAIRS:
        forward_ids = [video_id for video_id in decoded_clips if f"/v_{forward}_" in video_id]
        assert forward_ids
        for video_id in forward_ids:
            forward_frames = decoded_clips[video_id][0]
            backward_frames = decoded_clips[_partner(video_id, forward, backward)][0]
            assert len(forward_frames) == len(backward_frames)
            # Same frames, opposite order (up to the lossy codec).
            difference = np.mean(
                [np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in zip(forward_frames[::-1], backward_frames)]
            )
            assert difference < 4.0, f"{video_id}: mean difference {difference:.2f}"


def test_demo_brightness_and_size_progressions(decoded_clips):
    for video_id, (frames, _, _) in decoded_clips.items():
        brightness = np.array([frame.mean() for frame in frames])
        sizes = np.array([_foreground_fraction(frame) for frame in frames])
        if "/v_Brighten_" in video_id:
            assert brightness[-1] - brightness[0] > 80 and np.all(np.diff(brightness) > -3), video_id
        elif "/v_Darken_" in video_id:
            assert brightness[0] - brightness[-1] > 80 and np.all(np.diff(brightness) < 3), video_id
        elif "/v_Grow_" in video_id:
            assert sizes[0] < 0.1 and sizes[-1] > 0.4 and np.all(np.diff(sizes) > -0.02), video_id
        elif "/v_Shrink_" in video_id:
            assert sizes[-1] < 0.1 and sizes[0] > 0.4 and np.all(np.diff(sizes) < 0.02), video_id
        else:
            pytest.fail(f"unexpected clip {video_id}")


def test_same_seed_same_dataset(tmp_path):
    roots = [tmp_path / name for name in ("first", "second", "other_seed")]
    for root, seed in zip(roots, (3, 3, 4)):
        demo.generate_demo_dataset(str(root), train_clips_per_class=2, test_clips_per_class=1, seed=seed)
    for split in ("train", "test"):
        assert (roots[0] / f"{split}.csv").read_bytes() == (roots[1] / f"{split}.csv").read_bytes()
    differs_from_other_seed = False
    for row in _read_csv(roots[0] / "train.csv") + _read_csv(roots[0] / "test.csv"):
        split = "train" if (roots[0] / "train" / row["video_name"]).exists() else "test"
        first, _, _ = _decode(roots[0] / split / row["video_name"])
        second, _, _ = _decode(roots[1] / split / row["video_name"])
        assert len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))
        other_path = roots[2] / split / row["video_name"]
        if not other_path.exists() or len(_decode(other_path)[0]) != len(first):
            differs_from_other_seed = True
    assert differs_from_other_seed


def test_demo_dataset_reads_as_a_manifest(demo_root):
    clips = read_manifest(str(demo_root))
    assert len(clips) == (DEFAULT_TRAIN + DEFAULT_TEST) * len(demo.DEMO_CLASSES)
    for split in ("train", "eval", "test"):
        assert {clip.label for clip in clips if clip.split == split} == set(demo.DEMO_CLASSES), split
    # A clip and its time-reversed partner share a group, so they never straddle train and eval.
    assert not {clip.group for clip in clips if clip.split == "eval"} & {clip.group for clip in clips if clip.split == "train"}


def test_demo_cli(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "video_datasets.demo",
            str(tmp_path / "cli"),
            "--train-clips-per-class",
            "1",
            "--test-clips-per-class",
            "1",
            "--seed",
            "5",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert len(_read_csv(tmp_path / "cli" / "train.csv")) == len(demo.DEMO_CLASSES)
    help_result = subprocess.run(
        [sys.executable, "-m", "video_datasets.demo", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert help_result.returncode == 0 and "--train-clips-per-class" in help_result.stdout


# --- download helper ---------------------------------------------------------------------------


def test_download_fails_offline_with_one_line_hint(tmp_path):
    with pytest.raises(DatasetError) as raised:
        download.download_ucf101_top5(str(tmp_path / "ucf"), url=UNREACHABLE_URL, timeout=5)
    message = str(raised.value)
    assert "\n" not in message
    assert "failed" in message and "--data-root" in message and UNREACHABLE_URL in message
    assert not [name for name in os.listdir(tmp_path / "ucf")], "no partial download is left"


def test_download_cli_fails_offline_with_exit_code_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "video_datasets.download", str(tmp_path / "ucf"), "--url", UNREACHABLE_URL, "--timeout", "5"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "--data-root" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_download_skipped_when_dataset_is_there(tmp_path):
    data_root = tmp_path / "ucf" / "ucf101_top5"
    data_root.mkdir(parents=True)
    (data_root / "train.csv").write_text("video_name,tag\n")
    (data_root / "test.csv").write_text("video_name,tag\n")
    assert download.download_ucf101_top5(str(tmp_path / "ucf"), url=UNREACHABLE_URL) == str(data_root)


def _write_archive(path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return pathlib.Path(path).as_uri()


def test_download_extracts_a_local_archive(tmp_path):
    # urllib reads file:// URLs, so the whole download-and-extract path runs without a network.
    url = _write_archive(
        tmp_path / "ucf101_top5.tar.gz",
        {
            "ucf101_top5/train.csv": b"video_name,tag\n",
            "ucf101_top5/test.csv": b"video_name,tag\n",
            "ucf101_top5/train/v_Punch_g08_c01.avi": b"",
        },
    )
    data_root = download.download_ucf101_top5(str(tmp_path / "target"), url=url)
    assert data_root == str(tmp_path / "target" / "ucf101_top5")
    assert (tmp_path / "target" / "ucf101_top5" / "train" / "v_Punch_g08_c01.avi").is_file()
    assert sorted(os.listdir(tmp_path / "target")) == ["ucf101_top5"], "no temporary files are left"


@pytest.mark.parametrize("bad_member", ["../escape.txt", "/tmp/absolute.txt", "data/../../escape.txt"])
def test_download_refuses_archive_members_leaving_the_target(tmp_path, bad_member):
    url = _write_archive(tmp_path / "evil.tar.gz", {"data/train.csv": b"", bad_member: b"x"})
    with pytest.raises(DatasetError) as raised:
        download.download_ucf101_top5(str(tmp_path / "target"), url=url)
    assert "refusing" in str(raised.value)
    assert os.listdir(tmp_path / "target") == []
    assert not (tmp_path / "escape.txt").exists()


def test_download_rejects_a_corrupt_archive(tmp_path):
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tar file")
    with pytest.raises(DatasetError) as raised:
        download.download_ucf101_top5(str(tmp_path / "target"), url=(tmp_path / "broken.tar.gz").as_uri())
    assert "not a readable tar archive" in str(raised.value)


def test_demo_groups_share_a_scene_and_test_groups_are_unseen(demo_root, decoded_clips):
    # A group number's clips of both classes of a pair: one scene forwards and backwards.
    pair_of = {name: index for index, pair in enumerate(demo.CLASS_PAIRS) for name in pair}
    by_group: dict[tuple[str, int, str], list[np.ndarray]] = {}
    for video_id, (frames, _, _) in decoded_clips.items():
        split, name = video_id.split("/")
        match = CLIP_NAME.match(name)
        by_group.setdefault((split, pair_of[match["label"]], match["group"]), []).append(frames)
    assert all(len(clips) >= 2 for clips in by_group.values()), "every scene is seen in both classes of its pair"
    for (_, pair_index, _), clips in by_group.items():
        assert len({clip[0].shape for clip in clips}) == 1, "a group's clips share the frame size"
        if pair_index == 0:
            # Same background colour (the corners stay background at every shape size).
            corners = [clip[0][:4, :4].reshape(-1, 3).mean(axis=0) for clip in clips]
            assert np.abs(corners[0] - corners[1]).max() < 12
    train_groups = {group for split, _, group in by_group if split == "train"}
    test_groups = {group for split, _, group in by_group if split == "test"}
    assert not train_groups & test_groups


def test_demo_actions_fill_only_part_of_some_clips(decoded_clips):
    static_stretches = 0
    for video_id, (frames, _, _) in decoded_clips.items():
        if len(frames) < 20 or "/v_Brighten_" not in video_id:
            continue
        brightness = np.array([frame.mean() for frame in frames])
        steps = np.abs(np.diff(brightness))
        # A static start or end: the first or last steps do not change the brightness (codec noise only).
        if steps[:3].max() < 0.5 or steps[-3:].max() < 0.5:
            static_stretches += 1
    assert static_stretches >= 2
