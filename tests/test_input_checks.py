"""Bad or surprising input data found by a new user's trials: each gives a reported skip, a warning, or one clear line."""

from __future__ import annotations

import os
import shutil
import time

import pytest

import pipeline_runner
from frame_path import frames
from inference import model as inference_model
from tests.helpers import CLASSES, keras_rows, make_keras_dataset, ucf101_name, write_text
from video_datasets import listing, manifest
from video_datasets.manifest import DatasetError, read_manifest


def test_a_class_whose_groups_would_all_be_held_out_keeps_them_for_training(tmp_path):
    # Groups 8-12 as in the demo: the global carve-out holds out g11, NewClass's only group.
    new_class_rows = [(ucf101_name("NewClass", 11, clip), "NewClass") for clip in range(1, 5)]
    data_root = make_keras_dataset(tmp_path, keras_rows(range(8, 13)) + new_class_rows, keras_rows([1], CLASSES + ("NewClass",)))
    clips = read_manifest(data_root)
    for label in CLASSES + ("NewClass",):
        assert any(clip.split == "train" and clip.label == label for clip in clips), f"{label} has no training clip"
    assert {clip.split for clip in clips if clip.label == "NewClass" and clip.split != "test"} == {"train"}
    assert manifest.labels_without_eval(clips) == ["NewClass"]
    # Every other class still has an eval group, and no group of a class is on both sides.
    for label in CLASSES:
        eval_groups = {clip.group for clip in clips if clip.label == label and clip.split == "eval"}
        train_groups = {clip.group for clip in clips if clip.label == label and clip.split == "train"}
        assert eval_groups and not eval_groups & train_groups


def test_a_csv_that_is_not_utf8_is_one_line_naming_file_and_line(tmp_path):
    data_root = make_keras_dataset(tmp_path, keras_rows(range(8, 11)), keras_rows([1]))
    with open(os.path.join(data_root, "train.csv"), "ab") as train_csv:
        train_csv.write("99,v_Caf\u00e9_g08_c01.avi,Punch\n".encode("latin-1"))
    with pytest.raises(DatasetError) as raised:
        read_manifest(data_root)
    message = str(raised.value)
    assert "\n" not in message and "train.csv line 20" in message and "UTF-8" in message


def test_the_same_file_in_train_and_test_is_refused_naming_both_rows(tmp_path):
    data_root = make_keras_dataset(tmp_path, keras_rows(range(8, 11)), keras_rows([1]), create_files=False)
    for split, rows in (("train", keras_rows(range(8, 11))), ("test", keras_rows([1]))):
        for index, (video_name, _) in enumerate(rows):
            write_text(os.path.join(data_root, split, video_name), f"{split} clip {index}\n" * 4)
    shutil.copy(os.path.join(data_root, "train", ucf101_name("Punch", 10, 2)), os.path.join(data_root, "test", ucf101_name("Punch", 1, 1)))
    with pytest.raises(DatasetError) as raised:
        read_manifest(data_root)
    message = str(raised.value)
    assert "\n" not in message and "identical" in message
    assert f"train/{ucf101_name('Punch', 10, 2)}" in message and f"test/{ucf101_name('Punch', 1, 1)}" in message


def test_a_group_in_train_and_test_is_a_warning(tmp_path):
    data_root = make_keras_dataset(tmp_path, keras_rows(range(8, 11)), keras_rows([1, 10]))
    clips = read_manifest(data_root)
    assert manifest.groups_in_train_and_test(clips) == ["g10"]
    assert any("g10" in warning and "test" in warning for warning in manifest.data_warnings(clips))


def test_labels_differing_only_in_case_are_a_warning(tmp_path):
    rows = keras_rows(range(8, 11)) + [(ucf101_name("punch", group, 1), "punch") for group in (8, 9)]
    data_root = make_keras_dataset(tmp_path, rows, keras_rows([1]))
    warnings = manifest.data_warnings(read_manifest(data_root))
    assert any("Punch" in warning and "punch" in warning for warning in warnings)


def test_unlisted_dangling_links_do_not_matter_and_a_listed_one_is_a_skip(tmp_path):
    data_root = make_keras_dataset(tmp_path, keras_rows(range(8, 11)), keras_rows([1]))
    os.symlink(os.path.join(data_root, "no-such-target"), os.path.join(data_root, ".#train.csv"))  # an editor's lock file
    os.symlink(os.path.join(data_root, "no-such-target"), os.path.join(data_root, "train", "v_Punch_g08_c09.avi"))
    with open(os.path.join(data_root, "train.csv"), "a") as train_csv:
        train_csv.write("99,v_Punch_g08_c09.avi,Punch\n")
    clips = read_manifest(data_root)
    assert any(clip.video_id == "train/v_Punch_g08_c09.avi" for clip in clips)
    with pytest.raises(frames.VideoDecodeError, match="dangling symbolic link"):
        frames.decode_clip(os.path.join(data_root, "train", "v_Punch_g08_c09.avi"), 8, 32, "uniform")


def test_a_folder_named_like_a_video_is_called_a_folder(tmp_path):
    os.makedirs(tmp_path / "x.avi")
    with pytest.raises(frames.VideoDecodeError, match="is a folder, not a video file"):
        frames.decode_clip(str(tmp_path / "x.avi"), 8, 32, "uniform")


def test_a_pipe_named_like_a_video_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "x.avi")  # opening it to decode would block until someone writes to it
    with pytest.raises(frames.VideoDecodeError, match="not a regular file"):
        frames.decode_clip(str(tmp_path / "x.avi"), 8, 32, "uniform")


@pytest.mark.parametrize("kind", ["a file", "inside /proc"])
def test_an_unusable_output_dir_is_one_line_before_anything_starts(tmp_path, capsys, kind):
    if kind == "a file":
        output_dir = tmp_path / "taken"
        output_dir.write_text("")
    else:
        output_dir = "/proc/x"
    assert pipeline_runner.main(["run", "--demo", "--output-dir", str(output_dir)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: --output-dir {output_dir}") and "\n" not in error
    assert not os.path.exists(os.path.join(str(output_dir), "demo_data"))


def test_model_dir_messages_say_what_is_wrong(tmp_path):
    model_file = tmp_path / "model.txt"
    model_file.write_text("")
    with pytest.raises(inference_model.ModelDirError, match="is a file, not a model directory"):
        inference_model.resolve_model_dir(str(model_file))
    os.makedirs(tmp_path / "serving" / "17" / "variables")
    with pytest.raises(inference_model.ModelDirError, match=r"version folder .*17 has no saved_model\.pb"):
        inference_model.resolve_model_dir(str(tmp_path / "serving" / "17"))
    with pytest.raises(inference_model.ModelDirError, match=r"its version folders \(17\) have no saved_model\.pb"):
        inference_model.resolve_model_dir(str(tmp_path / "serving"))


def test_links_out_of_the_data_root_are_problems_never_eval_and_never_read(tmp_path):
    data_root = make_keras_dataset(tmp_path / "data", keras_rows(range(8, 12)), keras_rows([1]))
    elsewhere = tmp_path / "elsewhere"
    os.makedirs(elsewhere / "folder")
    # A copy of a test clip outside: were the link followed, train and test would hold identical files.
    shutil.copy(os.path.join(data_root, "test", ucf101_name("Punch", 1, 1)), elsewhere / "other.avi")
    shutil.copy(os.path.join(data_root, "test", ucf101_name("Punch", 1, 1)), elsewhere / "folder" / "clip.avi")
    train_dir = os.path.join(data_root, "train")
    links = {
        "v_Punch_g26_c01.avi": "/etc/passwd",
        "v_Punch_g26_c02.avi": str(elsewhere / "other.avi"),
        "v_Skiing_g12_c01.avi": ucf101_name("Skiing", 8, 1),  # inside the data root: a clip like any other
    }
    for name, target in links.items():
        os.symlink(target, os.path.join(train_dir, name))
    os.symlink(elsewhere / "folder", os.path.join(train_dir, "linked"))  # a folder link out of the data root
    labels = {"v_Punch_g26_c01.avi": "Punch", "v_Punch_g26_c02.avi": "Punch", "v_Skiing_g12_c01.avi": "Skiing", "linked/clip.avi": "Punch"}
    with open(os.path.join(data_root, "train.csv"), "a") as train_csv:
        train_csv.writelines(f"99,{name},{label}\n" for name, label in labels.items())

    clips = {clip.video_id: clip for clip in read_manifest(data_root)}

    outside = "symbolic link to a file outside the data root: "
    assert clips["train/v_Punch_g26_c01.avi"].problem == outside + "/etc/passwd"
    assert clips["train/v_Punch_g26_c02.avi"].problem == outside + os.path.realpath(elsewhere / "other.avi")
    assert clips["train/linked/clip.avi"].problem == outside + os.path.realpath(elsewhere / "folder" / "clip.avi")
    assert clips["train/v_Skiing_g12_c01.avi"].problem is None
    assert {clip.group for clip in clips.values() if clip.label == "Punch" and clip.split == "eval"} == {"g11"}
    assert listing.file_problem(os.path.join(train_dir, "v_Punch_g26_c01.avi")) is None  # no data root, no such rule
    # The data root itself may be a link: what counts is where the clips are.
    os.symlink(data_root, tmp_path / "root-link")
    through_link = {clip.video_id: clip.problem for clip in read_manifest(str(tmp_path / "root-link"))}
    assert through_link == {video_id: clip.problem for video_id, clip in clips.items()}


@pytest.mark.parametrize("command, listing", [("run", "train.csv"), ("extract", "trainlist01.txt")])
def test_a_nul_byte_in_a_listing_is_one_line_before_anything_runs(tmp_path, capsys, command, listing):
    if listing == "train.csv":
        data_root = make_keras_dataset(tmp_path / "data", keras_rows(range(8, 11)), keras_rows([1]))
        line, line_number = "99,v_Punch_g08\x00_c03.avi,Punch\n", 20  # after the header and 18 rows
    else:
        data_root = str(tmp_path / "data")
        write_text(os.path.join(data_root, "testlist01.txt"), "".join(f"{label}/{ucf101_name(label, 1, 1)}\n" for label in CLASSES))
        write_text(os.path.join(data_root, "trainlist01.txt"), "".join(f"{label}/{ucf101_name(label, 8, 1)} 1\n" for label in CLASSES))
        line, line_number = "Punch/v_Punch_g09_c01.avi\x00 1\n", 4
    with open(os.path.join(data_root, listing), "a") as listing_file:
        listing_file.write(line)
    output_dir = str(tmp_path / "out")
    started = time.monotonic()
    assert pipeline_runner.main([command, "--data-root", data_root, "--output-dir", output_dir, "--weights", "none"]) == 2
    assert time.monotonic() - started < 30
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {os.path.join(data_root, listing)} line {line_number}: ") and "NUL" in error and "\n" not in error
    assert not os.path.exists(os.path.join(output_dir, "pipeline_root"))
