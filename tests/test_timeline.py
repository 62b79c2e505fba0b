"""Segments from classified windows: neighbours of one label merged, weak windows 'no action', no overlaps."""

import pytest

from inference.timeline import NO_ACTION, TimelineConfig, segments


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


@pytest.mark.parametrize(
    "values", [(0, 1, 0.5), (4, -1, 0.5), (4, 2, 1.5), (float("inf"), None, 0.5), (4, float("inf"), 0.5), (float("nan"), None, 0.5)]
)
def test_bad_timeline_settings_are_refused(values):
    with pytest.raises(ValueError):
        TimelineConfig(*values)


def test_default_window_is_the_median_training_clip_and_the_stride_half_of_it():
    import dataclasses

    from frame_path.config import FeatureConfig
    from inference.timeline import FALLBACK_WINDOW_SECONDS
    from trainer.model_files import ModelInfo

    durations = {"min": 0.5, "quartile_1": 2.0, "median": 3.0, "quartile_3": 5.0, "max": 9.0}
    info = ModelInfo(["Grow"], FeatureConfig(), "weights", {}, durations)
    assert TimelineConfig().for_model(info) == TimelineConfig(3.0, 1.5)
    assert TimelineConfig(2.0).for_model(info) == TimelineConfig(2.0, 1.0)
    assert TimelineConfig(2.0, 0.5, 0.7).for_model(info) == TimelineConfig(2.0, 0.5, 0.7)
    older = dataclasses.replace(info, train_clip_seconds=None)  # a model from before durations were recorded
    assert TimelineConfig().for_model(older).window_seconds == FALLBACK_WINDOW_SECONDS
    assert ModelInfo.from_dict({key: value for key, value in info.as_dict().items() if key != "train_clip_seconds"}) == older
