"""ExtractionConfig: one typed object with defaults and bounds, and the component spec derived from it."""
import dataclasses

import pytest

from components.video_example_gen.component import VideoExampleGen, VideoExampleGenSpec
from frame_path.config import ExtractionConfig, InvalidOption


def test_defaults_are_valid_and_round_trip_through_a_mapping():
    config = ExtractionConfig()
    assert (config.max_seq_length, config.image_size, config.sampling, config.precision) == (20, 128, "uniform", "float32")
    assert ExtractionConfig.from_mapping({**config.as_dict(), "unrelated": 1}) == config


@pytest.mark.parametrize(
    "values, option, text",
    [
        ({"image_size": 4096}, "image_size", "at most 512"),
        ({"image_size": 16}, "image_size", "at least 32"),
        ({"max_seq_length": 0}, "max_seq_length", "at least 1"),
        ({"frame_batch_size": 100000}, "frame_batch_size", "at most 4096"),
        ({"sampling": "random"}, "sampling", "one of uniform, first"),
        ({"precision": "float16"}, "precision", "one of float32, bfloat16"),
        ({"max_seq_length": "20"}, "max_seq_length", "an integer"),
        ({"max_seq_length": True}, "max_seq_length", "an integer"),
        ({"eval_group_fraction": 0.95}, "eval_group_fraction", "at most 0.9"),
    ],
)
def test_bad_values_name_the_setting_and_the_bound(values, option, text):
    with pytest.raises(InvalidOption) as raised:
        ExtractionConfig(**values)
    assert raised.value.option == option and text in str(raised.value)


def test_an_integer_is_a_valid_fraction():
    assert ExtractionConfig(eval_group_fraction=0).eval_group_fraction == 0.0


def test_component_spec_has_one_typed_parameter_per_field():
    names = {field.name for field in dataclasses.fields(ExtractionConfig)}
    assert names <= set(VideoExampleGenSpec.PARAMETERS)
    assert VideoExampleGenSpec.PARAMETERS["image_size"].type is int
    assert VideoExampleGenSpec.PARAMETERS["eval_group_fraction"].type is float
    component = VideoExampleGen(data_root="/data", config=ExtractionConfig(image_size=64, precision="bfloat16"))
    assert ExtractionConfig.from_mapping(component.exec_properties) == ExtractionConfig(image_size=64, precision="bfloat16")
