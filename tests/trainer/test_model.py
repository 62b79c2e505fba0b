"""Tests of trainer/model.py on the real Keras (TensorFlow backend), tiny sizes."""

import ast
import os
import pathlib
import re

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from trainer import model as model_lib  # noqa: E402
from trainer.hparams import SEED_HPARAMS, STREAM_CANDIDATES, HParams  # noqa: E402
from trainer.model import build_model  # noqa: E402

MAX_SEQ_LENGTH = 6
FEATURE_DIM = 8
NUM_CLASSES = 4
MODEL_SOURCE = pathlib.Path(model_lib.__file__)


def tiny_hparams(**overrides) -> HParams:
    config = {
        "max_seq_length": MAX_SEQ_LENGTH,
        "feature_dim": FEATURE_DIM,
        "projection_dim": 16,
        "dense_dim": 32,
        "num_heads": 2,
        "num_layers": 2,  # two blocks, so a leak between blocks would show
        "dropout": 0.1,
        "frame_streams": "change",
    }
    config.update(overrides)
    return HParams.from_config(config)


def random_clips(rng: np.random.Generator, valid_lengths, feature_dim: int = FEATURE_DIM, max_seq_length: int = MAX_SEQ_LENGTH) -> dict:
    """Random features with zero padding after each clip's valid frames."""
    frame_mask = (np.arange(max_seq_length)[None, :] < np.array(valid_lengths)[:, None]).astype("int64")
    frame_features = rng.normal(size=(len(valid_lengths), max_seq_length, feature_dim)).astype("float32")
    frame_features *= frame_mask[..., None]
    return {"frame_features": frame_features, "frame_mask": frame_mask}


def predict(model: keras.Model, clips: dict) -> np.ndarray:
    # Direct call in inference mode: no dropout, no tf.data batching overhead.
    return keras.ops.convert_to_numpy(model(clips, training=False))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def test_output_shape_and_rows_sum_to_one():
    model = build_model(NUM_CLASSES, tiny_hparams())
    clips = random_clips(np.random.default_rng(0), [6, 3, 1, 0])

    probabilities = predict(model, clips)

    assert probabilities.shape == (4, NUM_CLASSES)
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert model.output_names == ["probabilities"]


def test_padded_frame_content_does_not_change_the_output():
    model = build_model(NUM_CLASSES, tiny_hparams())
    rng = np.random.default_rng(1)
    clips = random_clips(rng, [6, 4, 2, 1, 0])
    padded = clips["frame_mask"] == 0
    noisy_clips = dict(clips)
    noisy_clips["frame_features"] = np.where(
        padded[..., None],
        rng.uniform(-1e4, 1e4, size=clips["frame_features"].shape),
        clips["frame_features"],
    ).astype("float32")

    np.testing.assert_allclose(predict(model, noisy_clips), predict(model, clips), rtol=1e-5, atol=1e-6)

    # Even non-finite padding must not reach the output.
    broken_clips = dict(clips)
    broken_clips["frame_features"] = np.where(padded[..., None], np.float32(np.nan), clips["frame_features"]).astype("float32")
    broken_clips["frame_features"][1, -1, 0] = np.inf
    np.testing.assert_allclose(predict(model, broken_clips), predict(model, clips), rtol=1e-5, atol=1e-6)


def test_padded_clip_matches_the_same_clip_without_padding():
    # The content test above cannot see leaks through attention or pooling
    # (padding is zeroed first). Here the reference has no padding at all: a
    # model with room for exactly the valid frames and the same weights
    # (position embeddings 0..valid_length-1 copied over).
    valid_length = 4
    hparams = tiny_hparams()
    padded_model = build_model(NUM_CLASSES, hparams)
    exact_model = build_model(NUM_CLASSES, HParams.from_config({**vars(hparams), "max_seq_length": valid_length}))
    for source, target in zip(padded_model.weights, exact_model.weights):
        value = keras.ops.convert_to_numpy(source)
        target.assign(value[:valid_length] if "position_embeddings" in source.path else value)
    padded_clips = random_clips(np.random.default_rng(8), [valid_length] * 3)
    exact_clips = {key: value[:, :valid_length] for key, value in padded_clips.items()}

    np.testing.assert_allclose(predict(padded_model, padded_clips), predict(exact_model, exact_clips), rtol=1e-5, atol=1e-6)


def test_frame_mask_may_be_int_bool_or_float():
    model = build_model(NUM_CLASSES, tiny_hparams())
    clips = random_clips(np.random.default_rng(2), [6, 3, 0])
    expected = predict(model, clips)

    for dtype in ("bool", "float32", "int32"):
        clips_with_dtype = dict(clips, frame_mask=clips["frame_mask"].astype(dtype))
        np.testing.assert_allclose(predict(model, clips_with_dtype), expected, rtol=1e-6, atol=1e-7)


def test_reversing_valid_frames_changes_the_output():
    model = build_model(NUM_CLASSES, tiny_hparams(num_layers=1))
    clips = random_clips(np.random.default_rng(3), [5, 5])
    reversed_clips = dict(clips)
    reversed_clips["frame_features"] = clips["frame_features"].copy()
    reversed_clips["frame_features"][:, :5] = clips["frame_features"][:, 4::-1]

    original = predict(model, clips)
    reversed_order = predict(model, reversed_clips)

    # Without the position embedding, the encoder + mean would be order-blind.
    assert np.abs(original - reversed_order).max() > 1e-4


def test_model_overfits_a_small_batch():
    hparams = tiny_hparams(dropout=0.0, learning_rate=3e-3)
    model = build_model(NUM_CLASSES, hparams)
    rng = np.random.default_rng(4)
    clips = random_clips(rng, rng.integers(1, MAX_SEQ_LENGTH + 1, size=16))
    labels = np.arange(16) % NUM_CLASSES

    model.fit(clips, labels, batch_size=16, epochs=60, verbose=0)
    _, accuracy = model.evaluate(clips, labels, verbose=0)

    assert accuracy == 1.0


def test_seed_hyperparameters_build_with_1024_features():
    hparams = HParams.from_config({**SEED_HPARAMS, "max_seq_length": 20, "feature_dim": 1024})
    model = build_model(5, hparams)

    assert hparams.embed_dim == 1024
    layer_names = [layer.name for layer in model.layers]
    assert "frame_projection" not in layer_names
    encoders = [layer for layer in model.layers if isinstance(layer, model_lib.TransformerEncoder)]
    assert [(e.embed_dim, e.dense_dim, e.num_heads) for e in encoders] == [(1024, 4, 1)]
    clips = random_clips(np.random.default_rng(5), [20, 7], feature_dim=1024, max_seq_length=20)
    assert predict(model, clips).shape == (2, 5)


def test_keras_file_round_trip_gives_same_predictions(tmp_path):
    model = build_model(NUM_CLASSES, tiny_hparams())
    clips = random_clips(np.random.default_rng(6), [6, 2, 0])
    # One training step so the optimizer state is saved as well.
    model.fit(clips, np.array([0, 1, 2]), epochs=1, verbose=0)
    path = tmp_path / "video_transformer.keras"

    model.save(path)
    loaded = keras.models.load_model(path)

    np.testing.assert_allclose(predict(loaded, clips), predict(model, clips), rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TF SavedModel export")
def test_traces_with_unknown_batch_size_for_saved_model(tmp_path):
    import tensorflow as tf

    model = build_model(NUM_CLASSES, tiny_hparams())
    clips = random_clips(np.random.default_rng(7), [6, 3, 0])
    serve = tf.function(
        lambda features: model(features, training=False),
        input_signature=[
            {
                "frame_features": tf.TensorSpec([None, MAX_SEQ_LENGTH, FEATURE_DIM], tf.float32),
                "frame_mask": tf.TensorSpec([None, MAX_SEQ_LENGTH], tf.int64),
            }
        ],
    )
    module = tf.Module()
    module.model = model
    module.serve = serve
    tf.saved_model.save(module, str(tmp_path / "saved_model"))
    restored = tf.saved_model.load(str(tmp_path / "saved_model"))

    for batch in (clips, {key: value[:1] for key, value in clips.items()}):
        np.testing.assert_allclose(restored.serve(batch).numpy(), predict(model, batch), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "source_path", [MODEL_SOURCE, MODEL_SOURCE.parent / "hparams.py", MODEL_SOURCE.parent.parent / "typed_config" / "__init__.py"]
)
def test_model_module_is_backend_agnostic(source_path):
    source = source_path.read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported <= {"__future__", "collections.abc", "dataclasses", "math", "typing", "keras", "trainer.hparams", "typed_config"}, (
        imported
    )
    assert not re.search(r"\btf\.|tensorflow|tfx|\bpipeline\.", source)


# --- change streams -------------------------------------------------------------------------------


def test_next_frame_differences_never_come_from_padding():
    frame_features = np.arange(1, 6, dtype="float32")[None, :, None] ** 2  # 1, 4, 9, 16, 25
    frame_features[0, 3:] = [[np.inf], [np.nan]]  # padding may hold anything
    frame_mask = np.array([[1, 1, 1, 0, 0]])

    differences = keras.ops.convert_to_numpy(model_lib.next_frame_differences(frame_features, frame_mask))

    # 4-1, 9-4, then nothing: the last valid frame has no successor, padding stays zero.
    np.testing.assert_array_equal(differences[0, :, 0], [3.0, 5.0, 0.0, 0.0, 0.0])


def test_frame_streams_cancel_the_scene_offset_in_centred_and_motion_streams():
    clips = random_clips(np.random.default_rng(8), [6, 4, 1])
    scene = np.random.default_rng(9).normal(size=(3, 1, FEATURE_DIM)).astype("float32")
    shifted = dict(clips)
    shifted["frame_features"] = (clips["frame_features"] + scene) * clips["frame_mask"][..., None]
    layer = model_lib.FrameStreams(clip_centering=True, motion_stream=True)

    streams = keras.ops.convert_to_numpy(layer(clips["frame_features"], clips["frame_mask"]))
    shifted_streams = keras.ops.convert_to_numpy(layer(shifted["frame_features"], shifted["frame_mask"]))

    assert streams.shape == (3, MAX_SEQ_LENGTH, 3 * FEATURE_DIM)
    # Appearance moves with the scene; the centred frames and the differences do not.
    assert not np.allclose(streams[..., :FEATURE_DIM], shifted_streams[..., :FEATURE_DIM])
    np.testing.assert_allclose(streams[..., FEATURE_DIM:], shifted_streams[..., FEATURE_DIM:], atol=1e-5)
    padded = clips["frame_mask"] == 0
    assert np.all(streams[padded] == 0.0)


@pytest.mark.parametrize("frame_streams", list(STREAM_CANDIDATES))
def test_the_appearance_stream_sees_only_its_leading_features_and_the_model_saves_so(frame_streams, tmp_path):
    """With the map's maximum and minimum (frame_path/backbone.py's appearance_feature_dim), the minimum reaches the
    change streams only: changing it changes no appearance output, and a saved model keeps that split."""
    clips = random_clips(np.random.default_rng(11), [6, 3])
    layer = model_lib.FrameStreams(clip_centering=True, motion_stream=True, appearance_features=FEATURE_DIM // 2)
    other_minimum = dict(clips)
    other_minimum["frame_features"] = clips["frame_features"].copy()
    other_minimum["frame_features"][..., FEATURE_DIM // 2 :] *= 3.0
    streams, changed = (keras.ops.convert_to_numpy(layer(c["frame_features"], c["frame_mask"])) for c in (clips, other_minimum))
    assert streams.shape == (2, MAX_SEQ_LENGTH, FEATURE_DIM // 2 + 2 * FEATURE_DIM)
    np.testing.assert_array_equal(streams[..., : FEATURE_DIM // 2], changed[..., : FEATURE_DIM // 2])
    assert not np.allclose(streams[..., FEATURE_DIM // 2 :], changed[..., FEATURE_DIM // 2 :])

    model = build_model(NUM_CLASSES, tiny_hparams(frame_streams=frame_streams, appearance_feature_dim=FEATURE_DIM // 2, projection_dim=0))
    seen = model.get_layer("frame_streams").compute_output_spec(clips["frame_features"], clips["frame_mask"]).shape[-1]
    assert (
        seen
        == model.get_layer("frame_position_embedding").output_dim
        == tiny_hparams(frame_streams=frame_streams, appearance_feature_dim=FEATURE_DIM // 2, projection_dim=0).embed_dim
    )
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    assert loaded.get_layer("frame_streams").appearance_features == FEATURE_DIM // 2
    np.testing.assert_allclose(predict(loaded, clips), predict(model, clips), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("frame_streams", list(STREAM_CANDIDATES))
def test_padding_invariance_holds_for_every_stream_choice(frame_streams):
    model = build_model(NUM_CLASSES, tiny_hparams(frame_streams=frame_streams, feature_noise=0.5))
    rng = np.random.default_rng(10)
    clips = random_clips(rng, [6, 4, 2, 1, 0])
    noisy_clips = dict(clips)
    noisy_clips["frame_features"] = np.where(
        clips["frame_mask"][..., None] == 0, rng.uniform(-1e4, 1e4, size=clips["frame_features"].shape), clips["frame_features"]
    ).astype("float32")

    np.testing.assert_allclose(predict(model, noisy_clips), predict(model, clips), rtol=1e-5, atol=1e-6)


def test_every_new_option_switches_off():
    hparams = HParams.from_config({**SEED_HPARAMS, "max_seq_length": 20, "feature_dim": 1024})
    model = build_model(5, hparams)

    layer_names = [layer.name for layer in model.layers]
    assert "frame_streams" not in layer_names and "feature_noise" not in layer_names
    assert isinstance(model.optimizer, keras.optimizers.Adam) and not isinstance(model.optimizer, keras.optimizers.AdamW)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    assert hparams.embed_dim == 1024


def test_regularisation_options_reach_the_compiled_model():
    model = build_model(NUM_CLASSES, tiny_hparams(weight_decay=0.05, label_smoothing=0.1, feature_noise=0.3))

    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(0.05)
    assert "feature_noise" in [layer.name for layer in model.layers]
    labels = np.array([0, 2])
    probabilities = np.array([[0.7, 0.1, 0.1, 0.1], [0.2, 0.2, 0.5, 0.1]], dtype="float32")
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(NUM_CLASSES)[labels], probabilities)
    np.testing.assert_allclose(float(model.loss(labels, probabilities)), float(expected), rtol=1e-6)


def test_temporal_crops_resample_a_stretch_of_each_clip_in_training_only():
    lengths = [6, 4, 1, 0]
    frame_mask = (np.arange(MAX_SEQ_LENGTH)[None, :] < np.array(lengths)[:, None]).astype("int64")
    # Each feature is the frame's index: a resampled stretch is an increasing run of indices within the clip.
    frame_features = np.repeat((np.arange(MAX_SEQ_LENGTH, dtype="float32")[None, :, None] * frame_mask[..., None]), FEATURE_DIM, axis=2)
    layer = model_lib.TemporalCrops(1.0, 0.3, seed=3)

    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(frame_features, frame_mask, training=False)), frame_features)
    cropped = keras.ops.convert_to_numpy(layer(frame_features, frame_mask, training=True))
    assert not np.allclose(cropped, frame_features)
    for clip, length in enumerate(lengths):
        values = cropped[clip, :, 0]
        assert np.all(values[length:] == 0)  # padding stays zero, the mask is unchanged
        if length == 0:
            continue
        assert np.all(np.diff(values[:length]) >= 0) and 0 <= values[:length].min() and values[:length].max() <= length - 1
        if length > 1:  # a stretch of at least 30% of the clip, at most all of it
            assert 0.3 * (length - 1) - 1e-5 <= values[length - 1] - values[0] <= length - 1 + 1e-5
    np.testing.assert_allclose(cropped[:, :, 0:1].repeat(FEATURE_DIM, axis=2), cropped)  # every feature moved alike


def test_temporal_crops_are_off_unless_asked_and_reach_the_model():
    assert "temporal_crops" not in [layer.name for layer in build_model(NUM_CLASSES, tiny_hparams(temporal_crops=0.0)).layers]
    model = build_model(NUM_CLASSES, tiny_hparams(temporal_crops=0.5))
    assert "temporal_crops" in [layer.name for layer in model.layers]
    clips = random_clips(np.random.default_rng(8), [6, 3, 1])
    model.fit(clips, np.array([0, 1, 2]), epochs=1, verbose=0)
    np.testing.assert_allclose(predict(model, clips), predict(model, clips))  # no randomness at inference


def test_change_anchored_crops_start_and_stop_inside_the_action():
    """crop_anchor=change: every crop lies within the frames where the clip changes; still frames around it are cut away."""
    length = 12
    # Still at 0 for frames 0-3, rising 0 -> 1 over frames 4-8 (the action), still at 1 for frames 9-11; one short clip.
    ramp = np.concatenate([np.zeros(4), np.linspace(0.0, 1.0, 5), np.ones(3)]).astype("float32")
    frame_features = np.zeros((16, length + 2, FEATURE_DIM), dtype="float32")  # two padded frames
    frame_features[:, :length] = ramp[None, :, None]
    frame_mask = np.zeros((16, length + 2), dtype="int64")
    frame_mask[:, :length] = 1
    frame_mask[-1, 1:] = 0  # one frame: nothing to crop
    frame_features[-1, 1:] = 0
    layer = model_lib.TemporalCrops(1.0, 0.3, seed=5, anchor="change")

    cropped = keras.ops.convert_to_numpy(layer(frame_features, frame_mask, training=True))[..., 0]
    for clip in cropped[:-1]:
        values = clip[:length]
        assert np.all(np.diff(values) >= -1e-6) and np.all(clip[length:] == 0)
        assert values[-1] - values[0] >= 0.3 - 1e-4  # at least 30% of the change
        # At most one resampled step at each end is still: the crop starts and stops where the action runs.
        assert np.sum(np.diff(values) < 1e-6) <= 2, values
    np.testing.assert_array_equal(cropped[-1], frame_features[-1, :, 0])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(frame_features, frame_mask, training=False))[..., 0], frame_features[..., 0]
    )
    with pytest.raises(ValueError):
        model_lib.TemporalCrops(1.0, 0.3, anchor="middle")


def test_averaged_classifiers_weigh_their_members_probabilities_and_save_as_one_graph(tmp_path):
    """The Trainer's export of several candidates: one model, the weighted mean of the members' probabilities,
    every member's variables in the SavedModel, the same answers after loading."""
    import tensorflow as tf

    change, everything = build_model(NUM_CLASSES, tiny_hparams()), build_model(NUM_CLASSES, tiny_hparams(frame_streams="all"))
    averaged = model_lib.AveragedClassifiers([change, everything], [1.0, 3.0])  # weights are normalised
    clips = random_clips(np.random.default_rng(2), [6, 3, 1])
    expected = 0.25 * predict(change, clips) + 0.75 * predict(everything, clips)
    np.testing.assert_allclose(predict(averaged, clips), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict(averaged, clips).sum(axis=1), 1.0, rtol=1e-5)
    assert len(averaged.trainable_variables) == len(change.trainable_variables) + len(everything.trainable_variables)

    module = tf.Module()
    module.classifier = averaged

    @tf.function(
        input_signature=[tf.TensorSpec([None, MAX_SEQ_LENGTH, FEATURE_DIM], tf.float32), tf.TensorSpec([None, MAX_SEQ_LENGTH], tf.int64)]
    )
    def serve(frame_features, frame_mask):
        return {"probabilities": module.classifier({"frame_features": frame_features, "frame_mask": frame_mask}, training=False)}

    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": serve})
    loaded = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    outputs = loaded(frame_features=tf.constant(clips["frame_features"]), frame_mask=tf.constant(clips["frame_mask"]))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("weights", [[], [1.0], [-1.0, 2.0], [0.0, 0.0]])
def test_averaged_classifiers_refuse_weights_that_do_not_fit(weights):
    members = [build_model(NUM_CLASSES, tiny_hparams()), build_model(NUM_CLASSES, tiny_hparams())]
    with pytest.raises(ValueError, match="weight"):
        model_lib.AveragedClassifiers(members, weights)
