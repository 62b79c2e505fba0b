"""The record format every later component reads: feature keys, the tf.train.Example of a clip, the report's name.

TensorFlow is imported only to build a record, so that the keys can be read
where TensorFlow is not installed (the model on Keras-on-JAX).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

FRAME_FEATURES_KEY = "frame_features"  # float [max_seq_length * feature_dim], zero-padded
FRAME_MASK_KEY = "frame_mask"  # int64 [max_seq_length]: 1 for a real frame, 0 for padding
LABEL_KEY = "label"  # bytes: the class name
VIDEO_ID_KEY = "video_id"  # bytes: the clip's path relative to the data root
NUM_FRAMES_KEY = "num_frames"  # int64: frames decoded from the file
# Written by VideoExampleGen beside the splits: counts, skipped clips, throughput, the extraction settings.
EXTRACTION_REPORT_FILE = "extraction_report.json"


def _float_list(values: np.ndarray) -> tf.train.FloatList:
    """A FloatList of `values` (float32), parsed from its packed wire form: the same message as
    FloatList(value=values), but protobuf copies the bytes instead of converting 20,480 floats one by one
    (0.05 ms against 7.4 ms a clip of 20 x 1024 here: a third of writing a stored clip's Example)."""
    import tensorflow as tf

    packed = np.ascontiguousarray(values, dtype="<f4").tobytes()
    return tf.train.FloatList.FromString(b"\x0a" + _varint(len(packed)) + packed)  # field 1, length-delimited


def _varint(number: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative int."""
    encoded = bytearray()
    while number > 0x7F:
        encoded.append(number & 0x7F | 0x80)
        number >>= 7
    encoded.append(number)
    return bytes(encoded)


def make_example(frame_features: np.ndarray, frame_mask: np.ndarray, label: str, video_id: str, num_frames: int) -> tf.train.Example:
    """One clip: padded frame features, their mask, label, id and decoded frame count."""
    import tensorflow as tf

    feature = tf.train.Feature
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                FRAME_FEATURES_KEY: feature(float_list=_float_list(frame_features.reshape(-1))),
                FRAME_MASK_KEY: feature(int64_list=tf.train.Int64List(value=frame_mask)),
                LABEL_KEY: feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
                VIDEO_ID_KEY: feature(bytes_list=tf.train.BytesList(value=[video_id.encode()])),
                NUM_FRAMES_KEY: feature(int64_list=tf.train.Int64List(value=[num_frames])),
            }
        )
    )
