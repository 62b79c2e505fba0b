"""What the benchmarks hold of the pipeline agrees with the pipeline: model_quality's z-score and its configurations."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from benchmarks import model_quality
from frame_path.config import FeatureConfig
from frame_path.records import FRAME_FEATURES_KEY, FRAME_MASK_KEY, LABEL_KEY
from trainer import preprocessing
from trainer.hparams import HParams

MAX_SEQ_LENGTH, FEATURE_DIM = 4, 2


def _transformed_by_transform(features, masks, labels, temp_dir):
    """trainer/preprocessing.py's preprocessing_fn run by tf.Transform (analysis and transform) on these clips."""
    feature_spec = {
        FRAME_FEATURES_KEY: tf.io.FixedLenFeature([MAX_SEQ_LENGTH * FEATURE_DIM], tf.float32),
        FRAME_MASK_KEY: tf.io.FixedLenFeature([MAX_SEQ_LENGTH], tf.int64),
        LABEL_KEY: tf.io.FixedLenFeature([], tf.string),
    }
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(feature_spec))
    instances = [
        {FRAME_FEATURES_KEY: clip.reshape(-1), FRAME_MASK_KEY: mask, LABEL_KEY: label.encode()}
        for clip, mask, label in zip(features, masks, labels)
    ]
    shape = {"max_seq_length": MAX_SEQ_LENGTH, "feature_dim": FEATURE_DIM}
    with tft_beam.Context(temp_dir=temp_dir, force_tf_compat_v1=False):
        (transformed, _), _ = (instances, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing.preprocessing_fn(inputs, shape)
        )
    # Output order is Beam's: every clip here has its own number of real frames.
    by_length = {int(np.sum(row[FRAME_MASK_KEY])): np.asarray(row[FRAME_FEATURES_KEY]) for row in transformed}
    return np.stack([by_length[int(np.sum(mask))] for mask in masks])


def test_model_quality_z_scores_the_features_as_transform_does(tmp_path):
    rng = np.random.default_rng(0)
    # Uneven scales per dimension, one as small as frozen-backbone features have: there the variance epsilon counts.
    features = rng.normal([5.0, 0.0], [3.0, 1e-3], (4, MAX_SEQ_LENGTH, FEATURE_DIM)).astype(np.float32)
    masks = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=np.int64)
    features[masks == 0] = 0.0
    labels = np.array(["a", "b", "a", "b"])

    expected = _transformed_by_transform(features, masks, labels, str(tmp_path))
    split = {FRAME_FEATURES_KEY: features, FRAME_MASK_KEY: masks, LABEL_KEY: labels}
    normalized = model_quality.normalize({"train": split})["train"][FRAME_FEATURES_KEY]

    np.testing.assert_allclose(normalized, expected, rtol=1e-4, atol=1e-4)
    assert np.all(normalized[masks == 0] == 0.0)
    assert np.abs(normalized[masks == 1]).max() > 0.5  # not all squashed to zero by the epsilon


@pytest.mark.parametrize("name", sorted(model_quality.CONFIGURATIONS))
def test_model_quality_configurations_are_settings_the_pipeline_takes(name):
    """An overlay that names a renamed or removed hyperparameter, or extraction settings that are gone, fails here."""
    features, hparams = model_quality.CONFIGURATIONS[name]
    HParams.from_config({**hparams, "max_seq_length": MAX_SEQ_LENGTH, "feature_dim": FEATURE_DIM})
    FeatureConfig(**features._asdict())


def test_model_quality_kfold_selection_holds_out_whole_groups_and_sees_what_is_in_view():
    """Classes told apart by a constant look (what the change streams cancel): K-fold must not choose `change`."""
    rng = np.random.default_rng(0)
    looks = rng.normal(0.0, 1.0, (2, FEATURE_DIM * 4)).astype(np.float32)
    features, video_ids, labels = [], [], []
    for group in range(8, 12):
        for class_index, label in enumerate(("Bar", "Disc")):
            for clip in range(2):
                noise = rng.normal(0.0, 0.1, (MAX_SEQ_LENGTH, FEATURE_DIM * 4)).astype(np.float32)
                features.append(looks[class_index] + noise)
                video_ids.append(f"train/v_{label}_g{group:02d}_c{clip + 1:02d}.avi")
                labels.append(label)
    train = {
        FRAME_FEATURES_KEY: np.stack(features),
        FRAME_MASK_KEY: np.ones((len(features), MAX_SEQ_LENGTH), dtype=np.int64),
        LABEL_KEY: np.array(labels),
        model_quality.VIDEO_ID_KEY: np.array(video_ids),
    }
    hparams = HParams.from_config(
        {"max_seq_length": MAX_SEQ_LENGTH, "feature_dim": FEATURE_DIM * 4, "epochs": 8, "warmup_epochs": 0, "batch_size": 16}
    )
    selection = model_quality.kfold_selection(train, hparams, ["Bar", "Disc"], seed=0, folds=2)
    assert selection["folds"] == 2 and set(selection["candidates"]) == {"change", "appearance", "all"}
    assert selection["chosen"] != "change"
    assert selection["candidates"]["change"]["accuracy"] < selection["candidates"][selection["chosen"]]["accuracy"]


def test_crop_probe_scores_each_crop_on_the_unseen_test_groups(tmp_path):
    """benchmarks/crop_probe.py on a tiny appearance benchmark: every clip encoded, each crop and pooling scored on test groups."""
    from benchmarks import crop_probe
    from video_datasets import appearance_benchmark
    from video_datasets.hard_benchmark import BenchmarkConfig

    tiny = BenchmarkConfig(seed=2, train_groups=2, test_groups=1, train_clips_per_group=1, test_clips_per_group=1, corrupt_files=False)
    data_root = appearance_benchmark.generate_appearance_benchmark(str(tmp_path / "appearance"), tiny)
    result = crop_probe.probe(data_root, centre_fraction=0.5)
    classes = len(appearance_benchmark.CLASSES)
    assert result["clips"] == {"train": 2 * classes, "test": classes}
    assert set(result["test_accuracy"]) == {f"{crop}_{pooling}" for crop in ("whole", "centre", "both") for pooling in ("avg", "max")}
    for accuracy in result["test_accuracy"].values():
        assert len(accuracy) == len(crop_probe.INVERSE_REGULARISATION)
        assert all(value * classes == pytest.approx(round(value * classes), abs=0.02) for value in accuracy.values())  # whole clips right


def test_model_quality_cuts_the_eval_split_taking_classes_in_turn():
    evaluation = {
        "video_id": np.array(["v_B_g02", "v_A_g01", "v_A_g02", "v_B_g01", "v_C_g01", "v_C_g02", "v_A_g03"]),
        LABEL_KEY: np.array(["B", "A", "A", "B", "C", "C", "A"]),
        FRAME_MASK_KEY: np.arange(7),
    }
    train = {LABEL_KEY: np.array(["A"])}
    cut = model_quality.smaller_eval_split({"train": train, "eval": evaluation}, 4)
    assert sorted(cut["eval"]["video_id"]) == ["v_A_g01", "v_A_g02", "v_B_g01", "v_C_g01"]
    assert cut["train"] is train
    assert len(model_quality.smaller_eval_split({"eval": evaluation}, 50)["eval"][LABEL_KEY]) == 7


def test_model_quality_scores_held_out_sets_of_other_scenes_and_windows_cut_at_actions():
    from video_datasets import hard_benchmark

    assert {"aligned", "heldout_test", "heldout_whole", "heldout_aligned"} <= set(model_quality.EVALUATED_SPLITS)
    for config in model_quality.HELDOUT_SETS.values():
        assert config.seed != hard_benchmark.BenchmarkConfig().seed
    assert model_quality.SEQUENCE_SETS["aligned"].windows == "aligned"
    held_out = model_quality.SEQUENCE_SETS["heldout_aligned"]
    assert (
        held_out.seed != 0
        and held_out.easing != "smoothstep"
        and held_out.frames_per_action != model_quality.SEQUENCE_SETS["aligned"].frames_per_action
    )


def test_flink_extract_counts_overlapping_worker_starts_once_and_within_the_job(tmp_path):
    from benchmarks import flink_extract

    (tmp_path / "11.txt").write_text("pipeline.beam_plugin 5000 1000\ncomponents.video_example_gen.executor\n")
    # A pid used again appends its second worker to the same file.
    (tmp_path / "12.txt").write_text("pipeline.beam_plugin 6000 2000\npipeline.beam_plugin 20000 15000\n")
    starts = flink_extract._worker_starts_ms(str(tmp_path))
    assert starts == {("11.txt", 1000, 5000), ("12.txt", 2000, 6000), ("12.txt", 15000, 20000)}
    intervals = [(started, loaded) for _, started, loaded in starts]
    # 1000-6000 (the pair overlaps) and 15000-20000; before the job's start at 1500 and after its end at 18000 not counted.
    assert flink_extract._union_seconds(intervals, 0, 30000) == 10.0
    assert flink_extract._union_seconds(intervals, 1500, 18000) == 7.5


def test_model_quality_holds_out_other_scenes_of_the_appearance_and_mixed_sets():
    from video_datasets import appearance_benchmark

    assert set(model_quality.HELDOUT_GENERATORS) == {"appearance", "mixed"} and not set(model_quality.HELDOUT_GENERATORS) & {"hard"}
    held_out, tuned = appearance_benchmark.HELDOUT, appearance_benchmark.CONFIG
    assert held_out.seed != tuned.seed and held_out.num_frames_range != tuned.num_frames_range
    assert held_out.test_groups * held_out.test_clips_per_group >= 12  # a held-out test clip a class is worth 1/12 or less
