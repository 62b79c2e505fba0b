"""UCF101 class folders: `<Class>/v_<Class>_gNN_cNN.avi`, split by the official split-1 lists when present.

The lists (`trainlist01.txt`, `testlist01.txt`) are read in the data root or
in `ucfTrainTestlist/`; without them, groups 01-07 are the test split.
"""

from __future__ import annotations

import io
import os

from video_datasets.listing import DatasetError, ListedClip, group_number, read_listing_text, safe_relative_path

# Every container FFmpeg (OpenCV's reader) reads as video, compared case-insensitively: a class folder's or an
# `infer` folder's files with other extensions are listed as ignored, never taken silently or dropped silently.
VIDEO_EXTENSIONS = (
    ".avi",
    ".mp4",
    ".m4v",
    ".mkv",
    ".mov",
    ".webm",
    ".mpg",
    ".mpeg",
    ".m1v",
    ".m2v",
    ".wmv",
    ".asf",
    ".flv",
    ".f4v",
    ".3gp",
    ".3g2",
    ".ts",
    ".mts",
    ".m2ts",
    ".ogv",
    ".ogg",
    ".vob",
    ".divx",
    ".xvid",
    ".mxf",
    ".dv",
    ".y4m",
    ".h264",
    ".hevc",
)
SPLIT_LIST_FILES = {"train": "trainlist01.txt", "test": "testlist01.txt"}
SPLIT_LIST_FOLDER = "ucfTrainTestlist"
# UCF101 split 1 without its lists: groups 1-7 are the test groups.
FALLBACK_TEST_GROUPS = range(1, 8)


def find_split_lists(data_root: str) -> dict[str, str] | None:
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


def _read_split_list(list_path: str, split: str) -> list[ListedClip]:
    rows = []
    with io.StringIO(read_listing_text(list_path)) as list_file:
        for line_number, line in enumerate(list_file, start=1):
            fields = line.split()
            if not fields:
                continue
            source = f"{list_path} line {line_number}"
            # Train lines end with the class index ('Class/v_..avi 1'); the label comes from the folder.
            relative_path = safe_relative_path(fields[0], source)
            if "/" not in relative_path:
                raise DatasetError(f"{source}: entry {fields[0]!r} has no class folder (expected <Class>/<file>)")
            rows.append(ListedClip(relative_path, relative_path.split("/", 1)[0], split, source))
    if not rows:
        raise DatasetError(f"{list_path} lists no clips")
    return rows


def is_video_name(path: str) -> bool:
    return path.lower().endswith(VIDEO_EXTENSIONS)


def class_folders(data_root: str) -> list[str]:
    """The names of the class folders of `data_root` (hidden folders and the split lists' folder are none)."""
    return [
        name
        for name in sorted(os.listdir(data_root))
        if not name.startswith(".") and name != SPLIT_LIST_FOLDER and os.path.isdir(os.path.join(data_root, name))
    ]


def class_folder_videos(data_root: str) -> list[str]:
    """Relative paths of the video files in the class folders of `data_root`."""
    videos = []
    for class_name in class_folders(data_root):
        class_dir = os.path.join(data_root, class_name)
        for file_name in sorted(os.listdir(class_dir)):
            if is_video_name(file_name) and os.path.isfile(os.path.join(class_dir, file_name)):
                videos.append(f"{class_name}/{file_name}")
    return videos


def read_layout(data_root: str, split_lists: dict[str, str] | None) -> list[ListedClip]:
    videos = class_folder_videos(data_root)
    if split_lists is not None:
        rows = [row for split, path in split_lists.items() for row in _read_split_list(path, split)]
        return rows  # video files in neither list are left out: manifest.ignored_files lists them
    if not videos:
        raise DatasetError(f"no videos found in the class folders of {data_root}")
    rows = []
    for relative_path in videos:
        # Names without a UCF101 group cannot be placed in the official test groups: they train.
        split = "test" if group_number(relative_path) in FALLBACK_TEST_GROUPS else "train"
        rows.append(ListedClip(relative_path, relative_path.split("/", 1)[0], split, relative_path))
    return rows
