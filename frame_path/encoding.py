"""Clips -> padded DenseNet121 frame features, with decoding overlapped with the model.

Clips are decoded (every frame read, the sampled ones cropped and resized) by
a pool of decode workers a few clips ahead of the backbone, and the frames of
consecutive clips fill forward passes of exactly `frame_batch_size` frames, so
the model never waits for a decoder and never runs on one frame at a time
(or, with `clip_aligned_passes`, each clip's frames make passes of their own,
for features that do not depend on the clips beside it).
Used by the Beam executor and the benchmarks; the decode workers are
frame_path/decoder_pools.py's.
"""

from __future__ import annotations

import collections
import dataclasses
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from frame_path import backbone, frames
from frame_path.config import ExtractionConfig
from frame_path.decoder_pools import DecodeResult, decoder_pool


def _compiles_per_batch_shape() -> bool:
    import keras

    return keras.backend.backend() == "jax"


@dataclasses.dataclass(frozen=True)
class EncodedClip:
    frame_features: np.ndarray  # float32 [max_seq_length, feature_dim], zero-padded
    frame_mask: np.ndarray  # int64 [max_seq_length]
    num_frames: int  # frames decoded from the file
    frames_encoded: int  # frames that went through the backbone
    seconds: float  # the clip's duration (frames.DecodedClip.seconds)


class ClipEncoder:
    """Decodes clips on a pool of `decode_workers` and encodes their sampled frames in full forward passes.

    Close it (or use it as a context manager): that stops the decode workers.
    """

    def __init__(
        self,
        frame_encoder: Any,
        max_seq_length: int,
        image_size: int,
        sampling: str,
        frame_batch_size: int,
        decode_workers: int = 1,
        decode_ahead: int | None = None,
        decode_processes: bool | None = None,
        pad_last_pass: bool | None = None,
        clip_aligned_passes: bool = False,
    ):
        self._frame_encoder = frame_encoder
        self._max_seq_length = max_seq_length
        self._image_size = image_size
        self._sampling = sampling
        self._frame_batch_size = frame_batch_size
        # Enough clips in flight to keep every worker busy while the backbone
        # takes a batch: 2 a worker, at least 4 (the value of the 2-thread days).
        self._decode_ahead = max(4, 2 * decode_workers) if decode_ahead is None else decode_ahead
        self._decoder_pool = decoder_pool(decode_workers, max_seq_length, image_size, sampling, decode_processes)
        # JAX compiles the model anew for every batch shape (tens of seconds for
        # DenseNet121), and every encode() call (a Beam batch of clips) ends with a
        # pass of its own size: padding that pass to a power of two bounds the shapes
        # to log2(frame_batch_size) + 2. TensorFlow generalizes shapes itself, and on a
        # CPU the padding would cost up to a pass of compute per call.
        self._pad_last_pass = _compiles_per_batch_shape() if pad_last_pass is None else pad_last_pass
        # On a CPU a frame's features change in the last bits with its row in the pass and
        # the pass's size (up to 5e-8 at 32 px, tests/frame_path/test_encoding.py): passes of
        # each clip's own frames make its features a function of the clip alone, which the
        # feature store needs (stored and fresh features bitwise equal). On 2 cores a
        # 20-frame pass runs as fast per frame as a 32-frame one (39 vs 34 frames/s, 128 px).
        self._clip_aligned_passes = clip_aligned_passes
        # A caller that never closes (a Beam runner skipping DoFn.teardown) still stops the
        # workers when the encoder is collected or the interpreter exits.
        self._finalizer = weakref.finalize(self, self._decoder_pool.close)

    @classmethod
    def for_config(cls, frame_encoder: Any, config: ExtractionConfig, **options: Any) -> ClipEncoder:
        """The encoder of a resolved ExtractionConfig (no 'auto' setting left) on `frame_encoder`; `options` as __init__'s."""
        return cls(
            frame_encoder,
            config.features.max_seq_length,
            config.features.image_size,
            config.features.sampling,
            config.frame_batch_size,
            decode_workers=config.decode_workers,
            **options,
        )

    @property
    def decoder_pool(self) -> Any:
        return self._decoder_pool

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> ClipEncoder:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def encode(self, keyed_paths: Iterable[tuple[Any, str]]) -> Iterator[tuple[Any, EncodedClip | frames.VideoDecodeError]]:
        """(key, path) pairs -> (key, EncodedClip or the VideoDecodeError that made the clip unusable).

        Frames queue across clip boundaries and go through the backbone in full
        passes of `frame_batch_size` (only the last pass is partial): a clip's
        frames may share a pass with the next clip's, and the clip is yielded
        once all its features are in. Small remainder passes would cost ~20%
        more per frame on a CPU. With `clip_aligned_passes`, every clip's frames
        go through passes of their own instead, the first at row 0.
        """
        waiting: collections.deque = collections.deque()  # (key, DecodedClip) whose features are not all in
        queued_frames: list[np.ndarray] = []  # frames not through the backbone yet
        encoded_features: list[np.ndarray] = []  # features not handed to a clip yet, one row a frame
        for key, decoded in self._decoded(keyed_paths):
            if isinstance(decoded, frames.VideoDecodeError):
                yield key, decoded
                continue
            if self._clip_aligned_passes:
                encoded_features.extend(self._forward(decoded.frames))
                waiting.append((key, decoded))
                yield from self._complete_clips(waiting, encoded_features)
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
        """Features of `batch_frames` in passes of `frame_batch_size`; the last one padded where shapes compile."""
        batch = np.stack(batch_frames)
        remainder = len(batch) % self._frame_batch_size
        if self._pad_last_pass and remainder:
            padded_length = min(self._frame_batch_size, 1 << (remainder - 1).bit_length())
            padding = np.zeros((padded_length - remainder, *batch.shape[1:]), dtype=batch.dtype)
            return backbone.encode_frames(self._frame_encoder, np.concatenate([batch, padding]), self._frame_batch_size)[: len(batch)]
        return backbone.encode_frames(self._frame_encoder, batch, self._frame_batch_size)

    def _complete_clips(self, waiting: collections.deque, encoded_features: list[np.ndarray]) -> Iterator[tuple[Any, EncodedClip]]:
        """Yields the waiting clips, in order, whose features are all in `encoded_features` (consumed)."""
        while waiting and len(encoded_features) >= len(waiting[0][1].frames):
            key, decoded = waiting.popleft()
            clip_length = len(decoded.frames)
            padded, frame_mask = frames.pad_to_length(np.stack(encoded_features[:clip_length]), self._max_seq_length)
            del encoded_features[:clip_length]
            yield key, EncodedClip(padded, frame_mask, decoded.num_frames, clip_length, decoded.seconds)

    def _decoded(self, keyed_paths: Iterable[tuple[Any, str]]) -> Iterator[tuple[Any, DecodeResult]]:
        """Decoded clips in input order, with up to `decode_ahead` clips decoding meanwhile.

        A consumer that stops early leaves clips in flight: they are cancelled
        (or, if already decoding, discarded) and the pool stays usable.
        """
        in_flight: collections.deque = collections.deque()
        try:
            for key, path in keyed_paths:
                in_flight.append((key, self._decoder_pool.submit(path)))
                if len(in_flight) > self._decode_ahead:
                    key_done, future = in_flight.popleft()
                    yield key_done, future.result()
            while in_flight:
                key_done, future = in_flight.popleft()
                yield key_done, future.result()
        finally:
            for _, future in in_flight:
                future.cancel()
