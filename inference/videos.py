"""The videos an inference run is given: folders (their video files), video files and glob patterns."""
from __future__ import annotations

import glob
import os

from video_datasets.ucf101_layout import VIDEO_EXTENSIONS


class VideoListError(Exception):
    """A given path names no video; the message says which and why."""


def _is_video(path: str) -> bool:
    return os.path.isfile(path) and path.lower().endswith(VIDEO_EXTENSIONS)


def list_videos(paths: list[str]) -> list[str]:
    """Every video named by `paths`, in the order given, each once; a folder's videos (recursively) sorted by path.

    A file is taken as it is given, whatever its extension (a bad one becomes
    that video's error line); a folder or a glob contributes the files with a
    video extension. A path that yields no video is an error, never a silent skip.
    """
    videos: dict[str, None] = {}
    for path in paths:
        if os.path.isfile(path):
            found = [path]
        elif os.path.isdir(path):
            found = sorted(
                os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names if _is_video(os.path.join(folder, name))
            )
            if not found:
                raise VideoListError(f"folder {path} holds no video files ({', '.join(VIDEO_EXTENSIONS)})")
        elif glob.has_magic(path):
            found = sorted(match for match in glob.glob(path, recursive=True) if _is_video(match))
            if not found:
                raise VideoListError(f"pattern {path} matches no video files")
        else:
            raise VideoListError(f"{path} does not exist")
        videos.update(dict.fromkeys(found))
    return list(videos)
