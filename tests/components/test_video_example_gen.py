"""VideoExampleGen for real: generated clips -> LocalDagRunner -> TFRecords, via `pipeline_runner.py extract`."""

import csv
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import pipeline_runner
from frame_path.backbone import compute_device, feature_dim
from frame_path.config import ExtractionConfig, resolve_auto_settings, usable_cores
from tests.helpers import decode_worker_children, run_pipeline_runner
from video_datasets import manifest

MAX_SEQ_LENGTH = 12  # small, so that some demo clips (8-10 frames) are shorter and get padded
IMAGE_SIZE = 32
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _read_split(examples_uri, split):
    files = glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [tf.train.Example.FromString(record.numpy()) for record in records]


def _values(example, name):
    feature = example.features.feature[name]
    return getattr(feature, feature.WhichOneof("kind")).value


@pytest.fixture(scope="module")
def extraction(tmp_path_factory, demo_dataset):
    data_root = demo_dataset(4, 1, copy=True)
    with open(os.path.join(data_root, "train.csv"), "a", newline="") as train_csv:
        writer = csv.writer(train_csv)
        writer.writerow(["v_Grow_g20_c01.avi", "Grow"])  # corrupt: text named .avi
        writer.writerow(["v_Grow_g20_c02.avi", "Grow"])  # listed, but missing
    with open(os.path.join(data_root, "train", "v_Grow_g20_c01.avi"), "w") as corrupt:
        corrupt.write("not a video\n" * 100)
    output_dir = str(tmp_path_factory.mktemp("output"))
    exit_code = pipeline_runner.main(
        [
            "extract",
            "--data-root",
            data_root,
            "--output-dir",
            output_dir,
            "--weights",
            "none",
            "--max-seq-length",
            str(MAX_SEQ_LENGTH),
            "--image-size",
            str(IMAGE_SIZE),
        ]
    )
    assert exit_code == 0
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        summary = json.load(summary_file)
    return data_root, summary


def test_summary_counts_match_the_records(extraction):
    data_root, summary = extraction
    clips = manifest.read_manifest(data_root)
    for split in ("train", "eval", "test"):
        records = _read_split(summary["examples_uri"], split)
        assert len(records) == summary["splits"][split] > 0
    assert sum(summary["splits"].values()) == len(clips) - 2
    assert summary["weights"] == "none"
    extraction_stats = summary["feature_extraction"]
    assert extraction_stats["frames"] > 0 and extraction_stats["frames_per_second"] > 0


def test_records_have_padded_features_masks_and_labels(extraction):
    data_root, summary = extraction
    labels = {clip.video_id: clip.label for clip in manifest.read_manifest(data_root)}
    saw_padding = False
    for split in ("train", "eval", "test"):
        for example in _read_split(summary["examples_uri"], split):
            frame_features = np.array(_values(example, "frame_features")).reshape(MAX_SEQ_LENGTH, feature_dim(summary["frame_pooling"]))
            frame_mask = np.array(_values(example, "frame_mask"))
            num_frames = _values(example, "num_frames")[0]
            video_id = _values(example, "video_id")[0].decode()
            assert frame_mask.tolist() == [1] * min(num_frames, MAX_SEQ_LENGTH) + [0] * max(0, MAX_SEQ_LENGTH - num_frames)
            assert np.all(frame_features[frame_mask == 0] == 0)
            assert np.all(np.abs(frame_features[frame_mask == 1]).sum(axis=1) > 0)
            assert _values(example, "label")[0].decode() == labels[video_id]
            saw_padding |= num_frames < MAX_SEQ_LENGTH
    assert saw_padding, "the demo data should include clips shorter than max_seq_length"


def test_eval_split_is_carved_out_of_train_by_group(extraction):
    _, summary = extraction
    video_ids = {
        split: {_values(example, "video_id")[0].decode() for example in _read_split(summary["examples_uri"], split)}
        for split in ("train", "eval", "test")
    }
    groups = {split: {manifest.group_of(os.path.basename(v)) for v in ids} for split, ids in video_ids.items()}
    assert groups["train"] and groups["eval"] and not groups["train"] & groups["eval"]
    assert all(video_id.startswith("train/") for video_id in video_ids["eval"])
    assert all(video_id.startswith("test/") for video_id in video_ids["test"])


def test_report_records_the_settings_chosen_for_the_device_and_no_decoder_outlives_the_run(extraction):
    _, summary = extraction
    device = compute_device()
    resolved = resolve_auto_settings(ExtractionConfig.of(weights="none"), device, cores=usable_cores())
    # The run summary copies extraction_report.json: 'auto' settings appear as resolved for this machine's device
    # (and the pooling for the weights: the map's maximum and minimum with random-init ones).
    assert (summary["frame_batch_size"], summary["precision"], summary["decode_workers"], summary["frame_pooling"]) == (
        resolved.frame_batch_size,
        resolved.features.precision,
        resolved.decode_workers,
        "max+min",
    )
    assert summary["auto_settings"] == {
        "device": device,
        "frame_batch_size": resolved.frame_batch_size,
        "precision": resolved.features.precision,
        "decode_workers": resolved.decode_workers,
        "frame_pooling": "max+min",
    }
    assert decode_worker_children() == []


def test_skip_report_lists_corrupt_and_missing_clips(extraction):
    _, summary = extraction
    reasons = {os.path.basename(item["path"]): item["reason"] for item in summary["skipped_videos"]}
    assert reasons == {"v_Grow_g20_c01.avi": "not a readable video (unknown container or codec)", "v_Grow_g20_c02.avi": "file not found"}
    with open(os.path.join(summary["examples_uri"], "extraction_report.json")) as report_file:
        assert json.load(report_file)["skipped_videos"] == summary["skipped_videos"]


def test_bad_data_root_is_one_clear_line(tmp_path):
    result = run_pipeline_runner("extract", "--data-root", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--weights", "none")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
