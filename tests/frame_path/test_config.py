"""FeatureConfig and the ExtractionConfig that composes it: typed objects with defaults and bounds, and the component spec
derived from them."""

import pytest

from components.video_example_gen.component import VideoExampleGen, VideoExampleGenSpec
from frame_path import backbone
from frame_path.config import FEATURE_SETTINGS, ExtractionConfig, FeatureConfig, resolve_auto_settings, span_feature_mismatch, usable_cores
from typed_config import InvalidOption, field_types


def test_defaults_are_valid_and_round_trip_through_a_mapping():
    config = ExtractionConfig()
    assert (config.features.max_seq_length, config.features.image_size, config.features.sampling) == (20, 128, "uniform")
    assert (config.features.precision, config.frame_batch_size, config.decode_workers) == ("auto", 0, 0)  # chosen per device
    assert ExtractionConfig.from_mapping({**config.as_dict(), "unrelated": 1}) == config
    assert FeatureConfig.from_mapping({**config.as_dict(), "unrelated": 1}) == config.features


def test_the_feature_settings_are_only_what_shapes_the_features():
    """What the machine runs them with, the split and the store stay out of FeatureConfig (so out of models, store
    keys and span checks); the flat settings keep the names every front end offers."""
    assert set(FeatureConfig().as_dict()) == {*FEATURE_SETTINGS, "weights", "random_init_seed"}
    machine_and_place = {"frame_batch_size", "decode_workers", "eval_group_fraction", "feature_store"}
    assert set(ExtractionConfig().as_dict()) == {*FeatureConfig().as_dict(), *machine_and_place}
    assert set(field_types(ExtractionConfig)) == set(ExtractionConfig().as_dict())
    config = ExtractionConfig.of(image_size=64, decode_workers=3)
    assert (config.features, config.decode_workers) == (FeatureConfig(image_size=64), 3)


@pytest.mark.parametrize(
    "values, option, text",
    [
        ({"image_size": 4096}, "image_size", "at most 512"),
        ({"image_size": 16}, "image_size", "at least 32"),
        ({"max_seq_length": 0}, "max_seq_length", "at least 1"),
        ({"frame_batch_size": 100000}, "frame_batch_size", "at most 4096"),
        ({"sampling": "random"}, "sampling", "one of uniform, first"),
        ({"precision": "float16"}, "precision", "one of auto, float32, bfloat16"),
        ({"frame_pooling": "sum"}, "frame_pooling", "one of auto, avg"),
        ({"decode_workers": -1}, "decode_workers", "at least 0"),
        ({"frame_batch_size": -1}, "frame_batch_size", "at least 0"),
        ({"max_seq_length": "20"}, "max_seq_length", "an integer"),
        ({"max_seq_length": True}, "max_seq_length", "an integer"),
        ({"eval_group_fraction": 0.95}, "eval_group_fraction", "at most 0.9"),
    ],
)
def test_bad_values_name_the_setting_and_the_bound(values, option, text):
    with pytest.raises(InvalidOption) as raised:
        ExtractionConfig.of(**values)
    with pytest.raises(InvalidOption):
        ExtractionConfig.from_mapping({**ExtractionConfig().as_dict(), **values})
    assert raised.value.option == option and text in str(raised.value)


def test_a_record_made_before_a_setting_existed_reads_with_the_value_it_was_made_with():
    record = ExtractionConfig.of(image_size=64).as_dict()
    del record["frame_pooling"]  # an extraction report or model_info.json from before frame pooling was a setting
    assert ExtractionConfig.from_mapping(record) == ExtractionConfig.of(image_size=64, frame_pooling="avg")
    assert FeatureConfig.from_mapping(record) == FeatureConfig(image_size=64, frame_pooling="avg")
    del record["sampling"]
    with pytest.raises(KeyError, match="sampling"):
        FeatureConfig.from_mapping(record)


def test_an_integer_is_a_valid_fraction():
    assert ExtractionConfig.of(eval_group_fraction=0).eval_group_fraction == 0.0


def test_component_spec_has_one_typed_parameter_per_field():
    names = set(ExtractionConfig().as_dict())
    assert names <= set(VideoExampleGenSpec.PARAMETERS)
    assert VideoExampleGenSpec.PARAMETERS["image_size"].type is int
    assert VideoExampleGenSpec.PARAMETERS["eval_group_fraction"].type is float
    component = VideoExampleGen(data_root="/data", config=ExtractionConfig.of(image_size=64, precision="bfloat16"))
    assert ExtractionConfig.from_mapping(component.exec_properties) == ExtractionConfig.of(image_size=64, precision="bfloat16")


def test_auto_settings_follow_the_device_and_explicit_values_win():
    on_cpu = resolve_auto_settings(ExtractionConfig(), "cpu", cores=6)
    assert (on_cpu.frame_batch_size, on_cpu.features.precision, on_cpu.decode_workers) == (32, "float32", 6)
    on_gpu = resolve_auto_settings(ExtractionConfig(), "gpu", cores=16)
    assert (on_gpu.frame_batch_size, on_gpu.features.precision, on_gpu.decode_workers) == (1024, "bfloat16", 16)
    # Larger frames, fewer a pass (same pixels), in multiples of 32.
    assert resolve_auto_settings(ExtractionConfig.of(image_size=224), "gpu").frame_batch_size == 320
    assert resolve_auto_settings(ExtractionConfig.of(image_size=512), "tpu").frame_batch_size == 64
    explicit = ExtractionConfig.of(frame_batch_size=64, precision="float32", decode_workers=3, frame_pooling="avg")
    assert resolve_auto_settings(explicit, "gpu") == explicit
    # Resolved here: for this machine's device (a GPU where there is one), workers default to the cores this process may use.
    device = backbone.compute_device()
    expected = resolve_auto_settings(ExtractionConfig(), device, cores=usable_cores())
    assert resolve_auto_settings(ExtractionConfig()) == expected
    assert (expected.features.precision == "float32") == (device == "cpu")


def test_span_feature_mismatch_names_each_differing_setting_and_lets_auto_match_any():
    made = {**ExtractionConfig.of(precision="float32", frame_pooling="max").as_dict(), "weights_id": "imagenet"}
    assert span_feature_mismatch(1, made, 2, {**made, "precision": "auto"}) is None  # resolved per device later
    other = {**made, "image_size": 160, "weights_id": "none(random-init,seed=0)"}
    assert (
        span_feature_mismatch(1, made, 2, other)
        == "span 1 has image_size 128, weights_id 'imagenet', span 2 160, 'none(random-init,seed=0)'"
    )
    older = {name: value for name, value in made.items() if name != "frame_pooling"}  # a span extracted before the setting
    assert span_feature_mismatch(1, older, 2, {**made, "frame_pooling": "avg"}) is None
    assert span_feature_mismatch(1, older, 2, made) == "span 1 has frame_pooling 'avg', span 2 'max'"


@pytest.mark.parametrize(
    "weights, pooling, shape",
    [("none", "max+min", (2048, 1024)), ("imagenet", "avg", (1024, 1024)), ("/models/densenet121_notop.h5", "avg", (1024, 1024))],
)
def test_auto_pooling_follows_the_weights_and_an_explicit_one_stays(weights, pooling, shape):
    """'auto' is the map's mean with pretrained weights (the Keras example's measured choice), its maximum and
    minimum with random ones (this project's measured choice), resolved where the features are made and recorded so.
    The minimum is left out of what the appearance stream sees."""
    assert FeatureConfig().frame_pooling == "auto"
    assert resolve_auto_settings(ExtractionConfig.of(weights=weights), device="cpu", cores=1).features.frame_pooling == pooling
    features = FeatureConfig(weights=weights)
    assert (features.feature_dim, features.shape["appearance_feature_dim"]) == shape
    assert FeatureConfig(frame_pooling="avg+max").shape["appearance_feature_dim"] == 2048
    assert (
        resolve_auto_settings(ExtractionConfig.of(weights=weights, frame_pooling="avg+max"), device="cpu", cores=1).features.frame_pooling
        == "avg+max"
    )
