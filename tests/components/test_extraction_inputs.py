"""`extract` on data roots with dangling links, a clip replaced in place, junk files and links out of the data
root: real VideoExampleGen runs."""

import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import pipeline_runner
from components.video_example_gen import component
from video_datasets import demo

SMALL = ["--weights", "none", "--max-seq-length", "8", "--image-size", "32"]


def _extract(data_root, output_dir, *options):
    assert pipeline_runner.main(["extract", "--data-root", data_root, "--output-dir", output_dir, *SMALL, *options]) == 0
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        return json.load(summary_file)


@pytest.fixture(scope="module")
def dangling_links_data(demo_dataset):
    data_root = demo_dataset(4, 1, copy=True)
    nowhere = os.path.join(data_root, "no-such-target")
    os.symlink(nowhere, os.path.join(data_root, ".#train.csv"))  # an editor's lock file, listed nowhere
    os.symlink(nowhere, os.path.join(data_root, "train", ".#notes"))
    os.symlink(nowhere, os.path.join(data_root, "train", "v_Grow_g08_c77.avi"))  # listed below
    with open(os.path.join(data_root, "train.csv"), "a") as train_csv:
        train_csv.write("v_Grow_g08_c77.avi,Grow\n")
    return data_root


def test_dangling_links_and_a_clip_replaced_in_place(dangling_links_data, tmp_path):
    output_dir = str(tmp_path / "out")
    first = _extract(dangling_links_data, output_dir)
    # Unlisted dangling links do not matter; the listed one is a reported skip.
    [skipped] = first["skipped_videos"]
    assert skipped["path"].endswith("v_Grow_g08_c77.avi") and skipped["reason"].startswith("dangling symbolic link")
    assert _extract(dangling_links_data, output_dir)["cached_components"] == ["VideoExampleGen"]
    train_dir = os.path.join(dangling_links_data, "train")
    clip = os.path.join(
        train_dir, min(name for name in os.listdir(train_dir) if name.startswith("v_") and os.path.isfile(os.path.join(train_dir, name)))
    )
    replacement = clip + ".new"
    shutil.copy2(clip, replacement)
    os.replace(replacement, clip)  # what `rsync -t` and `cp -p` leave: same size, same modification time
    second = _extract(dangling_links_data, output_dir)
    assert second["cached_components"] == [] and second["examples_uri"] != first["examples_uri"]
    # Only the replaced clip is decoded again; the feature store serves the others.
    assert (second["feature_store_use"]["misses"], second["feature_store_use"]["hits"]) == (1, first["feature_store_use"]["misses"] - 1)


def _features_by_video(examples_uri: str) -> dict[str, tuple[str, str, bytes]]:
    """video_id -> (split, label, the frame features' bytes) over every split."""
    written = {}
    for split in ("train", "eval", "test"):
        records = tf.data.TFRecordDataset(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz")), compression_type="GZIP")
        for record in records:
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            features = np.array(feature["frame_features"].float_list.value, dtype=np.float32).tobytes()
            written[feature["video_id"].bytes_list.value[0].decode()] = (split, feature["label"].bytes_list.value[0].decode(), features)
    return written


def test_after_relabelling_and_new_clips_only_the_new_clips_are_decoded_and_the_examples_match_a_full_extraction(demo_dataset, tmp_path):
    data_root = demo_dataset(4, 1, copy=True)
    output_dir = str(tmp_path / "out")
    first = _extract(data_root, output_dir)
    assert first["feature_store_use"]["hits"] == 0 and first["feature_store_use"]["entries"] == first["feature_store_use"]["misses"]
    with open(os.path.join(data_root, "train.csv")) as train_csv:
        rows = train_csv.read().splitlines()
    name, label = rows[1].split(",")
    other_label = next(row.split(",")[1] for row in rows[1:] if row.split(",")[1] != label)
    rows[1] = f"{name},{other_label}"  # one clip relabelled
    new_name = "v_" + label + "_g30_c01" + os.path.splitext(name)[1]
    shutil.copy(os.path.join(data_root, "train", name), os.path.join(data_root, "train", new_name))  # one new clip
    rows.append(f"{new_name},{label}")
    with open(os.path.join(data_root, "train.csv"), "w") as train_csv:
        train_csv.write("\n".join(rows) + "\n")

    rerun = _extract(data_root, output_dir)
    assert (rerun["feature_store_use"]["hits"], rerun["feature_store_use"]["misses"]) == (first["feature_store_use"]["misses"], 1)
    assert rerun["feature_extraction"]["frames"] < first["feature_extraction"]["frames"] / 4
    full = _extract(data_root, str(tmp_path / "full"), "--no-cache")
    assert full["feature_store_use"] is None
    reused, extracted = _features_by_video(rerun["examples_uri"]), _features_by_video(full["examples_uri"])
    assert reused == extracted  # splits, labels and bitwise features
    assert reused[f"train/{name}"][1] == other_label


def test_the_input_fingerprint_covers_listed_files_only(dangling_links_data):
    fingerprint = component.input_fingerprint(dangling_links_data)
    os.symlink("nowhere", os.path.join(dangling_links_data, "test", ".~lock.x#"))
    with open(os.path.join(dangling_links_data, "notes.txt"), "w") as notes:
        notes.write("not listed")
    assert component.input_fingerprint(dangling_links_data) == fingerprint
    os.utime(os.path.join(dangling_links_data, "test.csv"))
    assert component.input_fingerprint(dangling_links_data) != fingerprint


@pytest.fixture(scope="module")
def junk_class_folders(tmp_path_factory, demo_dataset):
    """The demo as UCF101 class folders (group 1 tests, groups 8-11 train: g11 is every class's eval group) plus junk.

    The junk files' groups rank before g11 in the carve-out's sha256 order: were they eligible, each would be
    its class's only eval group.
    """
    demo_root = demo_dataset(4, 1)
    data_root = str(tmp_path_factory.mktemp("data"))
    for path in glob.glob(os.path.join(demo_root, "t*", "v_*")):
        class_dir = os.path.join(data_root, os.path.basename(path).split("_")[1])
        os.makedirs(class_dir, exist_ok=True)
        shutil.copy(path, class_dir)
    with open(os.path.join(data_root, "Grow", "._v_Grow_g08_c02.avi"), "wb") as apple_double:
        apple_double.write(b"\x00\x05")  # what macOS leaves beside a copied clip
    with open(os.path.join(data_root, "Shrink", "v_Shrink_g26_c01.avi"), "wb") as random_bytes:
        random_bytes.write(np.random.RandomState(0).bytes(4096))  # only decoding can tell
    # Darken: a link to a clip out of the data root (refused) and one to a clip inside it (used).
    [darken_clip] = glob.glob(os.path.join(demo_root, "train", "v_Darken_g08_c01.*"))
    extension = os.path.splitext(darken_clip)[1]
    outside = os.path.join(str(tmp_path_factory.mktemp("elsewhere")), "clip" + extension)
    shutil.copy(darken_clip, outside)
    os.symlink(outside, os.path.join(data_root, "Darken", "v_Darken_g12_c01" + extension))
    os.makedirs(os.path.join(data_root, ".pool"))  # hidden: no class
    shutil.copy(darken_clip, os.path.join(data_root, ".pool", "clip" + extension))
    os.symlink(os.path.join("..", ".pool", "clip" + extension), os.path.join(data_root, "Darken", "v_Darken_g13_c01" + extension))
    return data_root, outside


def _written_labels(examples_uri, split):
    records = tf.data.TFRecordDataset(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz")), compression_type="GZIP")
    examples = [tf.train.Example.FromString(record.numpy()) for record in records]
    return [
        (example.features.feature["label"].bytes_list.value[0].decode(), example.features.feature["video_id"].bytes_list.value[0].decode())
        for example in examples
    ]


def test_classes_without_eval_clips_links_out_of_the_data_root_and_junk_are_reported(junk_class_folders, tmp_path):
    data_root, outside = junk_class_folders
    summary = _extract(data_root, str(tmp_path / "out"))

    reasons = {os.path.basename(item["path"]): item["reason"] for item in summary["skipped_videos"]}
    extension = os.path.splitext(outside)[1]
    assert reasons == {
        "._v_Grow_g08_c02.avi": "a macOS AppleDouble file (._*): metadata, not a video",
        "v_Shrink_g26_c01.avi": "not a readable video (unknown container or codec)",
        "v_Darken_g12_c01" + extension: f"symbolic link to a file outside the data root: {os.path.realpath(outside)}",
    }
    # Shrink's eval group (g26) held only the random bytes: no eval clip of Shrink was written, and that is said.
    assert summary["labels_without_eval"] == ["Shrink"]
    assert summary["clips_per_label"]["eval"] == {"Brighten": 1, "Darken": 1, "Grow": 1, "Shrink": 0}
    for split in ("train", "eval", "test"):
        written = _written_labels(summary["examples_uri"], split)
        counts = {label: sum(1 for written_label, _ in written if written_label == label) for label in demo.DEMO_CLASSES}
        assert summary["clips_per_label"][split] == counts and summary["splits"][split] == len(written)
    assert ("Darken", "Darken/v_Darken_g13_c01" + extension) in _written_labels(summary["examples_uri"], "train")
