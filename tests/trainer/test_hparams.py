"""HParams: defaults, the Keras example overlay, and every bad value refused with the field's name (no Keras needed)."""

import dataclasses
import math

import pytest

from trainer.hparams import DEFAULT_HPARAMS, KERAS_EXAMPLE_HPARAMS, SEED_HPARAMS, SHAPE_FIELDS, HParams, tunable_fields
from typed_config import InvalidOption

SHAPE = {"max_seq_length": 20, "feature_dim": 1024, "appearance_feature_dim": 1024}


def test_defaults_and_overrides():
    hparams = HParams.from_config(SHAPE)
    for key, value in DEFAULT_HPARAMS.items():
        assert getattr(hparams, key) == value
    assert hparams.embed_dim == DEFAULT_HPARAMS["projection_dim"]
    overridden = HParams.from_config(
        {"max_seq_length": 10, "feature_dim": 64, "num_heads": 8, "projection_dim": 0, "frame_streams": "change"}
    )
    assert (overridden.max_seq_length, overridden.num_heads) == (10, 8)
    # No projection: the features and their change streams are used as they are.
    assert overridden.embed_dim == 64 * overridden.num_streams
    assert overridden.dropout == DEFAULT_HPARAMS["dropout"]
    assert isinstance(HParams.from_config({**SHAPE, "dropout": 0}).dropout, float)


def test_keras_example_values_are_one_overlay_of_the_defaults():
    assert set(DEFAULT_HPARAMS) == {field.name for field in tunable_fields()}
    assert SEED_HPARAMS == {**DEFAULT_HPARAMS, **KERAS_EXAMPLE_HPARAMS}
    assert set(KERAS_EXAMPLE_HPARAMS) < set(DEFAULT_HPARAMS)
    seed = HParams.from_config({**SEED_HPARAMS, **SHAPE})
    assert seed.streams == ("appearance",)
    assert (seed.embed_dim, seed.dense_dim, seed.num_heads, seed.num_streams) == (1024, 4, 1, 1)


def test_unknown_and_missing_keys_are_refused():
    with pytest.raises(InvalidOption, match="num_head is not a hyperparameter; the known ones are projection_dim"):
        HParams.from_config({**SHAPE, "num_head": 2})
    with pytest.raises(InvalidOption, match="feature_dim is required"):
        HParams.from_config({"max_seq_length": 20})
    assert set(SHAPE_FIELDS) == set(SHAPE)
    # Configs and models made before the appearance stream could leave features out: it sees them all.
    older = HParams.from_config({"max_seq_length": 20, "feature_dim": 2048, "projection_dim": 0, "frame_streams": "all"})
    assert (older.appearance_features, older.embed_dim) == (2048, 3 * 2048)


def test_the_appearance_stream_may_see_fewer_features_than_the_change_streams():
    hparams = HParams.from_config({"max_seq_length": 20, "feature_dim": 2048, "appearance_feature_dim": 1024, "projection_dim": 0})
    widths = {name: dataclasses.replace(hparams, frame_streams=name).embed_dim for name in ("appearance", "change", "all")}
    assert widths == {"appearance": 1024, "change": 2 * 2048, "all": 1024 + 2 * 2048}


@pytest.mark.parametrize(
    "name, value, requirement",
    [
        # Once accepted, then NaN losses or absurd models.
        ("learning_rate", math.inf, "must be a finite number"),
        ("feature_noise", math.nan, "must be a finite number"),
        ("dropout", "abc", "must be a finite number, got 'abc'"),
        ("batch_size", 100000, "must be at most 4096"),
        ("num_layers", 10000, "must be at most 32"),
        # Types and bounds of every kind.
        ("epochs", 2.5, "must be an integer"),
        ("epochs", True, "must be an integer"),
        ("frame_streams", "motion", "must be one of auto, change, appearance, all"),
        ("frame_streams", True, "must be a string"),
        ("learning_rate", 0.0, "must be at least"),
        ("dropout", 1.5, "must be at most 0.95"),
        ("label_smoothing", 1.0, "must be at most 0.9"),
        ("feature_noise", -0.1, "must be at least 0"),
        ("weight_decay", -1.0, "must be at least 0"),
        ("warmup_epochs", -1, "must be at least 0"),
        ("projection_dim", None, "must be an integer"),
    ],
)
def test_bad_values_are_refused_with_the_field_name(name, value, requirement):
    with pytest.raises(InvalidOption, match=f"^{name} {requirement}") as raised:
        HParams.from_config({**SHAPE, name: value})
    assert raised.value.option == name


def test_frame_streams_name_the_streams_and_auto_is_left_to_the_trainer():
    from trainer.hparams import STREAM_CANDIDATES

    assert DEFAULT_HPARAMS["frame_streams"] == "auto"
    for name, streams in STREAM_CANDIDATES.items():
        hparams = HParams.from_config({**SHAPE, "frame_streams": name})
        assert hparams.streams == streams and hparams.num_streams == len(streams)
    with pytest.raises(ValueError, match="chosen by the Trainer"):
        _ = HParams.from_config(SHAPE).streams


def test_the_tuners_space_comes_from_the_fields_and_every_value_is_valid():
    from trainer.hparams import search_space

    space = search_space()
    assert set(space) == {"projection_dim", "dropout", "learning_rate", "frame_streams"}
    # The Tuner tries each stream configuration itself (the Keras example's among them), in place of `auto`.
    assert space["frame_streams"] == ["change", "appearance", "all"] and KERAS_EXAMPLE_HPARAMS["frame_streams"] in space["frame_streams"]
    for name, values in space.items():
        assert len(values) >= 2 and (DEFAULT_HPARAMS[name] in values or name == "frame_streams")
        for value in values:
            assert getattr(HParams.from_config({**SHAPE, name: value}), name) == value
