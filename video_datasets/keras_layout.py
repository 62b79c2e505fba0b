"""The Keras example layout: `train.csv` and `test.csv` (columns `video_name,tag`) beside the folders `train/` and `test/`."""

from __future__ import annotations

import csv
import io
import os
import posixpath

from video_datasets.listing import DatasetError, ListedClip, read_listing_text, safe_relative_path

CSV_FILES = {"train": "train.csv", "test": "test.csv"}
COLUMNS = ("video_name", "tag")


def is_keras_layout(data_root: str) -> bool:
    return any(os.path.exists(os.path.join(data_root, name)) for name in CSV_FILES.values())


def listing_files(data_root: str) -> list[str]:
    return [os.path.join(data_root, name) for name in CSV_FILES.values()]


def _read_csv(csv_path: str, split: str) -> list[ListedClip]:
    with io.StringIO(read_listing_text(csv_path), newline="") as csv_file:
        reader = csv.DictReader(csv_file)
        columns = [column.strip() for column in (reader.fieldnames or [])]
        if not reader.fieldnames:
            raise DatasetError(f"{csv_path} is empty: expected a header with the columns {', '.join(COLUMNS)}")
        missing = [column for column in COLUMNS if column not in columns]
        if missing:
            raise DatasetError(
                f"{csv_path} has no column {' or '.join(repr(column) for column in missing)}; "
                f"its columns are {columns} and {list(COLUMNS)} are needed"
            )
        # Header cells may carry stray spaces ('video_name, tag').
        field_of = {column.strip(): field for column, field in zip(columns, reader.fieldnames)}
        rows = []
        for record in reader:
            source = f"{csv_path} line {reader.line_num}"
            video_name = record.get(field_of["video_name"]) or ""
            tag = (record.get(field_of["tag"]) or "").strip()
            if not tag:
                raise DatasetError(f"{source}: empty tag for video {video_name.strip()!r}")
            relative_path = posixpath.join(split, safe_relative_path(video_name, source))
            rows.append(ListedClip(relative_path, tag, split, source))
    if not rows:
        raise DatasetError(f"{csv_path} has no rows")
    return rows


def read_layout(data_root: str) -> list[ListedClip]:
    csv_paths = {split: os.path.join(data_root, name) for split, name in CSV_FILES.items()}
    missing = [path for path in csv_paths.values() if not os.path.isfile(path)]
    if missing:
        raise DatasetError(f"{missing[0]} not found: the Keras example layout needs both train.csv and test.csv")
    return [row for split, path in csv_paths.items() for row in _read_csv(path, split)]
