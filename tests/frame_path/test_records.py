"""frame_path/records.py: the Example of a clip."""

import numpy as np
import pytest
import tensorflow as tf

from frame_path.records import FRAME_FEATURES_KEY, make_example


@pytest.mark.parametrize("floats", [0, 1, 31, 32, 4096, 20 * 1024, 20 * 2048])  # varints of 1, 2 and 3 bytes
def test_the_packed_features_are_the_example_protobuf_itself_builds(floats):
    rng = np.random.default_rng(floats)
    features = rng.standard_normal(floats).astype(np.float32)
    features[: min(floats, 5)] = [np.nan, np.inf, -np.inf, -0.0, 1e-45][: min(floats, 5)]  # NaN, infinities, -0, a denormal
    frame_mask = np.ones(4, dtype=np.int64)
    example = make_example(features.reshape(-1, 1) if floats else features, frame_mask, "Grow", "a/b.avi", 7)
    expected = tf.train.FloatList(value=features)
    assert example.features.feature[FRAME_FEATURES_KEY].float_list.SerializeToString() == expected.SerializeToString()
    parsed = tf.train.Example.FromString(example.SerializeToString()).features.feature[FRAME_FEATURES_KEY].float_list.value
    np.testing.assert_array_equal(np.array(parsed, dtype=np.float32).view(np.uint32), features.view(np.uint32))  # bitwise
