"""The files a run holds and writes: its lock, files written whole or not at all, the last run's results kept
aside while a run is under way, and the ML Metadata store read back.

A leaf of the project's imports (it imports none of the project's modules), so that every layer can use it: the
front ends and their reports (`pipeline/`), and batch inference (`inference/`), whose outputs may be a bucket's
URI. Paths go through Beam's FileSystems, which serve local paths and gs://, s3://, hdfs:// alike.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping, Sequence
from typing import IO, Any

LOCK_FILE = ".lock"  # in OUTPUT_DIR (and in a run's private temp folder): held by the run, the holder's pid inside
PREVIOUS = ".previous"  # NAME.previous.EXT: the last run's result, kept while a run is under way
PARTIAL = ".partial"  # NAME.partial: a file being written


def take_lock(path: str) -> IO[str] | None:
    """`path` (created if need be) opened, locked for this process and holding its pid; None while another process holds it.

    An flock lasts while the file is open: the kernel releases it when its
    process ends, however (SIGKILL too), so a lock never outlives its run. The
    pid is written once the lock is held: an empty file is one being taken.
    """
    lock = open(path, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
    except BlockingIOError:
        lock.close()
        return None
    except BaseException:
        lock.close()
        raise
    return lock


def lock_holder(path: str) -> str:
    """The pid written in the lock file `path` ('?' if none can be read)."""
    try:
        with open(path) as lock:
            return lock.read().strip() or "?"
    except OSError:
        return "?"


def write_atomically(path: str, content: str | bytes) -> None:
    """Writes `content` beside `path`, then renames: a full disk or an interrupt never leaves a truncated file that
    looks complete."""
    from apache_beam.io.filesystems import FileSystems

    partial_path = path + PARTIAL
    with FileSystems.create(partial_path) as partial:
        partial.write(content.encode("utf-8") if isinstance(content, str) else content)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([partial_path], [path])


def json_status(path: str) -> Any:
    """The "status" of the JSON summary at `path` ("complete" for summaries written before summaries had one); None
    when it cannot be read."""
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as summary_file:
            return json.load(summary_file).get("status", "complete")
    except (OSError, ValueError, AttributeError):
        return None


def start_outputs(output_dir: str, results: Sequence[str], summary_file: str, marker: Mapping[str, Any]) -> None:
    """At a run's start: the last run's `results` (files or folders in `output_dir`, `summary_file` among them) move
    aside to NAME.previous.EXT, and `summary_file` says the run is under way (`marker`, with "status": "running"),
    so that a run that is killed never leaves an older, complete-looking result. A summary that already says
    "running" is a killed run's marker, no result to keep: it is removed, and the last result stays aside."""
    from apache_beam.io.filesystems import FileSystems

    summary_path = FileSystems.join(output_dir, summary_file)
    if FileSystems.exists(summary_path) and json_status(summary_path) == "running":
        FileSystems.delete([summary_path])
    for name in results:
        path = FileSystems.join(output_dir, name)
        if FileSystems.exists(path):
            stem, extension = os.path.splitext(name)
            previous = FileSystems.join(output_dir, stem + PREVIOUS + extension)
            if FileSystems.exists(previous):
                FileSystems.delete([previous])
            FileSystems.rename([path], [previous])
    write_atomically(summary_path, json.dumps({"status": "running", **marker}, indent=2) + "\n")


def read_metadata_store(metadata_path: str) -> Any:
    """The ML Metadata store of a run (OUTPUT_DIR/metadata.sqlite), opened read-only."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(connection)
