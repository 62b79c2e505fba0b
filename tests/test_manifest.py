"""Tests of video_datasets.manifest on real folders (files are short text, no videos: the manifest never decodes)."""

from __future__ import annotations

import os
import random

import pytest

from tests.helpers import CLASSES, keras_rows, make_class_folders, make_keras_dataset, touch, ucf101_name, write_text
from video_datasets import carve_out, manifest
from video_datasets.carve_out import assign_eval_groups
from video_datasets.listing import group_of
from video_datasets.manifest import Clip, DatasetError, read_manifest


def _error_message(data_root, **kwargs) -> str:
    with pytest.raises(DatasetError) as raised:
        read_manifest(str(data_root), **kwargs)
    message = str(raised.value)
    assert "\n" not in message, "a DatasetError is one line"
    return message


# --- group_of and assign_eval_groups ---------------------------------------------------------


@pytest.mark.parametrize(
    "file_name, group",
    [
        ("v_ApplyEyeMakeup_g08_c01.avi", "g08"),
        ("train/v_Punch_g03_c04.avi", "g03"),
        ("Punch\\v_Punch_g21_c01.mp4", "g21"),
        ("v_Some_Class_g5_c1.avi", "g05"),  # underscores in the class name; numbers normalized
        ("my_clip.mp4", "my_clip"),
        ("folder/v_Punch_g03.avi", "v_Punch_g03"),
    ],
)
def test_group_of(file_name, group):
    assert group_of(file_name) == group


def test_group_is_shared_across_classes():
    assert group_of("v_Punch_g09_c01.avi") == group_of("v_Skiing_g09_c05.avi")


def test_assign_eval_groups_is_deterministic_and_order_independent():
    groups = [f"g{number:02d}" for number in range(8, 26)]
    chosen = assign_eval_groups(groups, 0.15)
    assert len(chosen) == max(1, round(0.15 * len(groups)))
    shuffled = groups * 3  # duplicates and another order
    random.Random(1).shuffle(shuffled)
    assert assign_eval_groups(shuffled, 0.15) == chosen
    assert assign_eval_groups(iter(groups), 0.15) == chosen
    assert chosen <= set(groups)


def test_assign_eval_groups_small_counts():
    assert assign_eval_groups([], 0.15) == set()
    assert assign_eval_groups(["g08", "g08"], 0.15) == set()  # one distinct group: nothing to hold out
    assert len(assign_eval_groups(["g08", "g09"], 0.15)) == 1  # at least one group once there are two
    assert len(assign_eval_groups(["g08", "g09"], 0.9)) == 1  # train always keeps a group


def test_assign_eval_groups_follows_sha256_order():
    import hashlib

    groups = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
    expected = sorted(groups, key=lambda group: hashlib.sha256(group.encode()).hexdigest())[:3]
    assert assign_eval_groups(groups, 0.3) == set(expected)


# --- Keras example layout ----------------------------------------------------------------------


def test_keras_layout(tmp_path):
    train_rows = keras_rows(range(8, 20))
    test_rows = keras_rows(range(1, 3))
    data_root = make_keras_dataset(tmp_path / "data", train_rows, test_rows)

    clips = read_manifest(data_root)

    assert all(isinstance(clip, Clip) for clip in clips)
    assert len(clips) == len(train_rows) + len(test_rows)
    by_id = {clip.video_id: clip for clip in clips}
    clip = by_id["train/v_Punch_g08_c01.avi"]
    assert clip.label == "Punch"
    assert clip.group == "g08"
    assert os.path.isabs(clip.path)
    assert clip.path == os.path.join(os.path.abspath(data_root), "train", "v_Punch_g08_c01.avi")
    assert {clip.split for clip in clips if clip.video_id.startswith("test/")} == {"test"}
    assert {clip.split for clip in clips if clip.video_id.startswith("train/")} == {"train", "eval"}
    assert {clip.label for clip in clips} == set(CLASSES)
    # Sorted by split order, then video_id.
    order = {split: index for index, split in enumerate(manifest.SPLIT_NAMES)}
    assert clips == sorted(clips, key=lambda clip: (order[clip.split], clip.video_id))
    assert [clip.split for clip in clips][0] == "train" and clips[-1].split == "test"


def test_keras_layout_without_index_column_and_with_extra_columns(tmp_path):
    rows = [(ucf101_name(label, group, 1), label) for label, group in (("Punch", 8), ("Punch", 10), ("Skiing", 9), ("Skiing", 11))]
    make_keras_dataset(tmp_path, rows, rows[:1], header="video_name,tag", index_column=False)
    assert len(read_manifest(str(tmp_path))) == 5
    write_text(tmp_path / "test.csv", "tag,comment,video_name\nPunch,x,v_Punch_g01_c01.avi\n")
    clips = read_manifest(str(tmp_path))
    assert [clip.video_id for clip in clips if clip.split == "test"] == ["test/v_Punch_g01_c01.avi"]


def test_keras_nested_video_name_and_missing_files_are_kept(tmp_path):
    train_rows = keras_rows(range(8, 12)) + [("sub/dir/clip.avi", "Punch")]
    data_root = make_keras_dataset(tmp_path, train_rows, keras_rows([1]))
    for video_name in ("sub/dir/clip.avi", ucf101_name("Punch", 8, 1)):
        os.remove(os.path.join(data_root, "train", video_name))
    clips = read_manifest(data_root)
    assert len(clips) == len(train_rows) + len(CLASSES) * 2
    missing = [clip for clip in clips if not os.path.exists(clip.path)]
    assert {clip.video_id for clip in missing} == {"train/sub/dir/clip.avi", f"train/{ucf101_name('Punch', 8, 1)}"}
    assert {clip.problem for clip in missing} == {"file not found"}
    nested = [clip for clip in clips if clip.video_id == "train/sub/dir/clip.avi"]
    assert nested and nested[0].group == "clip"


def test_eval_split_is_group_disjoint_deterministic_and_row_order_independent(tmp_path):
    train_rows = keras_rows(range(8, 26))
    test_rows = keras_rows(range(1, 8))
    first = read_manifest(make_keras_dataset(tmp_path / "a", train_rows, test_rows))
    shuffled_rows = list(train_rows)
    random.Random(7).shuffle(shuffled_rows)
    second = read_manifest(make_keras_dataset(tmp_path / "b", shuffled_rows, test_rows[::-1]))

    eval_groups = {clip.group for clip in first if clip.split == "eval"}
    train_groups = {clip.group for clip in first if clip.split == "train"}
    assert eval_groups, "eval is not empty with 2+ groups"
    assert not eval_groups & train_groups
    assert len(eval_groups) == max(1, round(carve_out.EVAL_GROUP_FRACTION * 18))
    # A held-out group number takes its clips of every class.
    eval_clips = [clip for clip in first if clip.split == "eval"]
    assert len(eval_clips) == len(eval_groups) * len(CLASSES) * 2

    def signature(clips):
        return [(clip.video_id, clip.label, clip.split, clip.group) for clip in clips]

    assert signature(first) == signature(second)
    assert signature(first) == signature(read_manifest(str(tmp_path / "a")))


def test_eval_fraction_parameter(tmp_path):
    data_root = make_keras_dataset(tmp_path, keras_rows(range(8, 18)), keras_rows([1]))
    clips = read_manifest(data_root, eval_fraction=0.5)
    assert len({clip.group for clip in clips if clip.split == "eval"}) == 5


def test_single_training_group_is_refused_since_eval_would_be_empty(tmp_path):
    data_root = make_keras_dataset(tmp_path, keras_rows([8]), keras_rows([1]))
    with pytest.raises(DatasetError, match="single group"):
        read_manifest(data_root)


# --- files that cannot be videos and the eval carve-out ------------------------------------------
# Groups g08-g11 alone would hold out g11; each junk file below is its own group ranked before g11
# (sha256 order), so a carve-out that took it would leave its class with no eval clip that decodes.


def test_files_that_cannot_be_videos_are_listed_but_never_held_out_as_eval(tmp_path):
    make_class_folders(tmp_path, [1, 8, 9, 10, 11])
    junk = {
        "Punch/._v_Punch_g08_c02.avi": b"\x00\x05",  # a macOS AppleDouble file (its own group: no UCF101 name)
        "Drumming/v_Drumming_g26_c01.avi": b"abc",  # a few bytes
        "Skiing/v_Skiing_g26_c01.avi": b"",
    }
    for video_id, content in junk.items():
        (tmp_path / video_id).write_bytes(content)

    clips = read_manifest(str(tmp_path))

    by_id = {clip.video_id: clip for clip in clips}
    assert {video_id: (by_id[video_id].split, by_id[video_id].problem) for video_id in junk} == {
        "Punch/._v_Punch_g08_c02.avi": ("train", "a macOS AppleDouble file (._*): metadata, not a video"),
        "Drumming/v_Drumming_g26_c01.avi": ("train", "3 bytes: too small to be a video"),
        "Skiing/v_Skiing_g26_c01.avi": ("train", "empty file"),
    }
    for label in CLASSES:
        assert {clip.group for clip in clips if clip.label == label and clip.split == "eval"} == {"g11"}
    assert manifest.labels_without_eval(clips) == []
    assert all(clip.problem is None for clip in clips if clip.video_id not in junk)


def test_a_listed_clip_that_does_not_exist_is_never_held_out_as_eval(tmp_path):
    make_class_folders(tmp_path, [1, 8, 9, 10, 11], classes=("Punch", "Skiing"))
    train_entries = [f"{cls}/{ucf101_name(cls, group, 1)}" for cls in ("Punch", "Skiing") for group in (8, 9, 10, 11)]
    write_text(tmp_path / "trainlist01.txt", "\n".join(train_entries + ["Punch/v_Punch_g26_c01.avi"]) + "\n")
    write_text(tmp_path / "testlist01.txt", "Punch/v_Punch_g01_c01.avi\nSkiing/v_Skiing_g01_c01.avi\n")

    clips = read_manifest(str(tmp_path))

    [missing] = [clip for clip in clips if clip.video_id == "Punch/v_Punch_g26_c01.avi"]
    assert (missing.split, missing.problem) == ("train", "file not found")
    assert {clip.group for clip in clips if clip.label == "Punch" and clip.split == "eval"} == {"g11"}


def test_a_class_whose_other_groups_cannot_be_videos_has_no_eval_and_says_so(tmp_path):
    make_class_folders(tmp_path, [1, 8, 9, 10, 11], classes=("Punch", "Skiing"))
    make_class_folders(tmp_path, [1, 8], classes=("Drumming",))
    (tmp_path / "Drumming" / "._v_Drumming_g09_c01.avi").write_bytes(b"\x00\x05")
    clips = read_manifest(str(tmp_path))
    assert manifest.labels_without_eval(clips) == ["Drumming"]


def test_only_files_that_cannot_be_videos_in_other_groups_is_no_eval_split(tmp_path):
    data_root = make_keras_dataset(tmp_path, keras_rows([8, 9]), keras_rows([1]))
    for class_name in CLASSES:
        for clip in (1, 2):
            os.remove(os.path.join(data_root, "train", ucf101_name(class_name, 9, clip)))
    message = _error_message(data_root)
    assert "single group" in message and "missing" in message


# --- UCF101 class folders ----------------------------------------------------------------------


def test_class_folders_fall_back_to_groups_01_to_07_as_test(tmp_path):
    video_ids = make_class_folders(tmp_path, range(1, 26))
    touch(tmp_path / "Punch" / "notes.txt")  # not a video
    touch(tmp_path / "Punch" / "v_Punch_g30_c01.AVI")  # extensions match in any case
    touch(tmp_path / "readme.avi")  # a file in the root is no class folder

    clips = read_manifest(str(tmp_path))

    assert {clip.video_id for clip in clips} == set(video_ids) | {"Punch/v_Punch_g30_c01.AVI"}
    for clip in clips:
        assert clip.label == clip.video_id.split("/")[0]
        group_number = int(clip.group[1:])
        assert (clip.split == "test") == (1 <= group_number <= 7)
    assert {clip.split for clip in clips} == {"train", "eval", "test"}
    eval_groups = {clip.group for clip in clips if clip.split == "eval"}
    assert not eval_groups & {clip.group for clip in clips if clip.split == "train"}


def test_class_folders_take_every_video_container_and_list_the_files_they_ignore(tmp_path):
    """UCF101 class folders whose Grow and Shrink clips are .m4v: taken, in any case; a file that is no video is listed."""
    make_class_folders(tmp_path, range(1, 12), classes=("Brighten", "Darken"))
    m4v = [
        f"{cls}/{ucf101_name(cls, group, 1, extension)}"
        for cls in ("Grow", "Shrink")
        for group, extension in ((2, ".m4v"), (8, ".M4V"), (9, ".wmv"), (10, ".3gp"), (11, ".ts"), (3, ".mts"))
    ]
    for video_id in m4v:
        touch(tmp_path / video_id)
    for other in ("Grow/notes.txt", "Grow/Thumbs.db", "Shrink/nested/v_Shrink_g04_c01.avi"):
        touch(tmp_path / other)

    clips = read_manifest(str(tmp_path))

    taken = {clip.video_id for clip in clips}
    assert set(m4v) <= taken
    assert {clip.split for clip in clips if clip.label in ("Grow", "Shrink")} == {"train", "eval", "test"}
    assert manifest.ignored_files(str(tmp_path)) == ["Grow/Thumbs.db", "Grow/notes.txt", "Shrink/nested/v_Shrink_g04_c01.avi"]


def test_files_in_neither_split_list_nor_csv_are_listed_as_ignored(tmp_path):
    make_class_folders(tmp_path, range(1, 12), classes=("ApplyEyeMakeup", "Punch"))
    write_text(
        tmp_path / "trainlist01.txt",
        "\n".join(f"Punch/v_Punch_g{group:02d}_c01.avi 1\nApplyEyeMakeup/v_ApplyEyeMakeup_g{group:02d}_c01.avi 2" for group in (8, 10, 11))
        + "\n",
    )
    write_text(tmp_path / "testlist01.txt", "Punch/v_Punch_g09_c01.avi\nApplyEyeMakeup/v_ApplyEyeMakeup_g09_c01.avi\n")
    ignored = manifest.ignored_files(str(tmp_path))
    assert "Punch/v_Punch_g02_c01.avi" in ignored and "Punch/v_Punch_g09_c01.avi" not in ignored
    keras_root = make_keras_dataset(tmp_path / "keras", keras_rows(range(8, 12)), keras_rows(range(1, 3)))
    touch(tmp_path / "keras" / "train" / "unlisted.avi")
    assert manifest.ignored_files(keras_root) == ["train/unlisted.avi"]


@pytest.mark.parametrize("list_folder", ["", "ucfTrainTestlist"])
def test_class_folders_with_official_split_lists(tmp_path, list_folder):
    make_class_folders(tmp_path, range(1, 12), classes=("ApplyEyeMakeup", "Punch"))
    lists_dir = tmp_path / list_folder if list_folder else tmp_path
    # Deliberately unlike the fallback: group 02 trains, group 09 tests.
    train_entries = [
        f"{cls}/v_{cls}_g{group:02d}_c01.avi {index}"
        for index, cls in enumerate(("ApplyEyeMakeup", "Punch"), 1)
        for group in (2, 8, 10, 11)
    ]
    train_entries.append("Punch/v_Punch_g20_c01.avi 2")  # listed but missing: kept
    test_entries = [f"{cls}/v_{cls}_g09_c01.avi" for cls in ("ApplyEyeMakeup", "Punch")]
    write_text(lists_dir / "trainlist01.txt", "\r\n".join(train_entries) + "\r\n\r\n")
    write_text(lists_dir / "testlist01.txt", "\n".join(test_entries) + "\n")

    clips = read_manifest(str(tmp_path))

    by_id = {clip.video_id: clip for clip in clips}
    assert set(by_id) == {entry.split()[0] for entry in train_entries + test_entries}
    assert by_id["Punch/v_Punch_g09_c01.avi"].split == "test"
    assert by_id["Punch/v_Punch_g02_c01.avi"].split in ("train", "eval")
    assert by_id["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"].label == "ApplyEyeMakeup"
    missing = by_id["Punch/v_Punch_g20_c01.avi"]
    assert not os.path.exists(missing.path) and missing.split in ("train", "eval")
    assert any(clip.split == "eval" for clip in clips)


# --- errors ------------------------------------------------------------------------------------


def test_missing_or_non_folder_data_root(tmp_path):
    assert "does not exist" in _error_message(tmp_path / "nowhere")
    touch(tmp_path / "file.avi")
    assert "not a folder" in _error_message(tmp_path / "file.avi")


def test_no_recognizable_layout(tmp_path):
    (tmp_path / "EmptyClass").mkdir()
    touch(tmp_path / "Other" / "notes.txt")
    message = _error_message(tmp_path)
    assert "train.csv" in message and "class folders" in message


def test_only_one_csv(tmp_path):
    write_text(tmp_path / "train.csv", "video_name,tag\na.avi,A\n")
    assert "test.csv" in _error_message(tmp_path)


def test_csv_without_required_column(tmp_path):
    make_keras_dataset(tmp_path, keras_rows([8, 9]), keras_rows([1]))
    write_text(tmp_path / "train.csv", "file,label\nv_Punch_g08_c01.avi,Punch\n")
    message = _error_message(tmp_path)
    assert "train.csv" in message and "'file'" in message and "'label'" in message and "video_name" in message


def test_empty_csv_and_csv_without_rows(tmp_path):
    make_keras_dataset(tmp_path, keras_rows([8, 9]), keras_rows([1]))
    write_text(tmp_path / "test.csv", "video_name,tag\n")
    assert "test.csv has no rows" in _error_message(tmp_path)
    write_text(tmp_path / "test.csv", "")
    assert "test.csv is empty" in _error_message(tmp_path)


def test_empty_tag(tmp_path):
    make_keras_dataset(tmp_path, keras_rows([8, 9]) + [("v_Punch_g10_c01.avi", " ")], keras_rows([1]))
    message = _error_message(tmp_path)
    assert "train.csv line" in message and "empty tag" in message and "v_Punch_g10_c01.avi" in message


@pytest.mark.parametrize("video_name", ["/etc/passwd", "../outside.avi", "sub/../../outside.avi", "..\\outside.avi", "C:\\videos\\a.avi"])
def test_video_name_leaving_its_folder(tmp_path, video_name):
    make_keras_dataset(tmp_path, keras_rows([8, 9]), keras_rows([1]) + [(video_name, "Punch")], create_files=False)
    message = _error_message(tmp_path)
    assert "test.csv line" in message and repr(video_name) in message


def test_split_list_entry_leaving_its_folder(tmp_path):
    make_class_folders(tmp_path, [1, 8, 9])
    write_text(tmp_path / "trainlist01.txt", "Punch/v_Punch_g08_c01.avi 1\nSkiing/v_Skiing_g08_c01.avi 2\n")
    write_text(tmp_path / "testlist01.txt", "Punch/../../secret.avi\n")
    message = _error_message(tmp_path)
    assert "testlist01.txt line 1" in message and ".." in message


def test_split_list_without_its_pair(tmp_path):
    make_class_folders(tmp_path, [1, 8, 9])
    write_text(tmp_path / "ucfTrainTestlist" / "trainlist01.txt", "Punch/v_Punch_g08_c01.avi 1\n")
    assert "testlist01.txt" in _error_message(tmp_path)


def test_test_label_missing_from_training(tmp_path):
    make_keras_dataset(tmp_path, keras_rows([8, 9]), keras_rows([1]) + [("v_Fly_g01_c01.avi", "Fly"), ("v_Zap_g01_c01.avi", "Zap")])
    message = _error_message(tmp_path)
    assert "Fly" in message and "Zap" in message and "test.csv" in message


def test_test_label_missing_from_training_in_class_folders(tmp_path):
    make_class_folders(tmp_path, [1, 8, 9], classes=("Punch", "Skiing"))
    make_class_folders(tmp_path, [2], classes=("Fencing",))  # only test groups
    assert "Fencing" in _error_message(tmp_path)


def test_fewer_than_two_training_labels(tmp_path):
    make_keras_dataset(tmp_path, keras_rows([8, 9], classes=("Punch",)), keras_rows([1], classes=("Punch",)))
    message = _error_message(tmp_path)
    assert "at least 2 labels" in message and "Punch" in message


def test_duplicate_video_ids(tmp_path):
    train_rows = keras_rows([8, 9])
    make_keras_dataset(tmp_path, train_rows + [train_rows[0]], keras_rows([1]))
    message = _error_message(tmp_path)
    assert "listed twice" in message and train_rows[0][0] in message


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)
    assert manifest.DatasetError is DatasetError
