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

import dataclasses
import hashlib
import os
from collections.abc import Iterable

from video_datasets import keras_layout, ucf101_layout
from video_datasets.carve_out import EVAL_GROUP_FRACTION, eval_groups_per_class
from video_datasets.listing import DatasetError, ListedClip, file_problem, group_of

SPLIT_NAMES = ("train", "eval", "test")

EXPECTED_LAYOUTS = (
    "expected train.csv + test.csv with train/ and test/ folders (Keras example layout) "
    "or UCF101 class folders <Class>/v_<Class>_gNN_cNN.avi"
)

_SPLIT_ORDER = {split: index for index, split in enumerate(SPLIT_NAMES)}


@dataclasses.dataclass(frozen=True)
class Clip:
    path: str  # absolute path of the video file (may not exist: the extractor reports missing files as skipped)
    video_id: str  # path relative to the data root, POSIX separators, e.g. 'train/v_Punch_g03_c01.avi'
    label: str
    split: str  # 'train', 'eval' or 'test'
    group: str  # UCF101 group key, see group_of
    # Why the file certainly is no usable video (listing.file_problem: missing, empty, a link out of the data
    # root...), None when only decoding can tell: never held out as eval; the extractor skips it with this reason.
    problem: str | None = None


def _check_labels(rows: list[ListedClip], layout: str) -> None:
    train_labels = {row.label for row in rows if row.split == "train"}
    test_labels = {row.label for row in rows if row.split == "test"}
    train_source, test_source = tuple(keras_layout.CSV_FILES.values()) if layout == "keras" else ("the train split", "the test split")
    if not any(row.split == "test" for row in rows):
        raise DatasetError(f"{test_source} has no clips")
    unknown_labels = sorted(test_labels - train_labels)
    if unknown_labels:
        raise DatasetError(f"labels in {test_source} but not in {train_source}: {', '.join(unknown_labels)}; a model cannot learn them")
    if len(train_labels) < 2:
        found = f"only {', '.join(sorted(train_labels))}" if train_labels else "none"
        raise DatasetError(f"{train_source} needs at least 2 labels to train a classifier, found {found}")


def _check_unique(rows: list[ListedClip]) -> None:
    first_source: dict[str, str] = {}
    for row in rows:
        if row.relative_path in first_source:
            raise DatasetError(f"{row.source}: clip {row.relative_path!r} is listed twice (first in {first_source[row.relative_path]})")
        first_source[row.relative_path] = row.source


def ignored_files(data_root: str) -> list[str]:
    """The files in the clips' folders that are no clip of the dataset, relative to `data_root`: in a class folder,
    files without a video extension (or in neither split list); in train/ and test/, files their CSV does not list."""
    data_root = os.path.abspath(data_root)
    if keras_layout.is_keras_layout(data_root):
        listed, folders = keras_layout.read_layout(data_root), list(keras_layout.CSV_FILES)
    else:
        listed, folders = (
            ucf101_layout.read_layout(data_root, ucf101_layout.find_split_lists(data_root)),
            ucf101_layout.class_folders(data_root),
        )
    taken = {row.relative_path for row in listed}
    files = (
        os.path.relpath(os.path.join(folder, name), data_root).replace(os.sep, "/")
        for clips_folder in folders
        for folder, _, names in os.walk(os.path.join(data_root, clips_folder))
        for name in names
    )
    return sorted(path for path in files if path not in taken)


def listing_files(data_root: str) -> list[str]:
    """The files that list the clips of `data_root` (train.csv/test.csv or the split lists); none for bare class folders."""
    if keras_layout.is_keras_layout(data_root):
        return keras_layout.listing_files(data_root)
    split_lists = ucf101_layout.find_split_lists(data_root)
    return list(split_lists.values()) if split_lists else []


def labels_without_eval(clips: Iterable[Clip]) -> list[str]:
    """Labels that the carve-out gave no eval clips (a class with a single training group of clips that may be videos
    keeps it for training).

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
    a run reads the manifest in the front end, the driver and the executor). Listed files that certainly are no videos
    (missing, empty, a link
    out of the data root: `Clip.problem`) are kept: the extractor reports them
    as skipped.
    """
    if not os.path.exists(data_root):
        raise DatasetError(f"data root {data_root} does not exist")
    if not os.path.isdir(data_root):
        raise DatasetError(f"data root {data_root} is not a folder")
    data_root = os.path.abspath(data_root)

    if keras_layout.is_keras_layout(data_root):
        layout, rows = "keras", keras_layout.read_layout(data_root)
    else:
        split_lists = ucf101_layout.find_split_lists(data_root)
        if split_lists is None and not ucf101_layout.class_folder_videos(data_root):
            raise DatasetError(f"no recognizable dataset in {data_root}: {EXPECTED_LAYOUTS}")
        layout, rows = "ucf101", ucf101_layout.read_layout(data_root, split_lists)

    _check_unique(rows)
    _check_labels(rows, layout)

    paths = {row.relative_path: os.path.join(data_root, *row.relative_path.split("/")) for row in rows}
    problems = {relative_path: file_problem(path, data_root) for relative_path, path in paths.items()}
    eval_groups = eval_groups_per_class(rows, problems, eval_fraction)
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
