"""Clips -> padded DenseNet121 frame features, with decoding overlapped with the model.

Decoding runs on a small thread pool (OpenCV releases the GIL) a few clips
ahead of the backbone, and the frames of consecutive clips fill forward passes
of exactly `frame_batch_size` frames, so the model never waits for a decoder
and never runs on one frame at a time. Used by the Beam executor and the benchmarks.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
from typing import Any, Iterable, Iterator, Union

import numpy as np

from frame_path import backbone, frames


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
        """(key, path) pairs -> (key, EncodedClip or the VideoDecodeError that made the clip unusable).

        Frames queue across clip boundaries and go through the backbone in full
        passes of `frame_batch_size` (only the last pass is partial): a clip's
        frames may share a pass with the next clip's, and the clip is yielded
        once all its features are in. Small remainder passes would cost ~20%
        more per frame on a CPU.
        """
        waiting: collections.deque = collections.deque()  # (key, DecodedClip) whose features are not all in
        queued_frames: list[np.ndarray] = []  # frames not through the backbone yet
        encoded_features: list[np.ndarray] = []  # features not handed to a clip yet, one row a frame
        for key, decoded in self._decoded(keyed_paths):
            if isinstance(decoded, frames.VideoDecodeError):
                yield key, decoded
                continue
            waiting.append((key, decoded))
            queued_frames.extend(decoded.frames)
            while len(queued_frames) >= self._frame_batch_size:
                encoded_features.extend(self._forward(queued_frames[: self._frame_batch_size]))
                del queued_frames[: self._frame_batch_size]
            yield from self._complete_clips(waiting, encoded_features)
        if queued_frames:
            encoded_features.extend(self._forward(queued_frames))
        yield from self._complete_clips(waiting, encoded_features)

    def _forward(self, batch_frames: list[np.ndarray]) -> np.ndarray:
        return backbone.encode_frames(self._frame_encoder, np.stack(batch_frames), self._frame_batch_size)

    def _complete_clips(self, waiting: collections.deque, encoded_features: list[np.ndarray]) -> Iterator[tuple[Any, EncodedClip]]:
        """Yields the waiting clips, in order, whose features are all in `encoded_features` (consumed)."""
        while waiting and len(encoded_features) >= len(waiting[0][1].frames):
            key, decoded = waiting.popleft()
            clip_length = len(decoded.frames)
            padded, frame_mask = frames.pad_to_length(np.stack(encoded_features[:clip_length]), self._max_seq_length)
            del encoded_features[:clip_length]
            yield key, EncodedClip(padded, frame_mask, decoded.num_frames, clip_length)

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
