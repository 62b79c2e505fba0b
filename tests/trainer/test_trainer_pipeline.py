"""Transform + Trainer for real (LocalDagRunner) on demo Examples; the exported model is checked."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx import v1 as tfx

from frame_path.config import ExtractionConfig, FeatureConfig
from pipeline.configs import PipelineConfig
from pipeline.pipeline import create_pipeline
from tests.conftest import ONE_STREAM_HPARAMS
from trainer.model_files import MODEL_INFO_FILE
from video_datasets import demo

pytestmark = pytest.mark.e2e  # whole-pipeline runs

# The demo's own settings: at smaller sizes random-init features carry too
# little of the frame order for the demo classes to be learnt.
EXTRACTION = ExtractionConfig.of(weights="none")
MAX_SEQ_LENGTH = EXTRACTION.features.max_seq_length
IMAGE_SIZE = EXTRACTION.features.image_size


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_dataset):
    work_dir = tmp_path_factory.mktemp("trainer")
    data_root = demo_dataset()
    tfx.orchestration.LocalDagRunner().run(
        create_pipeline(
            PipelineConfig(data_root=data_root, extraction=EXTRACTION, hparams=ONE_STREAM_HPARAMS),
            pipeline_name="trainer-test",
            pipeline_root=str(work_dir / "root"),
            last_component="Trainer",
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(str(work_dir / "metadata.sqlite")),
        )
    )
    [serving_model_dir] = glob.glob(str(work_dir / "root" / "Trainer" / "model" / "*" / "Format-Serving"))
    [examples_dir] = glob.glob(str(work_dir / "root" / "VideoExampleGen" / "examples" / "*"))
    return serving_model_dir, examples_dir


def _serialized_examples(examples_dir, split):
    files = glob.glob(os.path.join(examples_dir, f"Split-{split}", "*.gz"))
    return [record.numpy() for record in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _label(serialized):
    return tf.train.Example.FromString(serialized).features.feature["label"].bytes_list.value[0].decode()


def test_serving_default_predicts_label_strings_well_above_chance(trained):
    serving_model_dir, examples_dir = trained
    serve = tf.saved_model.load(serving_model_dir).signatures["serving_default"]
    eval_examples = _serialized_examples(examples_dir, "eval")
    outputs = serve(examples=tf.constant(eval_examples))
    probabilities, classes = outputs["probabilities"].numpy(), outputs["classes"].numpy()
    assert probabilities.shape == (len(eval_examples), len(demo.DEMO_CLASSES))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert {label.decode() for label in classes[0]} == set(demo.DEMO_CLASSES)
    predicted = [row[index].decode() for row, index in zip(classes, probabilities.argmax(axis=1))]
    accuracy = np.mean([label == _label(example) for label, example in zip(predicted, eval_examples)])
    chance = 1 / len(demo.DEMO_CLASSES)
    assert accuracy >= 2 * chance, f"eval accuracy {accuracy:.2f} is not clearly above chance {chance:.2f}"


def test_transform_features_signature_encodes_labels_for_the_evaluator(trained):
    serving_model_dir, examples_dir = trained
    transform = tf.saved_model.load(serving_model_dir).signatures["transform_features"]
    test_examples = _serialized_examples(examples_dir, "test")
    transformed = transform(examples=tf.constant(test_examples))
    assert transformed["frame_features"].shape == (len(test_examples), MAX_SEQ_LENGTH, FeatureConfig(weights="none").feature_dim)
    label_ids = transformed["label_id"].numpy()
    assert set(label_ids.tolist()) <= set(range(len(demo.DEMO_CLASSES)))
    # Same label string -> same id.
    ids_by_label = {}
    for label_id, example in zip(label_ids, test_examples):
        assert ids_by_label.setdefault(_label(example), label_id) == label_id


def test_export_records_the_backbone_weights_and_labels(trained):
    serving_model_dir, _ = trained
    with open(os.path.join(serving_model_dir, MODEL_INFO_FILE)) as info_file:
        model_info = json.load(info_file)
    assert model_info["backbone_weights_id"] == "none(random-init,seed=0)"
    assert sorted(model_info["labels"]) == sorted(demo.DEMO_CLASSES)
    features = FeatureConfig.from_mapping(model_info["features"])  # the whole feature config, as the features were made
    assert (features.max_seq_length, features.image_size, features.weights) == (MAX_SEQ_LENGTH, IMAGE_SIZE, "none")
    assert features.precision != "auto" and features.frame_pooling != "auto"  # resolved
    assert set(model_info["features"]) == set(FeatureConfig().as_dict())  # nothing of the training machine
