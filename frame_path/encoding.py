"""Clips -> padded DenseNet121 frame features, with decoding overlapped with the model.

Clips are decoded (every frame read, the sampled ones cropped and resized) by
a pool of decode workers a few clips ahead of the backbone, and the frames of
consecutive clips fill forward passes of exactly `frame_batch_size` frames, so
the model never waits for a decoder and never runs on one frame at a time.
Used by the Beam executor and the benchmarks.

Two pools, the same interface (`submit(path) -> Future`, `close()`):
- ProcessDecoderPool, for 2 workers or more: worker PROCESSES
  (frame_path/decode_worker.py, which says why not multiprocessing), because decoding in threads of one process
  stops scaling at the GIL (16 cores of an H100 host: 6,229 sampled frames/s
  with 16 threads, 9,156 with 16 processes; issue 15).
- ThreadDecoderPool, for 1 worker: one thread of this process (OpenCV releases
  the GIL while it decodes); no child to start and no pipe to cross
  (benchmarks/README.md, section 1, for the figures).
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import os
import queue
import subprocess
import sys
import threading
import weakref
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np

from frame_path import backbone, decode_worker, frames

logger = logging.getLogger(__name__)

DecodeResult = Union[frames.DecodedClip, frames.VideoDecodeError]
# The frame_path package's parent folder, for the workers' import path.
_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_WORKER_MAIN = "import sys; sys.path.insert(0, {root!r}); import frame_path.decode_worker as worker; sys.exit(worker.main())"


class DecoderStartError(RuntimeError):
    """A decode worker process could not start (its own error is on stderr)."""


class ThreadDecoderPool:
    """Decodes clips on threads of this process."""

    def __init__(self, workers: int, max_seq_length: int, image_size: int, sampling: str):
        self._settings = (max_seq_length, image_size, sampling)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clip-decoder")

    def submit(self, path: str) -> "concurrent.futures.Future[DecodeResult]":
        return self._executor.submit(decode_worker.decode, (path, *self._settings))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class _WorkerProcess:
    """One decode worker child (frame_path/decode_worker.py's main) and its two pipes."""

    def __init__(self) -> None:
        # subprocess forks and immediately execs a fresh interpreter: safe with the
        # parent's TensorFlow threads, and nothing of the parent's state is inherited.
        # This very frame_path goes first on the path (not one in the working directory).
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_MAIN.format(root=_PROJECT_ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )

    def wait_ready(self) -> None:
        try:
            ready = decode_worker.read_message(self.process.stdout)
        except EOFError:
            ready = None
        if ready != decode_worker.READY:
            self.stop()
            raise DecoderStartError(f"decode worker exited at start-up (exit code {self.process.returncode}); see its stderr")

    def decode(self, request: tuple[str, int, int, str]) -> Any:
        """Raises BrokenPipeError (died before the request) or EOFError (died while decoding)."""
        decode_worker.write_message(self.process.stdin, request)
        return decode_worker.read_message(self.process.stdout)

    def describe_exit(self) -> str:
        code = self.process.wait()
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def stop(self) -> None:
        """Stops and reaps the child: no zombie, no orphan."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:  # BrokenPipeError flushing a dead child's stdin
                pass


class ProcessDecoderPool:
    """Decodes clips in `workers` child processes; one feeder thread per child sends it a path and reads its frames.

    A child that dies while decoding (a crash in FFmpeg on a bad file) costs
    that clip only: it is reported as a VideoDecodeError and the child is
    replaced. Children exit at the end of their stdin, so they never outlive
    this process; `close` stops and reaps them at once, also mid-clip.
    """

    def __init__(self, workers: int, max_seq_length: int, image_size: int, sampling: str):
        self._settings = (max_seq_length, image_size, sampling)
        self._tasks: "queue.SimpleQueue[Optional[tuple[concurrent.futures.Future, str]]]" = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._workers = [_WorkerProcess() for _ in range(workers)]  # all start at once, then are awaited
        try:
            for worker in self._workers:
                worker.wait_ready()
        except BaseException:
            for worker in self._workers:
                worker.stop()
            raise
        self._threads = [
            threading.Thread(target=self._feed, args=(slot,), name=f"clip-decoder-feeder-{slot}", daemon=True)
            for slot in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self._workers]

    def submit(self, path: str) -> "concurrent.futures.Future[DecodeResult]":
        if self._closed:
            raise RuntimeError("the decoder pool is closed")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._tasks.put((future, path))
        return future

    def _feed(self, slot: int) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            future, path = task
            if self._closed:
                future.cancel()
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = self._decode_on(slot, (path, *self._settings))
            except BaseException as error:  # noqa: BLE001 - handed to the consumer, who raises it
                future.set_exception(error)
                continue
            if isinstance(result, Exception) and not isinstance(result, frames.VideoDecodeError):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _decode_on(self, slot: int, request: tuple[str, int, int, str]) -> Any:
        worker = self._workers[slot]
        try:
            return worker.decode(request)
        except BrokenPipeError:  # it died while idle: the clip is not to blame, so try it on a new one
            worker = self._replace(slot)
            return worker.decode(request)
        except EOFError:
            if self._closed:
                raise RuntimeError("the decoder pool was closed") from None
            reason = worker.describe_exit()
            logger.warning("decode worker %d died (%s) while decoding %s; starting a new one", worker.process.pid, reason, request[0])
            self._replace(slot)
            return frames.VideoDecodeError(f"the decoder process died while decoding this clip ({reason})")

    def _replace(self, slot: int) -> _WorkerProcess:
        with self._lock:
            if self._closed:
                raise RuntimeError("the decoder pool was closed")
            self._workers[slot].stop()
            worker = _WorkerProcess()
            self._workers[slot] = worker
        worker.wait_ready()
        return worker

    def close(self) -> None:
        """Cancels what has not started, stops and reaps every child, ends the feeder threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None:
                task[0].cancel()
        for _ in self._threads:
            self._tasks.put(None)
        for worker in self._workers:
            worker.stop()  # a feeder blocked on a child's pipe gets EOF and returns
        for thread in self._threads:
            thread.join(timeout=10)


def _compiles_per_batch_shape() -> bool:
    import keras

    return keras.backend.backend() == "jax"


def decoder_pool(workers: int, max_seq_length: int, image_size: int, sampling: str, processes: Optional[bool] = None) -> Any:
    """A ProcessDecoderPool for 2 workers or more, a ThreadDecoderPool for 1 (`processes` forces either)."""
    if workers < 1:
        raise ValueError(f"decode workers must be at least 1, got {workers}")
    use_processes = workers >= 2 if processes is None else processes
    pool_class = ProcessDecoderPool if use_processes else ThreadDecoderPool
    return pool_class(workers, max_seq_length, image_size, sampling)


@dataclasses.dataclass(frozen=True)
class EncodedClip:
    frame_features: np.ndarray  # float32 [max_seq_length, feature_dim], zero-padded
    frame_mask: np.ndarray  # int64 [max_seq_length]
    num_frames: int  # frames decoded from the file
    frames_encoded: int  # frames that went through the backbone


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
        decode_ahead: Optional[int] = None,
        decode_processes: Optional[bool] = None,
        pad_last_pass: Optional[bool] = None,
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
        # A caller that never closes (a Beam runner skipping DoFn.teardown) still stops the
        # workers when the encoder is collected or the interpreter exits.
        self._finalizer = weakref.finalize(self, self._decoder_pool.close)

    @property
    def decoder_pool(self) -> Any:
        return self._decoder_pool

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> "ClipEncoder":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

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
        batch = np.stack(batch_frames)
        if self._pad_last_pass and len(batch) < self._frame_batch_size:
            padded_length = min(self._frame_batch_size, 1 << (len(batch) - 1).bit_length())
            padding = np.zeros((padded_length - len(batch), *batch.shape[1:]), dtype=batch.dtype)
            return backbone.encode_frames(self._frame_encoder, np.concatenate([batch, padding]), self._frame_batch_size)[: len(batch)]
        return backbone.encode_frames(self._frame_encoder, batch, self._frame_batch_size)

    def _complete_clips(self, waiting: collections.deque, encoded_features: list[np.ndarray]) -> Iterator[tuple[Any, EncodedClip]]:
        """Yields the waiting clips, in order, whose features are all in `encoded_features` (consumed)."""
        while waiting and len(encoded_features) >= len(waiting[0][1].frames):
            key, decoded = waiting.popleft()
            clip_length = len(decoded.frames)
            padded, frame_mask = frames.pad_to_length(np.stack(encoded_features[:clip_length]), self._max_seq_length)
            del encoded_features[:clip_length]
            yield key, EncodedClip(padded, frame_mask, decoded.num_frames, clip_length)

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
