"""video_datasets/spans.py: where the spans of a data root are, which one a run takes, and the one-line errors."""

import os

import pytest

from video_datasets import spans
from video_datasets.listing import DatasetError


def _folders(root, *names):
    for name in names:
        os.makedirs(os.path.join(root, name))
    return str(root)


def test_span_folders_are_found_and_the_latest_is_the_largest_number(tmp_path):
    root = _folders(tmp_path, "span-2", "span-10", "span-9", "notes", "span-x")
    (tmp_path / "span-11").write_text("a file, not a span")
    assert spans.span_layout(root) == (root, "span-{SPAN}")
    assert spans.resolve_span(root) == (10, os.path.join(root, "span-10"))
    assert spans.resolve_span(root, 2) == (2, os.path.join(root, "span-2"))
    with pytest.raises(DatasetError, match="span 3 is not in .*: it holds spans 2, 9, 10"):
        spans.resolve_span(root, 3)


def test_a_span_pattern_in_the_data_root(tmp_path):
    _folders(tmp_path, "day-1/clips", "day-04/clips", "day-5")  # day-5 has no clips folder
    pattern = os.path.join(str(tmp_path), "day-{SPAN}", "clips")
    assert spans.span_layout(pattern) == (str(tmp_path), "day-{SPAN}/clips")
    assert spans.resolve_span(pattern) == (4, os.path.join(str(tmp_path), "day-04", "clips"))
    with pytest.raises(DatasetError, match="no folder matches"):
        spans.resolve_span(os.path.join(str(tmp_path), "week-{SPAN}"))
    _folders(tmp_path, "day-004/clips")
    with pytest.raises(DatasetError, match="span 4 is both"):
        spans.resolve_span(pattern)


def test_a_data_root_without_spans_is_span_0_and_refuses_a_span(tmp_path):
    root = _folders(tmp_path, "train", "test")
    assert spans.span_layout(root) == (root, None)
    assert spans.resolve_span(root) == (0, root)
    with pytest.raises(DatasetError, match="--span 1 asks for a span, but .* has no span-N folders"):
        spans.resolve_span(root, 1)


def test_the_span_part_of_a_split_pattern():
    assert spans.span_folder_of("span-{SPAN}/*/*") == "span-{SPAN}"
    assert spans.span_folder_of("day-3/clips/*") == "day-3/clips"
    assert spans.span_folder_of("*/*/*") == ""
