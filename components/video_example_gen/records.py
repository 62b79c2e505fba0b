"""The tf.train.Example of one clip: the record format every later component reads."""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def make_example(
    frame_features: np.ndarray, frame_mask: np.ndarray, label: str, video_id: str, num_frames: int
) -> tf.train.Example:
    """One clip: padded frame features, their mask, label, id and decoded frame count."""
    feature = tf.train.Feature
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "frame_features": feature(float_list=tf.train.FloatList(value=frame_features.reshape(-1))),
                "frame_mask": feature(int64_list=tf.train.Int64List(value=frame_mask)),
                "label": feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
                "video_id": feature(bytes_list=tf.train.BytesList(value=[video_id.encode()])),
                "num_frames": feature(int64_list=tf.train.Int64List(value=[num_frames])),
            }
        )
    )
