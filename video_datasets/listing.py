"""What both dataset layouts share: listed clips, safe relative names, listing text, UCF101 group names."""

from __future__ import annotations

import collections
import dataclasses
import os
import posixpath
import re

_UCF101_NAME = re.compile(r"^v_.+_g(\d+)_c(\d+)\.[^./]+$")
MIN_VIDEO_FILE_BYTES = 32


class DatasetError(ValueError):
    """Bad input data; the message is one clear line meant for the user (no traceback needed)."""


@dataclasses.dataclass(frozen=True)
class ListedClip:
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


def group_number(file_name: str) -> int | None:
    match = _UCF101_NAME.match(file_name.replace("\\", "/").rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def safe_relative_path(name: str, source: str) -> str:
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


def read_listing_text(path: str) -> str:
    """A listing file's text (UTF-8, with or without a BOM); DatasetError naming the line of a byte that is not UTF-8, or of a NUL."""
    with open(path, "rb") as listing:
        data = listing.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetError(f"{path} line {line}: byte 0x{data[error.start]:02x} is not UTF-8 text; save the file as UTF-8") from None
    if "\x00" in text:
        # No file name can hold one; os.stat would raise on it much later, in the component's driver.
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise DatasetError(f"{path} line {line}: a NUL byte (0x00), which no file name or label may hold")
    return text


def ignored_files_report(paths: list[str]) -> dict[str, object]:
    """Files a folder held that were not taken as videos: how many, by extension (lower case), and which."""
    extensions = collections.Counter(os.path.splitext(path)[1].lower() or "(none)" for path in paths)
    return {"count": len(paths), "extensions": dict(sorted(extensions.items())), "files": sorted(paths)}


def ignored_files_text(report: dict[str, object]) -> str:
    """'3 files (.txt 2, .db 1)': one line for the console."""
    extensions = ", ".join(f"{extension} {count}" for extension, count in report["extensions"].items())  # type: ignore[union-attr]
    return f"{report['count']} files ({extensions})"


def file_problem(path: str, data_root: str | None = None) -> str | None:
    """Why `path` certainly is no usable video, seen from the file system alone; None when only decoding can tell.

    With `data_root`, a file that resolves to a place outside it (through a link
    of the file or of a folder on its way) is refused: a data folder must not
    make the extractor read /etc/passwd or another dataset's clips. Links that
    stay inside the data root are followed.
    """
    if not os.path.exists(path):
        if os.path.islink(path):
            return f"dangling symbolic link (to {os.readlink(path)})"
        return "file not found"
    if data_root is not None:
        target, root = os.path.realpath(path), os.path.realpath(data_root)
        if os.path.commonpath([root, target]) != root:
            return f"symbolic link to a file outside the data root: {target}"
    if os.path.isdir(path):
        return "is a folder, not a video file"
    if not os.path.isfile(path):
        return "not a regular file (a device, pipe or socket)"  # a pipe would block the decoder
    if os.path.basename(path).startswith("._"):
        return "a macOS AppleDouble file (._*): metadata, not a video"
    size = os.path.getsize(path)
    if size == 0:
        return "empty file"
    if size < MIN_VIDEO_FILE_BYTES:
        return f"{size} bytes: too small to be a video"
    return None
