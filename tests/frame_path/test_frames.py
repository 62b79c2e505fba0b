"""Frame sampling, cropping, padding and decoding (real clips, no mocks)."""

import os

import cv2
import numpy as np
import pytest

from frame_path import frames
from tests.conftest import REAL_CLIPS
from tests.helpers import declared_frame_count, every_frame


def test_uniform_sampling_spans_the_whole_clip():
    indices = frames.sample_frame_indices(100, 5, "uniform")
    assert indices.tolist() == [0, 25, 50, 74, 99]


def test_uniform_sampling_gives_distinct_increasing_indices():
    for num_frames in range(21, 200):
        indices = frames.sample_frame_indices(num_frames, 20, "uniform")
        assert len(indices) == 20 and np.all(np.diff(indices) > 0) and indices[-1] == num_frames - 1


def test_one_view_is_the_training_sample():
    dense = frames.sample_frame_indices(100, 20, "uniform")
    assert frames.view_positions(len(dense), 20, 1).tolist() == [list(range(20))]


@pytest.mark.parametrize("num_sampled, views", [(60, 3), (40, 3), (25, 2), (80, 4)])
def test_views_interleave_and_each_covers_the_clip(num_sampled, views):
    positions = frames.view_positions(num_sampled, 20, views)
    assert positions.shape == (views, 20)
    assert np.all(np.diff(positions, axis=1) > 0)  # each view a clip's sample: distinct frames in order
    assert positions[:, 0].max() <= num_sampled / 20 and positions[:, -1].min() >= num_sampled - 1 - num_sampled / 20
    spacing = (num_sampled - 1) / 19
    assert np.all(np.abs(positions - positions.mean(axis=0)) <= spacing / 2 + 0.5)  # offset by less than half a step
    assert len({frame for view in positions.tolist() for frame in view}) > 20  # the views see frames the others miss


def test_a_clip_no_longer_than_the_sample_has_one_view():
    assert frames.view_positions(15, 20, 3).tolist() == [list(range(15))]
    with pytest.raises(ValueError, match="at least 1"):
        frames.view_positions(15, 20, 0)


def test_first_sampling_keeps_the_first_frames():
    assert frames.sample_frame_indices(100, 4, "first").tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("sampling", ["uniform", "first"])
def test_short_clip_keeps_every_frame(sampling):
    assert frames.sample_frame_indices(3, 20, sampling).tolist() == [0, 1, 2]


def test_unknown_sampling_is_refused():
    with pytest.raises(ValueError, match="unknown sampling"):
        frames.sample_frame_indices(10, 5, "random")


def test_center_crop_takes_the_middle_square():
    frame = np.arange(4 * 8).reshape(4, 8)
    assert frames.center_crop_square(frame).tolist() == frame[:, 2:6].tolist()
    assert frames.center_crop_square(frame.T).tolist() == frame.T[2:6, :].tolist()


def test_crop_and_resize_gives_rgb_square():
    frame_bgr = np.zeros((60, 100, 3), np.uint8)
    frame_bgr[:, :20] = (255, 0, 0)  # blue border, cropped away
    frame_bgr[:, 20:80] = (0, 0, 255)  # red center
    rgb = frames.crop_and_resize(frame_bgr, 32)
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 0] == 255).all() and (rgb[..., 2] == 0).all()


def test_pad_to_length_pads_with_zeros_and_masks():
    features = np.ones((3, 4), np.float32)
    padded, mask = frames.pad_to_length(features, 5)
    assert padded.shape == (5, 4) and mask.tolist() == [1, 1, 1, 0, 0]
    assert (padded[:3] == 1).all() and (padded[3:] == 0).all()


def test_pad_to_length_refuses_too_many_frames():
    with pytest.raises(ValueError):
        frames.pad_to_length(np.ones((6, 4), np.float32), 5)


@pytest.mark.parametrize("clip_name", ["v_Punch_g03_c01.avi", "v_Biking_g05_c02.avi"])
def test_real_ucf101_clip_decodes(clip_name):
    path = os.path.join(REAL_CLIPS, clip_name)
    frame_count = declared_frame_count(path)
    decoded = frames.decode_clip(path, max_seq_length=20, image_size=128, sampling="uniform")
    assert decoded.frames.shape == (20, 128, 128, 3) and decoded.frames.dtype == np.uint8
    assert abs(decoded.num_frames - frame_count) <= 2 and decoded.num_frames > 20
    assert decoded.frames.std() > 10  # real footage, not blank frames
    # Uniform sampling reaches the end of the clip: first and last frames differ.
    assert np.abs(decoded.frames[0].astype(int) - decoded.frames[-1]).mean() > 1


def _every_frame_then_sample(path, max_seq_length, image_size, sampling):
    """The plain way decode_clip must agree with: crop and resize every frame, then sample."""
    small_frames = [frames.crop_and_resize(frame, image_size) for frame in every_frame(path)]
    indices = frames.sample_frame_indices(len(small_frames), max_seq_length, sampling)
    return np.stack([small_frames[index] for index in indices]), len(small_frames)


def _cut_clip(tmp_path, fraction):
    with open(os.path.join(REAL_CLIPS, "v_Punch_g03_c01.avi"), "rb") as clip:
        content = clip.read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(content[: int(len(content) * fraction)])
    return str(cut)


@pytest.mark.parametrize("clip_name", ["v_Punch_g03_c01.avi", "v_Biking_g05_c02.avi", "cut"])
@pytest.mark.parametrize("sampling", ["uniform", "first"])
def test_decoding_only_sampled_frames_gives_the_frames_of_decoding_all(tmp_path, clip_name, sampling):
    # "cut": the container still declares 108 frames, 106 decode (a miscount,
    # not a truncation), so the sample planned from the declared count is wrong
    # and decode_clip must re-plan from the real count.
    path = _cut_clip(tmp_path, 0.97) if clip_name == "cut" else os.path.join(REAL_CLIPS, clip_name)
    if clip_name == "cut":
        assert declared_frame_count(path) == 108
    expected_frames, frame_count = _every_frame_then_sample(path, 20, 64, sampling)
    decoded = frames.decode_clip(path, max_seq_length=20, image_size=64, sampling=sampling)
    assert np.array_equal(decoded.frames, expected_frames)
    assert decoded.num_frames == (frame_count if sampling == "uniform" else 20)
    if clip_name == "cut":
        assert frame_count == 106


def test_real_clip_first_sampling_stops_early():
    path = os.path.join(REAL_CLIPS, "v_Punch_g03_c01.avi")
    decoded = frames.decode_clip(path, max_seq_length=8, image_size=64, sampling="first")
    assert decoded.frames.shape == (8, 64, 64, 3) and decoded.num_frames == 8


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty file"), (b"this is not a video\n" * 20, "not a readable video"), (None, "file not found")],
)
def test_unreadable_files_raise_with_reason(tmp_path, content, reason):
    path = tmp_path / "clip.avi"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(frames.VideoDecodeError, match=reason):
        frames.decode_clip(str(path), 20, 64, "uniform")


def test_truncated_clip_is_reported_not_silently_shortened(tmp_path):
    with pytest.raises(frames.VideoDecodeError, match=r"truncated: \d+ of \d+ frames decodable"):
        frames.decode_clip(_cut_clip(tmp_path, 0.5), 20, 64, "uniform")


def test_clip_without_frames_is_reported(tmp_path):
    path = str(tmp_path / "zero.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    writer.release()
    with pytest.raises(frames.VideoDecodeError, match="no decodable frames"):
        frames.decode_clip(path, 20, 64, "uniform")
