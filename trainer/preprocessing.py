"""TFX Transform: label vocabulary and normalized frame features.

The class list travels with the transform graph (a TFT vocabulary), and the
normalization statistics are computed once over the training split, so
training, evaluation and serving all see the same numbers.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from frame_path.records import FRAME_FEATURES_KEY, FRAME_MASK_KEY, LABEL_KEY

LABEL_ID_KEY = "label_id"  # the transformed label; its own name so raw and transformed never collide
LABEL_VOCABULARY = "label"
FEATURE_KEYS = (FRAME_FEATURES_KEY, FRAME_MASK_KEY)
_VARIANCE_EPSILON = 1e-6


def preprocessing_fn(inputs: dict[str, tf.Tensor], custom_config: dict[str, Any]) -> dict[str, tf.Tensor]:
    """Raw Examples -> {frame_features [B, T, D] z-scored, frame_mask [B, T], label_id [B]}.

    Frozen-backbone features have tiny, uneven scales per dimension, so each
    dimension gets a z-score over the real (unmasked) frames; padded frames
    stay exactly zero.
    """
    max_seq_length, feature_dim = custom_config["max_seq_length"], custom_config["feature_dim"]
    frame_features = tf.reshape(inputs[FRAME_FEATURES_KEY], [-1, max_seq_length, feature_dim])
    frame_mask = tf.reshape(inputs[FRAME_MASK_KEY], [-1, max_seq_length])
    valid_frames = tf.cast(frame_mask, tf.bool)

    real_frames = tf.boolean_mask(frame_features, valid_frames)  # [frames in batch, D]
    feature_mean = tft.mean(real_frames, reduce_instance_dims=False)
    feature_variance = tft.var(real_frames, reduce_instance_dims=False)
    normalized = (frame_features - feature_mean) * tf.math.rsqrt(feature_variance + _VARIANCE_EPSILON)
    normalized = tf.where(valid_frames[..., tf.newaxis], normalized, tf.zeros_like(normalized))

    label_ids = tft.compute_and_apply_vocabulary(inputs[LABEL_KEY], vocab_filename=LABEL_VOCABULARY)
    return {
        FRAME_FEATURES_KEY: normalized,
        FRAME_MASK_KEY: frame_mask,
        LABEL_ID_KEY: tf.reshape(label_ids, [-1]),
    }
