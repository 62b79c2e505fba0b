"""The frame path of frame_path/frames.py as TensorFlow ops.

Used by the `serving_frames` signature, so that a TF Serving client can send
decoded frames and get the same answer as the pipeline's own decoding:
same sampled indices (integer formula), same center crop, and TF's 'area'
resize, which matches OpenCV's INTER_AREA once rounded to integers.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from frame_path.config import FeatureConfig
from frame_path.records import FRAME_FEATURES_KEY, FRAME_MASK_KEY


def sample_frame_indices(num_frames: tf.Tensor, max_seq_length: int, sampling: str) -> tf.Tensor:
    """Same indices as frames.sample_frame_indices, as int64 [min(num_frames, max_seq_length)]."""
    num_frames = tf.cast(num_frames, tf.int64)
    first_frames = tf.range(tf.minimum(num_frames, max_seq_length))
    if sampling == "first" or max_seq_length == 1:
        return first_frames
    steps = tf.range(max_seq_length, dtype=tf.int64)
    spread = (2 * steps * (num_frames - 1) + (max_seq_length - 1)) // (2 * (max_seq_length - 1))
    return tf.cond(num_frames <= max_seq_length, lambda: first_frames, lambda: spread)


def crop_and_resize(frames: tf.Tensor, image_size: int) -> tf.Tensor:
    """uint8 RGB [n, height, width, 3] -> float32 [n, image_size, image_size, 3], values 0..255 integers."""
    height, width = tf.shape(frames)[1], tf.shape(frames)[2]
    side = tf.minimum(height, width)
    square = tf.image.crop_to_bounding_box(frames, (height - side) // 2, (width - side) // 2, side, side)
    resized = tf.image.resize(tf.cast(square, tf.float32), (image_size, image_size), method="area")
    return tf.clip_by_value(tf.round(resized), 0.0, 255.0)


def clip_features(frames: tf.Tensor, backbone: keras.Model, features: FeatureConfig) -> dict[str, tf.Tensor]:
    """Decoded frames of one clip -> raw Example features {frame_features [1, T*D], frame_mask [1, T]}, as `features` makes them."""
    max_seq_length, image_size, sampling = features.max_seq_length, features.image_size, features.sampling
    tf.debugging.assert_positive(tf.shape(frames)[0], message="serving_frames needs at least one frame")
    sampled = tf.gather(frames, sample_frame_indices(tf.shape(frames)[0], max_seq_length, sampling))
    frame_features = backbone(crop_and_resize(sampled, image_size), training=False)
    num_sampled = tf.shape(frame_features)[0]
    padded = tf.pad(frame_features, [[0, max_seq_length - num_sampled], [0, 0]])
    frame_mask = tf.cast(tf.range(max_seq_length) < num_sampled, tf.int64)
    return {FRAME_FEATURES_KEY: tf.reshape(padded, [1, -1]), FRAME_MASK_KEY: frame_mask[tf.newaxis, :]}
