"""`extract` on data roots with dangling links and with a clip replaced in place (issue 12): real VideoExampleGen runs."""
import json
import os
import shutil

import pytest

import pipeline_runner
from components.video_example_gen import component
from video_datasets import demo

SMALL = ["--weights", "none", "--max-seq-length", "8", "--image-size", "32"]


def _extract(data_root, output_dir):
    assert pipeline_runner.main(["extract", "--data-root", data_root, "--output-dir", output_dir, *SMALL]) == 0
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        return json.load(summary_file)


@pytest.fixture(scope="module")
def dangling_links_data(tmp_path_factory):
    data_root = demo.generate_demo_dataset(str(tmp_path_factory.mktemp("data")), train_clips_per_class=4, test_clips_per_class=1)
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
    clip = os.path.join(train_dir, min(name for name in os.listdir(train_dir) if name.startswith("v_") and os.path.isfile(os.path.join(train_dir, name))))
    replacement = clip + ".new"
    shutil.copy2(clip, replacement)
    os.replace(replacement, clip)  # what `rsync -t` and `cp -p` leave: same size, same modification time
    second = _extract(dangling_links_data, output_dir)
    assert second["cached_components"] == [] and second["examples_uri"] != first["examples_uri"]


def test_the_input_fingerprint_covers_listed_files_only(dangling_links_data):
    fingerprint = component.input_fingerprint(dangling_links_data)
    os.symlink("nowhere", os.path.join(dangling_links_data, "test", ".~lock.x#"))
    with open(os.path.join(dangling_links_data, "notes.txt"), "w") as notes:
        notes.write("not listed")
    assert component.input_fingerprint(dangling_links_data) == fingerprint
    os.utime(os.path.join(dangling_links_data, "test.csv"))
    assert component.input_fingerprint(dangling_links_data) != fingerprint
