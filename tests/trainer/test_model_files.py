"""model_info.json: what shapes the features and nothing of the training machine; older records still read."""

import pytest

from frame_path.config import SETTINGS_ADDED_LATER, ExtractionConfig, FeatureConfig
from trainer.model_files import ModelInfo

FEATURES = FeatureConfig(max_seq_length=8, image_size=32, weights="none", precision="float32", frame_pooling="max")
INFO = ModelInfo(["Grow", "Shrink"], FEATURES, "none(random-init,seed=0)", {"epochs": 2})


def test_model_info_records_the_features_only():
    record = INFO.as_dict()
    assert record["features"] == FEATURES.as_dict()
    assert not {"frame_batch_size", "decode_workers", "eval_group_fraction", "feature_store"} & set(record["features"])
    assert ModelInfo.from_dict(record) == INFO


def test_an_older_model_info_with_the_whole_extraction_config_reads_as_its_features():
    """Before FeatureConfig, model_info.json kept the training machine's settings beside the features, under
    "extraction"; and models from before frame pooling was a setting lack it (SETTINGS_ADDED_LATER)."""
    machine = ExtractionConfig(features=FEATURES, frame_batch_size=32, decode_workers=2, feature_store="/training/store")
    older = {name: value for name, value in INFO.as_dict().items() if name != "features"}
    older["extraction"] = machine.as_dict()
    assert ModelInfo.from_dict(older) == INFO
    del older["extraction"]["frame_pooling"]
    assert ModelInfo.from_dict(older).features.frame_pooling == SETTINGS_ADDED_LATER["frame_pooling"]


@pytest.mark.parametrize(
    "damage, message",
    [({"image_size": "x"}, "unusable feature setting: image_size"), ({"sampling": None}, "lacks the feature setting sampling")],
)
def test_a_damaged_feature_record_names_the_setting(damage, message):
    features = {name: value for name, value in {**FEATURES.as_dict(), **damage}.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        ModelInfo.from_dict({**INFO.as_dict(), "features": features})


def test_the_models_own_record_names_the_same_settings_as_before():
    """The SavedModel's feature_record is compared by name with model_info.json by models already pushed: its names stay."""
    import json

    recorded = json.loads(INFO.feature_record())
    assert set(recorded) == {"max_seq_length", "image_size", "sampling", "precision", "frame_pooling", "backbone_weights_id", "labels"}
    assert INFO.record_mismatch(INFO.feature_record()) is None
