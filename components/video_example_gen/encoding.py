"""Clips -> padded DenseNet121 frame features, with decoding overlapped with the model.

Decoding runs on a small thread pool (OpenCV releases the GIL) a few clips
ahead of the backbone, and frames of consecutive clips share forward passes of
`frame_batch_size` frames, so the model never waits for a decoder and never
runs on one frame at a time. Used by the Beam executor and the benchmarks.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
from typing import Any, Iterable, Iterator, Union

import numpy as np

from components.video_example_gen import backbone, frames


@dataclasses.dataclass(frozen=True)
class EncodedClip:
    frame_features: np.ndarray  # float32 [max_seq_length, feature_dim], zero-padded
    frame_mask: np.ndarray  # int64 [max_seq_length]
    num_frames: int  # frames decoded from the file
    frames_encoded: int  # frames that went through the backbone


class ClipEncoder:
    def __init__(
        self,
        frame_encoder: Any,
        max_seq_length: int,
        image_size: int,
        sampling: str,
        frame_batch_size: int,
        decode_threads: int = 2,
        decode_ahead: int = 4,
    ):
        self._frame_encoder = frame_encoder
        self._max_seq_length = max_seq_length
        self._image_size = image_size
        self._sampling = sampling
        self._frame_batch_size = frame_batch_size
        self._decode_ahead = decode_ahead
        self._decoder_pool = concurrent.futures.ThreadPoolExecutor(max_workers=decode_threads)

    def close(self) -> None:
        self._decoder_pool.shutdown(wait=False, cancel_futures=True)

    def encode(self, keyed_paths: Iterable[tuple[Any, str]]) -> Iterator[tuple[Any, Union[EncodedClip, frames.VideoDecodeError]]]:
        """(key, path) pairs -> (key, EncodedClip or the VideoDecodeError that made the clip unusable)."""
        batch: list[tuple[Any, frames.DecodedClip]] = []
        batch_frames = 0
        for key, decoded in self._decoded(keyed_paths):
            if isinstance(decoded, frames.VideoDecodeError):
                yield key, decoded
                continue
            batch.append((key, decoded))
            batch_frames += len(decoded.frames)
            if batch_frames >= self._frame_batch_size:
                yield from self._encode_batch(batch)
                batch, batch_frames = [], 0
        if batch:
            yield from self._encode_batch(batch)

    def _decode(self, path: str) -> Union[frames.DecodedClip, frames.VideoDecodeError]:
        try:
            return frames.decode_clip(path, self._max_seq_length, self._image_size, self._sampling)
        except frames.VideoDecodeError as error:
            return error

    def _decoded(self, keyed_paths: Iterable[tuple[Any, str]]) -> Iterator[tuple[Any, Any]]:
        """Decoded clips in input order, with up to `decode_ahead` clips decoding meanwhile."""
        in_flight: collections.deque = collections.deque()
        for key, path in keyed_paths:
            in_flight.append((key, self._decoder_pool.submit(self._decode, path)))
            if len(in_flight) > self._decode_ahead:
                key_done, future = in_flight.popleft()
                yield key_done, future.result()
        while in_flight:
            key_done, future = in_flight.popleft()
            yield key_done, future.result()

    def _encode_batch(self, batch: list[tuple[Any, frames.DecodedClip]]) -> Iterator[tuple[Any, EncodedClip]]:
        all_frames = np.concatenate([decoded.frames for _, decoded in batch])
        all_features = backbone.encode_frames(self._frame_encoder, all_frames, self._frame_batch_size)
        start = 0
        for key, decoded in batch:
            clip_features = all_features[start : start + len(decoded.frames)]
            start += len(decoded.frames)
            padded, frame_mask = frames.pad_to_length(clip_features, self._max_seq_length)
            yield key, EncodedClip(padded, frame_mask, decoded.num_frames, len(decoded.frames))
