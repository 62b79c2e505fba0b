"""Each clip's frame features, stored once and reused by every later extraction of the same clip with the same settings.

A clip's features depend only on the clip and on the settings that shape them
(its FeatureConfig: FEATURE_SETTINGS and the backbone's weights id), never on its label, split or
group, nor on the other clips. So VideoExampleGen looks every clip up here and
decodes only the ones the store lacks: after adding clips, relabelling or
re-splitting, a rerun costs the change only.

Layout: `<store uri>/<settings key>/<clip key[:2]>/<clip key>.npz`, through
tf.io.gfile (a local folder, or gs://... for Dataflow workers).

Invalidation rules:
- the clip key hashes the clip's absolute path, size, modification time and
  change time (the same identity as VideoExampleGen's cache key): a clip
  replaced in place, even by `cp -p` (which keeps size and mtime but not the
  ctime), is a new key and is extracted again; the old entry is never read;
- the settings key hashes FEATURE_SETTINGS, the weights id, the OpenCV and
  Keras versions and STORE_FORMAT_VERSION: other settings are another folder;
- an entry is written to a unique temporary name and renamed into place, so a
  reader never sees half an entry, and workers that extract the same clip at
  once each write a whole, identical entry; an entry that cannot be read (a
  file damaged later) is a miss, extracted and written again;
- a clip that cannot be decoded is stored as its VideoDecodeError: it stays
  skipped, without being decoded again, until the file changes.

Entries are never deleted by the pipeline: remove the store folder (or one
settings folder) to reclaim the space.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import uuid
from typing import Any

import numpy as np

from frame_path.config import FeatureConfig
from frame_path.frames import VideoDecodeError

STORE_DIR = "feature_store"  # under OUTPUT_DIR, where `run` and `extract` keep it unless told otherwise
# Bumped when the features of the same clip and settings change (a new crop, a new sampler).
STORE_FORMAT_VERSION = 1

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class StoredClip:
    """What an Example of a clip needs besides its label and id, as ClipEncoder made it."""

    frame_features: np.ndarray  # float32 [max_seq_length, feature_dim], zero-padded
    frame_mask: np.ndarray  # int64 [max_seq_length]
    num_frames: int
    frames_encoded: int
    seconds: float


def file_state(path: str) -> str:
    """A file's size, modification and change time (ns): while they stay, it is the same file. The change time
    is what no copy tool can set (`cp -p` and `rsync -t` keep the other two). VideoExampleGen's cache key
    (input_fingerprint) and the store's clip key both use it."""
    stat = os.stat(path)
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def clip_identity(path: str) -> str:
    """A clip's absolute path and file_state: its key in the store."""
    return f"{os.path.abspath(path)}\t{file_state(path)}"


def settings_key(features: FeatureConfig, weights_id: str) -> str:
    """The folder of one combination of feature-shaping settings (resolved: no 'auto' precision)."""
    import cv2
    import keras

    shaping = features.compared()
    # The weights id, not the weights setting: it names the weights themselves (a file's hash, the random-init seed).
    # Another OpenCV may decode other pixels and another Keras compute other last bits: a new folder, never stale.
    shaping.update(weights_id=weights_id, version=STORE_FORMAT_VERSION, opencv=cv2.__version__, keras=keras.__version__)
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


class FeatureStore:
    """The store of one settings key under `uri`."""

    def __init__(self, uri: str, features: FeatureConfig, weights_id: str):
        self.uri = uri
        self.folder = os.path.join(uri, settings_key(features, weights_id))

    def _entry(self, path: str) -> str:
        key = hashlib.sha256(clip_identity(path).encode()).hexdigest()
        return os.path.join(self.folder, key[:2], f"{key}.npz")

    def get(self, path: str) -> StoredClip | VideoDecodeError | None:
        """The stored features of the clip at `path`, the VideoDecodeError it gave, or None (never stored, changed
        since, or unreadable)."""
        import tensorflow as tf

        entry = self._entry(path)
        try:
            with tf.io.gfile.GFile(entry, "rb") as entry_file:
                payload = entry_file.read()
        except tf.errors.NotFoundError:
            return None
        except tf.errors.OpError as error:  # a store that cannot be read (a file in its place, no permission): a miss
            logger.warning("Feature store entry %s for %s cannot be read (%s): extracting the clip again", entry, path, error.message)
            return None
        try:
            with np.load(io.BytesIO(payload)) as arrays:
                meta = json.loads(str(arrays["meta"]))
                if "skipped" in meta:
                    return VideoDecodeError(meta["skipped"])
                return StoredClip(arrays["frame_features"], arrays["frame_mask"], **meta)
        except Exception as error:  # a damaged entry is only a miss: the clip is extracted again
            logger.warning("Feature store entry %s for %s cannot be read (%s): extracting the clip again", entry, path, error)
            return None

    def put(self, path: str, clip: StoredClip | VideoDecodeError) -> str | None:
        """Stores `clip` as the features of the clip at `path`, or the reason it cannot be decoded (a file that stays
        the same stays broken: an empty or truncated clip is not decoded again every run); written whole under a
        unique name, then renamed. Returns why it could not be stored (a store that is not writable, a full disk),
        None once stored: the clip's Example is written all the same, and the report counts what the store lacks."""
        import tensorflow as tf

        entry = self._entry(path)
        buffer = io.BytesIO()
        if isinstance(clip, VideoDecodeError):
            np.savez(buffer, meta=json.dumps({"skipped": str(clip)}))
        else:
            meta = {"num_frames": int(clip.num_frames), "frames_encoded": int(clip.frames_encoded), "seconds": float(clip.seconds)}
            np.savez(buffer, frame_features=clip.frame_features, frame_mask=clip.frame_mask, meta=json.dumps(meta))
        temporary = f"{entry}.{uuid.uuid4().hex}.tmp"
        try:
            tf.io.gfile.makedirs(os.path.dirname(entry))
            with tf.io.gfile.GFile(temporary, "wb") as entry_file:
                entry_file.write(buffer.getvalue())
            tf.io.gfile.rename(temporary, entry, overwrite=True)
        except (tf.errors.OpError, OSError) as error:
            with contextlib.suppress(tf.errors.OpError, OSError):
                tf.io.gfile.remove(temporary)
            reason = getattr(error, "message", None) or str(error)
            logger.warning("Feature store %s: %s is not stored (%s); the extraction goes on without it", self.uri, path, reason)
            return reason
        return None


def store_size(uri: str) -> dict[str, Any]:
    """Entries and bytes under a store `uri`, over every settings key (for the extraction report).

    A URI (gs://...) is listed in one glob and its bytes are left out (None): a size is one request an
    entry there, minutes for UCF101's 13,320 clips.
    """
    if "://" in uri:
        import tensorflow as tf

        return {"entries": len(tf.io.gfile.glob(os.path.join(uri, "*", "*", "*.npz"))), "bytes": None}
    entries, size = 0, 0
    for folder, _, files in os.walk(uri):
        for name in files:
            if name.endswith(".npz"):
                entries += 1
                size += os.path.getsize(os.path.join(folder, name))
    return {"entries": entries, "bytes": size}
