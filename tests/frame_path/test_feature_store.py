"""The per-clip feature store: keys, invalidation, damaged entries and concurrent writers (real files, no Beam)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading

import numpy as np
import pytest

from frame_path.config import ExtractionConfig, resolve_auto_settings
from frame_path.feature_store import FeatureStore, StoredClip, settings_key, store_size

FEATURES = resolve_auto_settings(ExtractionConfig.of(weights="none", max_seq_length=4), device="cpu", cores=1).features
WEIGHTS_ID = "none(random-init,seed=0)"


def _clip(seed: int = 0) -> StoredClip:
    rng = np.random.default_rng(seed)
    return StoredClip(rng.normal(size=(4, 3)).astype(np.float32), np.array([1, 1, 1, 0]), 3, 3, 0.12)


@pytest.fixture
def video(tmp_path) -> str:
    path = tmp_path / "data" / "v_A_g01_c01.avi"
    path.parent.mkdir()
    path.write_bytes(b"a video's bytes" * 100)
    return str(path)


def test_a_stored_clip_comes_back_bitwise(tmp_path, video):
    store = FeatureStore(str(tmp_path / "store"), FEATURES, WEIGHTS_ID)
    assert store.get(video) is None
    store.put(video, _clip())
    stored = store.get(video)
    np.testing.assert_array_equal(stored.frame_features, _clip().frame_features)
    assert stored.frame_features.dtype == np.float32 and stored.frame_mask.tolist() == [1, 1, 1, 0]
    assert (stored.num_frames, stored.frames_encoded, stored.seconds) == (3, 3, 0.12)
    assert store_size(str(tmp_path / "store"))["entries"] == 1
    assert not [name for _, _, files in os.walk(tmp_path / "store") for name in files if name.endswith(".tmp")]


def test_a_clip_replaced_in_place_or_moved_is_a_miss(tmp_path, video):
    store = FeatureStore(str(tmp_path / "store"), FEATURES, WEIGHTS_ID)
    store.put(video, _clip())
    replacement = video + ".new"
    shutil.copy2(video, replacement)  # same bytes, size and modification time (`cp -p`): only the ctime differs
    os.replace(replacement, video)
    assert store.get(video) is None
    store.put(video, _clip(1))
    moved = os.path.join(os.path.dirname(video), "v_A_g01_c02.avi")
    os.rename(video, moved)
    assert store.get(moved) is None


def test_only_the_feature_settings_and_the_weights_choose_the_folder():
    key = settings_key(FEATURES, WEIGHTS_ID)
    # How fast, which split or where: no setting of the features, so never part of the key.
    assert not {"frame_batch_size", "decode_workers", "eval_group_fraction", "feature_store"} & set(FEATURES.as_dict())
    for change in (
        {"max_seq_length": 5},
        {"image_size": 64},
        {"sampling": "first"},
        {"precision": "bfloat16"},
        {"frame_pooling": "avg+max"},
    ):
        assert settings_key(dataclasses.replace(FEATURES, **change), WEIGHTS_ID) != key
    assert settings_key(FEATURES, "none(random-init,seed=1)") != key


def test_a_damaged_entry_is_a_miss_and_is_written_again(tmp_path, video):
    store = FeatureStore(str(tmp_path / "store"), FEATURES, WEIGHTS_ID)
    store.put(video, _clip())
    [entry] = [os.path.join(folder, name) for folder, _, files in os.walk(tmp_path / "store") for name in files]
    with open(entry, "r+b") as entry_file:
        entry_file.truncate(os.path.getsize(entry) // 2)
    assert store.get(video) is None
    store.put(video, _clip())
    np.testing.assert_array_equal(store.get(video).frame_features, _clip().frame_features)


def test_concurrent_writers_of_one_clip_leave_one_whole_entry(tmp_path, video):
    store = FeatureStore(str(tmp_path / "store"), FEATURES, WEIGHTS_ID)
    errors = []

    def write() -> None:
        try:
            for _ in range(20):
                store.put(video, _clip())
                assert store.get(video) is not None  # never half an entry
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert store_size(str(tmp_path / "store"))["entries"] == 1
    np.testing.assert_array_equal(store.get(video).frame_features, _clip().frame_features)


def test_a_store_at_a_uri_goes_through_tf_io_gfile(video):
    """TensorFlow's in-memory filesystem stands in for gs://: the same reads, writes, renames and listing."""
    uri = "ram://feature-store-test"
    store = FeatureStore(uri, FEATURES, WEIGHTS_ID)
    assert store.get(video) is None
    store.put(video, _clip(1))
    np.testing.assert_array_equal(store.get(video).frame_features, _clip(1).frame_features)
    assert store_size(uri) == {"entries": 1, "bytes": None}


def test_a_clip_that_cannot_be_decoded_is_remembered_until_it_changes(tmp_path, video):
    from frame_path.frames import VideoDecodeError

    store = FeatureStore(str(tmp_path / "store"), FEATURES, WEIGHTS_ID)
    store.put(video, VideoDecodeError("truncated: 33 of 136 frames decodable"))
    remembered = store.get(video)
    assert isinstance(remembered, VideoDecodeError) and str(remembered) == "truncated: 33 of 136 frames decodable"
    with open(video, "ab") as video_file:
        video_file.write(b"the rest of the file")
    assert store.get(video) is None  # mended: decoded again


def test_a_store_that_cannot_be_written_is_a_reason_not_an_error(tmp_path, video):
    """A store that cannot be written (here a file in the way; for root, an immutable folder) leaves each clip unstored
    with a reason, and reading it is a miss: the extraction goes on without it."""
    blocked = tmp_path / "store"
    blocked.write_text("a file where the store's folder would be")
    store = FeatureStore(str(blocked), FEATURES, WEIGHTS_ID)
    assert store.get(video) is None
    reason = store.put(video, _clip())
    assert reason and "\n" not in reason
    assert FeatureStore(str(tmp_path / "writable"), FEATURES, WEIGHTS_ID).put(video, _clip()) is None
