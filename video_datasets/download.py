"""Downloads the UCF101 5-class subset of the Keras example "Video Classification with Transformers".

    python -m video_datasets.download TARGET_DIR

prints the folder to pass as `--data-root` (the one with train.csv and test.csv).
"""

from __future__ import annotations

import argparse
import http.client
import os
import posixpath
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request

from video_datasets.keras_layout import CSV_FILES as KERAS_CSV_FILES
from video_datasets.listing import DatasetError

UCF101_TOP5_URL = "https://github.com/sayakpaul/Action-Recognition-in-TensorFlow/releases/download/v1.0.0/ucf101_top5.tar.gz"
DOWNLOAD_TIMEOUT_SECONDS = 60.0  # per blocking socket operation, not for the whole download
_DATA_ROOT_FILES = tuple(KERAS_CSV_FILES.values())
_LOCAL_DATA_HINT = (
    "to use a local copy instead, pass --data-root DIR with train.csv/test.csv + train/ test/ "
    "(Keras example layout) or UCF101 class folders"
)


def _is_data_root(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, name)) for name in _DATA_ROOT_FILES)


def find_data_root(target_dir: str) -> str | None:
    """`target_dir` or one of its subfolders that holds train.csv and test.csv; None if neither does."""
    if not os.path.isdir(target_dir):
        return None
    if _is_data_root(target_dir):
        return target_dir
    for name in sorted(os.listdir(target_dir)):
        folder = os.path.join(target_dir, name)
        if not name.startswith(".") and os.path.isdir(folder) and _is_data_root(folder):
            return folder
    return None


def _one_line(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    text = " ".join(str(reason).split())
    return text or type(error).__name__


def _check_members(archive: tarfile.TarFile, archive_name: str) -> None:
    """Refuses members that would be written outside the target folder."""
    for member in archive.getmembers():
        name = member.name.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/"):
            raise DatasetError(f"{archive_name}: refusing archive member {member.name!r} (absolute path or '..')")
        if member.issym() or member.islnk():
            link = member.linkname.replace("\\", "/")
            # Symbolic links resolve from the member's folder, hard links from the archive root.
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), link) if member.issym() else link)
            if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
                raise DatasetError(f"{archive_name}: refusing archive link {member.name!r} -> {member.linkname!r}")
        elif not (member.isfile() or member.isdir()):
            raise DatasetError(f"{archive_name}: refusing archive member {member.name!r} (not a file or folder)")


def _download(url: str, destination: str, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(destination, "wb") as out_file:
            shutil.copyfileobj(response, out_file, length=1 << 20)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        # URLError covers refused connections and DNS failures; TimeoutError and
        # reset connections are OSErrors raised while reading.
        raise DatasetError(f"downloading {url} failed ({_one_line(error)}); {_LOCAL_DATA_HINT}") from error


def _extract(archive_path: str, target_dir: str, archive_name: str) -> None:
    """Extracts into a staging folder first, so that a failed extraction leaves no half dataset."""
    staging_dir = tempfile.mkdtemp(prefix=".extract-", dir=target_dir)
    try:
        try:
            with tarfile.open(archive_path, "r:*") as archive:
                _check_members(archive, archive_name)
                if hasattr(tarfile, "data_filter"):
                    # A second guard where Python has it (3.11.4+).
                    archive.extractall(staging_dir, filter="data")
                else:
                    archive.extractall(staging_dir)
        except (tarfile.TarError, EOFError) as error:
            raise DatasetError(f"{archive_name} is not a readable tar archive ({_one_line(error)})") from error
        for name in os.listdir(staging_dir):
            destination = os.path.join(target_dir, name)
            if os.path.exists(destination):
                raise DatasetError(f"{destination} already exists; remove it or choose another target folder")
            os.replace(os.path.join(staging_dir, name), destination)
    finally:
        shutil.rmtree(staging_dir, ignore_errors=True)


def download_ucf101_top5(target_dir: str, url: str = UCF101_TOP5_URL, timeout: float = DOWNLOAD_TIMEOUT_SECONDS) -> str:
    """Downloads and unpacks the archive into `target_dir`; returns the data root (the folder with train.csv).

    Nothing is downloaded when `target_dir` already holds the dataset. Raises
    DatasetError with one line when the download or the archive fails.
    """
    existing_root = find_data_root(target_dir)
    if existing_root is not None:
        return existing_root
    os.makedirs(target_dir, exist_ok=True)
    archive_name = posixpath.basename(url.split("?", 1)[0]) or "download"
    # The partial download lives in target_dir (same file system) and is always removed.
    archive_fd, archive_path = tempfile.mkstemp(prefix=".download-", suffix=".tar.gz", dir=target_dir)
    os.close(archive_fd)
    try:
        _download(url, archive_path, timeout)
        _extract(archive_path, target_dir, archive_name)
    finally:
        os.remove(archive_path)
    data_root = find_data_root(target_dir)
    if data_root is None:
        raise DatasetError(f"{archive_name} unpacked into {target_dir} but holds no train.csv and test.csv")
    return data_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m video_datasets.download",
        description="Downloads the UCF101 5-class subset of the Keras video classification example "
        "and prints the folder to pass as --data-root.",
    )
    parser.add_argument(
        "target_dir", metavar="TARGET_DIR", help="folder to unpack into; nothing is downloaded if the dataset is already there"
    )
    parser.add_argument("--url", default=UCF101_TOP5_URL, help="archive to download (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=DOWNLOAD_TIMEOUT_SECONDS, help="network timeout in seconds (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        data_root = download_ucf101_top5(args.target_dir, args.url, args.timeout)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(os.path.abspath(data_root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
