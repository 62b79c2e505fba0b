"""Decode workers: clip paths in, sampled and resized uint8 frames out, in submission order.

Two pools, the same interface (`submit(path) -> Future`, `close()`):
- ProcessDecoderPool, for 2 workers or more: worker PROCESSES
  (frame_path/decode_worker.py, which says why not multiprocessing), because decoding in threads of one process
  stops scaling at the GIL (16 cores of an H100 host: 6,229 sampled frames/s
  with 16 threads, 9,156 with 16 processes; benchmarks/README.md).
- ThreadDecoderPool, for 1 worker: one thread of this process (OpenCV releases
  the GIL while it decodes); no child to start and no pipe to cross
  (benchmarks/README.md, section 1, for the figures).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import subprocess
import sys
import threading
from typing import Any

from frame_path import decode_worker, frames

logger = logging.getLogger(__name__)

DecodeResult = frames.DecodedClip | frames.VideoDecodeError
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

    def submit(self, path: str) -> concurrent.futures.Future[DecodeResult]:
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
        self._tasks: queue.SimpleQueue[tuple[concurrent.futures.Future, str] | None] = queue.SimpleQueue()
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
            threading.Thread(target=self._feed, args=(slot,), name=f"clip-decoder-feeder-{slot}", daemon=True) for slot in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self._workers]

    def submit(self, path: str) -> concurrent.futures.Future[DecodeResult]:
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


def decoder_pool(workers: int, max_seq_length: int, image_size: int, sampling: str, processes: bool | None = None) -> Any:
    """A ProcessDecoderPool for 2 workers or more, a ThreadDecoderPool for 1 (`processes` forces either)."""
    if workers < 1:
        raise ValueError(f"decode workers must be at least 1, got {workers}")
    use_processes = workers >= 2 if processes is None else processes
    pool_class = ProcessDecoderPool if use_processes else ThreadDecoderPool
    return pool_class(workers, max_seq_length, image_size, sampling)
