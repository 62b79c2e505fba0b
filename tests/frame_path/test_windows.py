"""Timeline windows: planned as training clips, every frame of the video decoded once (for the windows and the whole video)."""

import cv2
import numpy as np
import pytest

from frame_path import frames, windows
from tests.helpers import every_frame


def test_windows_cover_the_video_from_start_to_end():
    planned = windows.plan_windows(100, window_frames=40, stride_frames=25, max_seq_length=8, sampling="uniform")
    assert [(w.start_frame, w.end_frame) for w in planned] == [(0, 40), (25, 65), (50, 90), (60, 100)]  # the tail window ends at the end
    for window in planned:
        assert np.array_equal(window.frame_indices, window.start_frame + frames.sample_frame_indices(40, 8, "uniform"))
    assert [(w.start_frame, w.end_frame) for w in windows.plan_windows(30, 40, 25, 8, "uniform")] == [(0, 30)]  # shorter than a window
    assert [(w.start_frame, w.end_frame) for w in windows.plan_windows(65, 40, 25, 8, "uniform")] == [(0, 40), (25, 65)]
    with pytest.raises(ValueError):
        windows.plan_windows(10, 0, 5, 8, "uniform")


def _write_video(path, num_frames, fps=10):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for index in range(num_frames):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, : 1 + index % 64] = (index * 7) % 256  # each frame different
        writer.write(frame)
    writer.release()


def test_each_window_is_sampled_as_its_clip_and_each_frame_decoded_once(tmp_path, monkeypatch):
    path = str(tmp_path / "long.avi")
    _write_video(path, 95)
    grabs = []

    real_capture = cv2.VideoCapture

    class CountingCapture:
        """OpenCV's capture, counting the frames it decodes (grab)."""

        def __init__(self, *args):
            self._capture = real_capture(*args)

        def __getattr__(self, name):
            return getattr(self._capture, name)

        def grab(self):
            decoded_a_frame = self._capture.grab()
            grabs.extend([1] * decoded_a_frame)
            return decoded_a_frame

    video = windows.open_windows(path, window_seconds=3.0, stride_seconds=2.0, max_seq_length=6, sampling="uniform")
    assert video.fps == 10 and video.declared_frames == 95
    monkeypatch.setattr(windows.cv2, "VideoCapture", CountingCapture)
    given = list(windows.decode_windows(path, video, image_size=32))
    assert len(grabs) == 95  # one pass for the windows and the whole video
    decoded = every_frame(path)
    *given, (whole, whole_frames) = given
    # Last, the whole video, sampled as decode_clip samples it (what predict.py classifies).
    assert whole is video.whole and (whole.start_frame, whole.end_frame) == (0, 95)
    assert np.array_equal(whole_frames, frames.decode_clip(path, 6, 32, "uniform").frames)
    assert [(w.start_frame, w.end_frame) for w, _ in given] == [(0, 30), (20, 50), (40, 70), (60, 90), (65, 95)]
    for window, sampled in given:
        expected = np.stack([frames.crop_and_resize(decoded[index], 32) for index in window.frame_indices.tolist()])
        assert np.array_equal(sampled, expected)
        # The same frames as decoding the window alone as a clip.
        clip_path = str(tmp_path / f"clip_{window.start_frame}.avi")
        writer = cv2.VideoWriter(clip_path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
        for frame in decoded[window.start_frame : window.end_frame]:
            writer.write(frame)
        writer.release()
        clip = frames.decode_clip(clip_path, 6, 32, "uniform")
        assert np.abs(clip.frames.astype(int) - sampled.astype(int)).max() <= 40  # MJPG re-encoding of the cut, nothing else
        assert clip.frames.shape == sampled.shape


def test_a_file_that_is_no_video_gets_its_reason(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_text("no video\n" * 20)
    with pytest.raises(frames.VideoDecodeError, match="not a readable video"):
        windows.open_windows(str(bad), 2.0, 1.0, 8, "uniform")
