"""Spans: a data root that grows by whole datasets, `DATA_ROOT/span-N/` (either layout), or `{SPAN}` in the data root.

TFX's answer to growing data (as FileBasedExampleGen's `{SPAN}` patterns): each
span is a complete dataset of its own, VideoExampleGen extracts one span a run
(the latest unless told), records its number on the Examples artifact, and the
Trainer can train on the latest N spans' Examples (`--train-spans`).

A data root is split into the folder the spans live in (TFX's `input_base`)
and the span's relative pattern: `/data/videos` holding `span-1/`, `span-2/`
is (`/data/videos`, `span-{SPAN}`); `/data/day-{SPAN}/clips` is (`/data`,
`day-{SPAN}/clips`). `{SPAN}` stands for the digits of a folder's name.
"""

from __future__ import annotations

import glob
import os
import re

from video_datasets.listing import DatasetError

SPAN_TOKEN = "{SPAN}"
SPAN_FOLDER = "span-" + SPAN_TOKEN  # DATA_ROOT/span-N/: the layout found without a pattern
LATEST = -1


def span_layout(data_root: str) -> tuple[str, str | None]:
    """(the folder the spans live in, the span's pattern relative to it), or (data_root, None) without spans."""
    if SPAN_TOKEN in data_root:
        parts = data_root.split("/")
        first = next(index for index, part in enumerate(parts) if SPAN_TOKEN in part)
        return "/".join(parts[:first]) or "/", "/".join(parts[first:])
    if "://" not in data_root and any(_span_number(SPAN_FOLDER, name) is not None for name in _folders(data_root)):
        return data_root, SPAN_FOLDER
    return data_root, None


def find_spans(input_base: str, span_pattern: str) -> dict[int, str]:
    """Span number -> its folder, for every folder under `input_base` that `span_pattern` matches."""
    found: dict[int, str] = {}
    for path in sorted(glob.glob(os.path.join(glob.escape(input_base), span_pattern.replace(SPAN_TOKEN, "[0-9]*")))):
        number = _span_number(span_pattern, os.path.relpath(path, input_base))
        if number is not None and os.path.isdir(path):
            if number in found:
                raise DatasetError(f"span {number} is both {found[number]} and {path}")
            found[number] = path
    return found


def resolve_span(data_root: str, span: int = LATEST) -> tuple[int, str]:
    """(span number, dataset folder) of `span` (LATEST: the largest number) under `data_root`; (0, data_root) without spans."""
    input_base, span_pattern = span_layout(data_root)
    if span_pattern is None:
        if span != LATEST:
            raise DatasetError(f"--span {span} asks for a span, but {data_root} has no span-N folders (and no {SPAN_TOKEN} in it)")
        return 0, data_root
    spans = find_spans(input_base, span_pattern)
    if not spans:
        raise DatasetError(f"no folder matches {os.path.join(input_base, span_pattern)} ({SPAN_TOKEN}: the span's number)")
    if span == LATEST:
        span = max(spans)
    if span not in spans:
        raise DatasetError(f"span {span} is not in {data_root}: it holds spans {', '.join(map(str, sorted(spans)))}")
    return span, spans[span]


def span_folder_of(pattern: str) -> str:
    """The span's part of a split pattern ('span-{SPAN}', or 'span-3' of 'span-3/*/*' once TFX filled it in); '' without spans."""
    parts = pattern.split("/")
    while parts and parts[-1] == "*":
        parts.pop()
    return "/".join(parts)


def _span_number(span_pattern: str, relative_path: str) -> int | None:
    before, _, after = span_pattern.partition(SPAN_TOKEN)
    match = re.fullmatch(re.escape(before) + r"(\d+)" + re.escape(after), relative_path)
    return int(match.group(1)) if match else None


def _folders(path: str) -> list[str]:
    try:
        return [entry.name for entry in os.scandir(path) if entry.is_dir()]
    except OSError:
        return []
