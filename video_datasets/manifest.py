"""Reads a data folder into a list of clips, each with its label and split.

Two layouts are recognized:

* Keras example layout: `train.csv` and `test.csv` (columns `video_name,tag`)
  next to the folders `train/` and `test/` that hold the clips.
* UCF101 class folders: `<Class>/v_<Class>_gNN_cNN.avi`, split by the official
  split-1 lists (`trainlist01.txt`, `testlist01.txt`, in the data root or in
  `ucfTrainTestlist/`) when present, else groups 01-07 are the test split.

The `eval` split is carved out of the training clips by UCF101 group, so that
no group (same actor, same background) is on both sides.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import os
import posixpath
import re
from typing import Iterable, Optional

from frame_path.frames import file_problem

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "eval", "test")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg")
# Share of the training groups held out as `eval` (early stopping, model selection).
EVAL_GROUP_FRACTION = 0.15

KERAS_CSV_FILES = {"train": "train.csv", "test": "test.csv"}
KERAS_COLUMNS = ("video_name", "tag")
SPLIT_LIST_FILES = {"train": "trainlist01.txt", "test": "testlist01.txt"}
SPLIT_LIST_FOLDER = "ucfTrainTestlist"
# UCF101 split 1 without its lists: groups 1-7 are the test groups.
FALLBACK_TEST_GROUPS = range(1, 8)

EXPECTED_LAYOUTS = (
    "expected train.csv + test.csv with train/ and test/ folders (Keras example layout) "
    "or UCF101 class folders <Class>/v_<Class>_gNN_cNN.avi"
)

_UCF101_NAME = re.compile(r"^v_.+_g(\d+)_c(\d+)\.[^./]+$")
_SPLIT_ORDER = {split: index for index, split in enumerate(SPLIT_NAMES)}


class DatasetError(ValueError):
    """Bad input data; the message is one clear line meant for the user (no traceback needed)."""


@dataclasses.dataclass(frozen=True)
class Clip:
    path: str  # absolute path of the video file (may not exist: the extractor reports missing files as skipped)
    video_id: str  # path relative to the data root, POSIX separators, e.g. 'train/v_Punch_g03_c01.avi'
    label: str
    split: str  # 'train', 'eval' or 'test'
    group: str  # UCF101 group key, see group_of
    # Why the file certainly is no usable video (frames.file_problem: missing, empty, a link out of the data
    # root...), None when only decoding can tell: never held out as eval; the extractor skips it with this reason.
    problem: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class _Row:
    """One listed clip before the eval split is carved out."""

    relative_path: str  # POSIX, relative to the data root
    label: str
    split: str  # 'train' or 'test'
    source: str  # where it was listed, for error messages


def group_of(file_name: str) -> str:
    """UCF101 group key of a clip file name ('g08' for 'v_Punch_g08_c01.avi').

    UCF101 numbers groups across classes (g08 of every class is in the same
    official split), so the key is the group number alone. A name without the
    UCF101 pattern is its own group: its stem.
    """
    base_name = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    match = _UCF101_NAME.match(base_name)
    if match:
        return f"g{int(match.group(1)):02d}"
    return os.path.splitext(base_name)[0]


def _group_number(file_name: str) -> int | None:
    match = _UCF101_NAME.match(file_name.replace("\\", "/").rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def assign_eval_groups(groups: Iterable[str], eval_fraction: float) -> set[str]:
    """The groups held out as `eval`: deterministic and independent of input order.

    Distinct groups are ranked by the sha256 of their key (a fixed pseudo-random
    order that does not depend on how rows were listed) and the first
    max(1, round(eval_fraction * n)) are taken; none when there are fewer than
    2 groups, and never all of them, so that `train` keeps at least one group.
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    distinct_groups = sorted(set(groups), key=lambda group: (hashlib.sha256(group.encode("utf-8")).hexdigest(), group))
    if len(distinct_groups) < 2:
        return set()
    count = min(max(1, round(eval_fraction * len(distinct_groups))), len(distinct_groups) - 1)
    return set(distinct_groups[:count])


def _safe_relative_path(name: str, source: str) -> str:
    """`name` as a normalized POSIX relative path; refuses names that leave their folder."""
    normalized = name.strip().replace("\\", "/")
    if not normalized:
        raise DatasetError(f"{source}: empty video name")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        raise DatasetError(f"{source}: video name {name!r} is an absolute path; it must be relative to its folder")
    parts = [part for part in normalized.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise DatasetError(f"{source}: video name {name!r} contains '..' and would leave its folder")
    if not parts:
        raise DatasetError(f"{source}: video name {name!r} names no file")
    return posixpath.join(*parts)


def _read_text(path: str) -> str:
    """A listing file's text (UTF-8, with or without a BOM); DatasetError naming the line of a byte that is not UTF-8, or of a NUL."""
    with open(path, "rb") as listing:
        data = listing.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetError(
            f"{path} line {line}: byte 0x{data[error.start]:02x} is not UTF-8 text; save the file as UTF-8"
        ) from None
    if "\x00" in text:
        # No file name can hold one; os.stat would raise on it much later, in the component's driver.
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise DatasetError(f"{path} line {line}: a NUL byte (0x00), which no file name or label may hold")
    return text


def _read_keras_csv(csv_path: str, split: str) -> list[_Row]:
    with io.StringIO(_read_text(csv_path), newline="") as csv_file:
        reader = csv.DictReader(csv_file)
        columns = [column.strip() for column in (reader.fieldnames or [])]
        if not reader.fieldnames:
            raise DatasetError(f"{csv_path} is empty: expected a header with the columns {', '.join(KERAS_COLUMNS)}")
        missing = [column for column in KERAS_COLUMNS if column not in columns]
        if missing:
            raise DatasetError(
                f"{csv_path} has no column {' or '.join(repr(column) for column in missing)}; "
                f"its columns are {columns} and {list(KERAS_COLUMNS)} are needed"
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
            relative_path = posixpath.join(split, _safe_relative_path(video_name, source))
            rows.append(_Row(relative_path, tag, split, source))
    if not rows:
        raise DatasetError(f"{csv_path} has no rows")
    return rows


def _read_keras_layout(data_root: str) -> list[_Row]:
    csv_paths = {split: os.path.join(data_root, name) for split, name in KERAS_CSV_FILES.items()}
    missing = [path for path in csv_paths.values() if not os.path.isfile(path)]
    if missing:
        raise DatasetError(f"{missing[0]} not found: the Keras example layout needs both train.csv and test.csv")
    return [row for split, path in csv_paths.items() for row in _read_keras_csv(path, split)]


def _find_split_lists(data_root: str) -> dict[str, str] | None:
    """Paths of the official split-1 lists, or None when there are none."""
    for folder in (data_root, os.path.join(data_root, SPLIT_LIST_FOLDER)):
        paths = {split: os.path.join(folder, name) for split, name in SPLIT_LIST_FILES.items()}
        present = [path for path in paths.values() if os.path.isfile(path)]
        if len(present) == len(paths):
            return paths
        if present:
            missing = [name for split, name in SPLIT_LIST_FILES.items() if not os.path.isfile(paths[split])]
            raise DatasetError(f"{present[0]} found but not {missing[0]} next to it: UCF101 split lists come in pairs")
    return None


def _read_split_list(list_path: str, split: str) -> list[_Row]:
    rows = []
    with io.StringIO(_read_text(list_path)) as list_file:
        for line_number, line in enumerate(list_file, start=1):
            fields = line.split()
            if not fields:
                continue
            source = f"{list_path} line {line_number}"
            # Train lines end with the class index ('Class/v_..avi 1'); the label comes from the folder.
            relative_path = _safe_relative_path(fields[0], source)
            if "/" not in relative_path:
                raise DatasetError(f"{source}: entry {fields[0]!r} has no class folder (expected <Class>/<file>)")
            rows.append(_Row(relative_path, relative_path.split("/", 1)[0], split, source))
    if not rows:
        raise DatasetError(f"{list_path} lists no clips")
    return rows


def _class_folder_videos(data_root: str) -> list[str]:
    """Relative paths of the video files in the class folders of `data_root`."""
    extensions = tuple(extension.lower() for extension in VIDEO_EXTENSIONS)
    videos = []
    for class_name in sorted(os.listdir(data_root)):
        class_dir = os.path.join(data_root, class_name)
        if class_name.startswith(".") or not os.path.isdir(class_dir):
            continue
        for file_name in sorted(os.listdir(class_dir)):
            if file_name.lower().endswith(extensions) and os.path.isfile(os.path.join(class_dir, file_name)):
                videos.append(f"{class_name}/{file_name}")
    return videos


def _read_class_folder_layout(data_root: str, split_lists: dict[str, str] | None) -> list[_Row]:
    videos = _class_folder_videos(data_root)
    if split_lists is not None:
        rows = [row for split, path in split_lists.items() for row in _read_split_list(path, split)]
        unlisted = len(set(videos) - {row.relative_path for row in rows})
        if unlisted:
            logger.info("%d video files in %s are in neither split list and are left out", unlisted, data_root)
        return rows
    if not videos:
        raise DatasetError(f"no videos found in {data_root}: {EXPECTED_LAYOUTS}")
    rows = []
    for relative_path in videos:
        group_number = _group_number(relative_path)
        # Names without a UCF101 group cannot be placed in the official test groups: they train.
        split = "test" if group_number in FALLBACK_TEST_GROUPS else "train"
        rows.append(_Row(relative_path, relative_path.split("/", 1)[0], split, relative_path))
    return rows


def _check_labels(rows: list[_Row], layout: str) -> None:
    train_labels = {row.label for row in rows if row.split == "train"}
    test_labels = {row.label for row in rows if row.split == "test"}
    train_source, test_source = ("train.csv", "test.csv") if layout == "keras" else ("the train split", "the test split")
    if not any(row.split == "test" for row in rows):
        raise DatasetError(f"{test_source} has no clips")
    unknown_labels = sorted(test_labels - train_labels)
    if unknown_labels:
        raise DatasetError(
            f"labels in {test_source} but not in {train_source}: {', '.join(unknown_labels)}; a model cannot learn them"
        )
    if len(train_labels) < 2:
        found = f"only {', '.join(sorted(train_labels))}" if train_labels else "none"
        raise DatasetError(f"{train_source} needs at least 2 labels to train a classifier, found {found}")


def _check_unique(rows: list[_Row]) -> None:
    first_source: dict[str, str] = {}
    for row in rows:
        if row.relative_path in first_source:
            raise DatasetError(
                f"{row.source}: clip {row.relative_path!r} is listed twice (first in {first_source[row.relative_path]})"
            )
        first_source[row.relative_path] = row.source


def listing_files(data_root: str) -> list[str]:
    """The files that list the clips of `data_root` (train.csv/test.csv or the split lists); none for bare class folders."""
    keras_csvs = [os.path.join(data_root, name) for name in KERAS_CSV_FILES.values()]
    if any(os.path.exists(path) for path in keras_csvs):
        return keras_csvs
    split_lists = _find_split_lists(data_root)
    return list(split_lists.values()) if split_lists else []


def labels_without_eval(clips: Iterable[Clip]) -> list[str]:
    """Labels that the carve-out gave no eval clips (a class with a single training group of clips that may be videos keeps it for training).

    What was planned: the extraction report counts the classes that ended with no eval Example written.
    """
    clips = list(clips)
    return sorted({clip.label for clip in clips} - {clip.label for clip in clips if clip.split == "eval"})


def groups_in_train_and_test(clips: Iterable[Clip]) -> list[str]:
    """Groups with clips in training (train or eval) and in test: the same actor and scene on both sides."""
    clips = list(clips)
    training = {clip.group for clip in clips if clip.split != "test"}
    return sorted(training & {clip.group for clip in clips if clip.split == "test"})


def _labels_differing_in_case(clips: Iterable[Clip]) -> list[list[str]]:
    by_folded: dict[str, set[str]] = {}
    for clip in clips:
        by_folded.setdefault(clip.label.casefold(), set()).add(clip.label)
    return [sorted(labels) for labels in by_folded.values() if len(labels) > 1]


def data_warnings(clips: list[Clip]) -> list[str]:
    """Legal data that is probably not what the user meant, one sentence each (the extractor logs and reports them)."""
    warnings = [
        f"labels {' and '.join(labels)} differ only in case: they are {len(labels)} different classes"
        for labels in _labels_differing_in_case(clips)
    ]
    leaked = groups_in_train_and_test(clips)
    if leaked:
        warnings.append(
            f"groups {', '.join(leaked)} have clips in both training and test: the same actors and scenes on both sides "
            "inflate test accuracy"
        )
    return warnings  # classes without eval clips: the extractor counts them from what it wrote


def _check_identical_files(clips: list[Clip]) -> None:
    """Refuses a file whose exact copy is in another split; only files of equal size are read."""
    by_size: dict[int, list[Clip]] = {}
    for clip in clips:
        # Files that are no videos (the extractor skips them) are not copies of one, and links out of the data root are not read.
        if clip.problem is None:
            by_size.setdefault(os.path.getsize(clip.path), []).append(clip)
    for same_size in by_size.values():
        if len({clip.split for clip in same_size}) < 2:
            continue
        first_by_digest: dict[str, Clip] = {}
        for clip in same_size:
            digest = _file_digest(clip.path)
            first = first_by_digest.setdefault(digest, clip)
            if first.split != clip.split:
                raise DatasetError(
                    f"{first.video_id} ({first.split}) and {clip.video_id} ({clip.split}) are identical files: "
                    "the same clip in two splits makes the evaluation meaningless"
                )


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as video_file:
        for chunk in iter(lambda: video_file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def count_per_split(clips: Iterable[Clip]) -> dict[str, int]:
    """Clips per split, in split order."""
    counts = {split: 0 for split in SPLIT_NAMES}
    for clip in clips:
        counts[clip.split] += 1
    return counts


def read_manifest(data_root: str, eval_fraction: float = EVAL_GROUP_FRACTION) -> list[Clip]:
    """Every clip of `data_root` with its label and split, sorted by (split, video_id).

    Raises DatasetError (one line) for data that cannot make a train/eval/test
    dataset; `data_warnings()` says what looks unintended (nothing is logged here:
    a run reads the manifest in the front end, the driver and the executor). Listed files that certainly are no videos (missing, empty, a link
    out of the data root: `Clip.problem`) are kept: the extractor reports them
    as skipped.
    """
    if not os.path.exists(data_root):
        raise DatasetError(f"data root {data_root} does not exist")
    if not os.path.isdir(data_root):
        raise DatasetError(f"data root {data_root} is not a folder")
    data_root = os.path.abspath(data_root)

    if any(os.path.exists(os.path.join(data_root, name)) for name in KERAS_CSV_FILES.values()):
        layout, rows = "keras", _read_keras_layout(data_root)
    else:
        split_lists = _find_split_lists(data_root)
        if split_lists is None and not _class_folder_videos(data_root):
            raise DatasetError(f"no recognizable dataset in {data_root}: {EXPECTED_LAYOUTS}")
        layout, rows = "ucf101", _read_class_folder_layout(data_root, split_lists)

    _check_unique(rows)
    _check_labels(rows, layout)

    paths = {row.relative_path: os.path.join(data_root, *row.relative_path.split("/")) for row in rows}
    problems = {relative_path: file_problem(path, data_root) for relative_path, path in paths.items()}
    # Eval groups are chosen per class, so the carve-out never takes all of a
    # class's training groups; a class with a single group keeps it for training.
    # Only groups with a clip that may be a video count: a junk file (a macOS
    # '._' file, a listed clip that is missing) is its own group and would
    # otherwise become a class's only, empty, eval group.
    # The ranking is the same for every class (sha256 of the group key), so
    # classes sharing group numbers hold out the same ones where they can.
    train_groups: dict[str, set[str]] = {}
    for row in rows:
        if row.split == "train" and problems[row.relative_path] is None:
            train_groups.setdefault(row.label, set()).add(group_of(row.relative_path))
    eval_groups = {label: assign_eval_groups(groups, eval_fraction) for label, groups in train_groups.items()}
    clips = []
    for row in rows:
        group = group_of(row.relative_path)
        split = "eval" if row.split == "train" and group in eval_groups.get(row.label, ()) else row.split
        clips.append(
            Clip(
                path=paths[row.relative_path],
                video_id=row.relative_path,
                label=row.label,
                split=split,
                group=group,
                problem=problems[row.relative_path],
            )
        )
    if not any(clip.split == "eval" for clip in clips):
        raise DatasetError(
            f"every class of {data_root} has its training clips in a single group (not counting files that cannot be "
            "videos: missing, empty or tiny files, macOS ._ files, links out of the data root), so no eval split can be "
            "held out without sharing a group with train: add clips of another group (v_<Class>_g<NN>_c<NN>)"
        )
    _check_identical_files(clips)
    return sorted(clips, key=lambda clip: (_SPLIT_ORDER[clip.split], clip.video_id))
