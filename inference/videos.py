"""The videos an inference run is given: folders (their video files), video files and glob patterns."""

from __future__ import annotations

import glob
import os
from typing import NamedTuple

from video_datasets.ucf101_layout import VIDEO_EXTENSIONS, is_video_name


class VideoListError(Exception):
    """A given path names no video; the message says which and why."""


class VideoList(NamedTuple):
    videos: list[str]  # in the order given, each once
    ignored: list[str]  # the files of given folders and patterns that have no video extension


def list_videos(paths: list[str]) -> VideoList:
    """Every video named by `paths`, in the order given, each once; a folder's videos (recursively) sorted by path.

    A file is taken as it is given, whatever its extension (a bad one becomes
    that video's error line); a folder or a glob contributes the files with a
    video extension (any case), and the others are listed as ignored. A path that
    yields no video is an error, never a silent skip.
    """
    videos: dict[str, None] = {}
    ignored: dict[str, None] = {}
    for path in paths:
        if os.path.isfile(path):
            found = [path]
        elif os.path.isdir(path):
            files = sorted(os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names)
            found = [file for file in files if is_video_name(file) and os.path.isfile(file)]
            ignored.update(dict.fromkeys(file for file in files if not is_video_name(file)))
            if not found:
                raise VideoListError(f"folder {path} holds no video files ({', '.join(VIDEO_EXTENSIONS)})")
        elif glob.has_magic(path):
            matches = sorted(match for match in glob.glob(path, recursive=True) if os.path.isfile(match))
            found = [match for match in matches if is_video_name(match)]
            ignored.update(dict.fromkeys(match for match in matches if not is_video_name(match)))
            if not found:
                raise VideoListError(f"pattern {path} matches no video files")
        else:
            raise VideoListError(f"{path} does not exist")
        videos.update(dict.fromkeys(found))
    return VideoList(list(videos), [file for file in ignored if file not in videos])
