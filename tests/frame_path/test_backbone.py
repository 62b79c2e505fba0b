"""The DenseNet121 frame encoder, with random weights (no download here)."""

import keras
import numpy as np
import pytest

from frame_path import backbone, errors


def test_preprocessing_matches_densenet_preprocess_input():
    encoder = backbone.build_backbone("none", 32, seed=0)
    preprocessing = encoder.get_layer("densenet_preprocessing")
    frames = np.random.RandomState(0).randint(0, 256, (2, 32, 32, 3)).astype(np.float32)
    expected = keras.applications.densenet.preprocess_input(frames.copy())
    np.testing.assert_allclose(np.asarray(preprocessing(frames)), expected, rtol=1e-5, atol=1e-5)


def test_random_init_is_the_same_on_every_build_and_batch_size_does_not_matter():
    frames = np.random.RandomState(1).randint(0, 256, (5, 32, 32, 3)).astype(np.uint8)
    first = backbone.encode_frames(backbone.build_backbone("none", 32, seed=0), frames, batch_size=5)
    second = backbone.encode_frames(backbone.build_backbone("none", 32, seed=0), frames, batch_size=2)
    assert first.shape == (5, 1024) and first.dtype == np.float32
    np.testing.assert_allclose(first, second, rtol=1e-4, atol=1e-5)


def test_random_init_built_in_two_threads_at_once_is_the_same_network():
    """As an SDK worker on Flink sets up two subtasks' DoFns at once (without the lock: two different networks)."""
    import threading

    frames = np.random.RandomState(1).randint(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    alone = backbone.encode_frames(backbone.build_backbone("none", 32, seed=0), frames, batch_size=2)
    built = []
    threads = [threading.Thread(target=lambda: built.append(backbone.build_backbone("none", 32, seed=0))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 2
    for encoder in built:
        np.testing.assert_array_equal(backbone.encode_frames(encoder, frames, batch_size=2), alone)


def test_random_init_does_not_depend_on_other_threads_drawing_random_numbers():
    """On one Flink TaskManager other threads of the SDK worker draw from Python's `random` while a DoFn builds
    its network; Keras takes its initializers' seeds from that same process-wide stream."""
    import random
    import threading

    frames = np.random.RandomState(1).randint(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    alone = backbone.encode_frames(backbone.build_backbone("none", 32, seed=0), frames, batch_size=2)
    stop = threading.Event()

    def draw() -> None:
        while not stop.is_set():
            random.random()

    drawer = threading.Thread(target=draw)
    drawer.start()
    try:
        beside_draws = backbone.build_backbone("none", 32, seed=0)
    finally:
        stop.set()
        drawer.join()
    np.testing.assert_array_equal(backbone.encode_frames(beside_draws, frames, batch_size=2), alone)


def test_random_init_leaves_the_process_random_seeds_alone():
    """Library code seeds nothing global: a caller's NumPy stream goes on where it was."""
    np.random.seed(5)
    expected = np.random.RandomState(5).random_sample()
    backbone.build_backbone("none", 32, seed=0)
    assert np.random.random_sample() == expected


def test_random_init_is_the_network_keras_builds_after_seeding_everything():
    """The random-init features every figure in benchmarks/README.md was measured on."""
    keras.utils.set_random_seed(3)
    seeded = keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(32, 32, 3))
    built = backbone.build_backbone("none", 32, seed=3).get_layer("densenet121")
    for expected, weight in zip(seeded.get_weights(), built.get_weights(), strict=True):
        np.testing.assert_array_equal(weight, expected)


def test_weights_id_names_files_by_content(tmp_path):
    weights_file = tmp_path / "w.h5"
    weights_file.write_bytes(b"abc")
    assert backbone.weights_id(str(weights_file), 0).startswith("file:sha256:ba7816bf")
    assert backbone.weights_id("none", 3) == "none(random-init,seed=3)"
    with pytest.raises(errors.BackboneWeightsError, match="does not exist"):
        backbone.weights_id(str(tmp_path / "missing.h5"), 0)


def test_unusable_weights_file_is_a_clear_error(tmp_path):
    weights_file = tmp_path / "w.h5"
    weights_file.write_bytes(b"not hdf5")
    with pytest.raises(errors.BackboneWeightsError, match="cannot load backbone weights"):
        backbone.build_backbone(str(weights_file), 32, seed=0)


def test_bfloat16_backbone_gives_close_float32_features_and_restores_the_policy():
    frames = np.random.RandomState(2).randint(0, 256, (4, 32, 32, 3)).astype(np.uint8)
    float32_features = backbone.encode_frames(backbone.build_backbone("none", 32, seed=0), frames, batch_size=4)
    bfloat16_encoder = backbone.build_backbone("none", 32, seed=0, precision="bfloat16")
    assert keras.config.dtype_policy().name == "float32"
    bfloat16_features = backbone.encode_frames(bfloat16_encoder, frames, batch_size=4)
    assert bfloat16_features.dtype == np.float32
    cosine = (float32_features * bfloat16_features).sum(1) / (
        np.linalg.norm(float32_features, axis=1) * np.linalg.norm(bfloat16_features, axis=1)
    )
    assert cosine.min() > 0.95
    with pytest.raises(ValueError, match="unknown precision"):
        backbone.build_backbone("none", 32, seed=0, precision="float16")


def test_avg_max_pooling_adds_the_feature_map_maximum_to_the_same_mean():
    frames = np.random.RandomState(3).randint(0, 256, (3, 64, 64, 3)).astype(np.uint8)  # a 2x2 feature map
    mean_only = backbone.build_backbone("none", 64, seed=0)
    both = backbone.build_backbone("none", 64, seed=0, pooling="avg+max")
    mean_features = backbone.encode_frames(mean_only, frames, batch_size=3)
    both_features = backbone.encode_frames(both, frames, batch_size=3)
    assert both_features.shape == (3, backbone.feature_dim("avg+max")) == (3, 2048)
    np.testing.assert_array_equal(both_features[:, :1024], mean_features)  # bitwise: the avg features do not change
    feature_map = np.asarray(both.get_layer("densenet121")(both.get_layer("densenet_preprocessing")(frames.astype(np.float32))))
    assert feature_map.shape[1:3] == (2, 2)
    np.testing.assert_allclose(both_features[:, 1024:], feature_map.max(axis=(1, 2)), rtol=1e-5)
    assert not np.allclose(both_features[:, 1024:], mean_features)
    max_only = backbone.encode_frames(backbone.build_backbone("none", 64, seed=0, pooling="max"), frames, batch_size=3)
    np.testing.assert_array_equal(max_only, both_features[:, 1024:])
    with pytest.raises(ValueError, match="unknown pooling"):
        backbone.build_backbone("none", 64, seed=0, pooling="sum")


def test_max_min_pooling_adds_the_feature_map_minimum_to_the_same_maximum():
    frames = np.random.RandomState(4).randint(0, 256, (3, 64, 64, 3)).astype(np.uint8)  # a 2x2 feature map
    both = backbone.build_backbone("none", 64, seed=0, pooling="max+min")
    features = backbone.encode_frames(both, frames, batch_size=3)
    assert features.shape == (3, backbone.feature_dim("max+min")) == (3, 2048)
    max_only = backbone.encode_frames(backbone.build_backbone("none", 64, seed=0, pooling="max"), frames, batch_size=3)
    np.testing.assert_array_equal(features[:, :1024], max_only)  # bitwise: the max features do not change
    feature_map = np.asarray(both.get_layer("densenet121")(both.get_layer("densenet_preprocessing")(frames.astype(np.float32))))
    np.testing.assert_allclose(features[:, 1024:], feature_map.min(axis=(1, 2)), rtol=1e-5)
    assert (features[:, 1024:] <= features[:, :1024]).all() and not np.allclose(features[:, 1024:], features[:, :1024])


def test_encode_frames_is_keras_forward_pass_bitwise_for_every_batch_size_and_lets_the_backbone_go():
    import gc
    import weakref

    encoder = backbone.build_backbone("none", 32, seed=0)
    frames = np.random.RandomState(4).randint(0, 256, (7, 32, 32, 3)).astype(np.uint8)
    for batch_size in (7, 3, 1):  # passes of 7; 3, 3, 1; 1: one tf.function for all on TensorFlow
        expected = np.concatenate(
            [np.asarray(encoder.predict_on_batch(frames[start : start + batch_size])) for start in range(0, 7, batch_size)]
        )
        np.testing.assert_array_equal(backbone.encode_frames(encoder, frames, batch_size), expected)
    np.testing.assert_array_equal(backbone.encode_frames(encoder, frames.astype(np.float32), 7), backbone.encode_frames(encoder, frames, 7))
    collected = weakref.ref(encoder)
    del encoder
    gc.collect()
    assert collected() is None  # its forward passes do not keep it in memory
