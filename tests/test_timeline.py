"""Segments from classified windows: neighbours of one label merged, weak windows 'no action', no overlaps."""
from inference.timeline import NO_ACTION, TimelineConfig, segments

import pytest


def _window(start, end, label, probability):
    return {"start_s": start, "end_s": end, "predictions": [{"label": label, "probability": probability}]}


def test_neighbouring_windows_of_one_label_merge_and_segments_tile_the_video():
    windows = [
        _window(0, 4, "Grow", 0.9),
        _window(2, 6, "Grow", 0.7),
        _window(4, 8, "Shrink", 0.3),  # too unsure
        _window(6, 10, "Shrink", 0.8),
        _window(8, 12, "Shrink", 0.6),
    ]
    assert segments(windows, min_probability=0.5) == [
        {"start_s": 0, "end_s": 4, "label": "Grow", "probability": 0.8},
        {"start_s": 4, "end_s": 6, "label": NO_ACTION, "probability": 0.0},
        {"start_s": 6, "end_s": 12, "label": "Shrink", "probability": 0.7},
    ]
    assert segments(windows, min_probability=0.0)[1] == {"start_s": 4, "end_s": 12, "label": "Shrink", "probability": 0.566667}


@pytest.mark.parametrize("values", [(0, 1, 0.5), (4, -1, 0.5), (4, 2, 1.5)])
def test_bad_timeline_settings_are_refused(values):
    with pytest.raises(ValueError):
        TimelineConfig(*values)
