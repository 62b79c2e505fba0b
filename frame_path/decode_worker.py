"""A decode worker process: clip paths in on stdin, sampled uint8 frames out on stdout.

Started by `decoder_pools.ProcessDecoderPool` as `python -c "...; frame_path.decode_worker.main()"`:
a fresh interpreter that imports OpenCV and NumPy only, never TensorFlow or
the parent's `__main__` (multiprocessing's spawn and forkserver re-run the
parent's main module in every child; under Kubeflow that is the TFX executor
entry point, which imports TensorFlow). It exits at the end of its stdin, so
it never outlives the process that started it.

(The same module on both sides: the parent uses write_message/read_message too.)

Messages on both pipes are pickles (protocol 5) whose NumPy buffers travel
out of band as raw bytes after the pickle: a clip's frames cross the pipe
once and are read straight into the array the parent uses (no float
conversion, no second copy).
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import traceback
from typing import Any, BinaryIO

from frame_path import frames

READY = "ready"
_HEADER = struct.Struct("<QI")  # pickle length, out-of-band buffer count
_LENGTH = struct.Struct("<Q")


def write_message(stream: BinaryIO, message: Any) -> None:
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    stream.write(_HEADER.pack(len(data), len(raws)) + b"".join(_LENGTH.pack(raw.nbytes) for raw in raws) + data)
    for raw in raws:
        stream.write(raw)
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    filled = 0
    while filled < size:
        count = stream.readinto(view[filled:])
        if not count:
            raise EOFError("decode worker pipe closed")
        filled += count
    return data


def read_message(stream: BinaryIO) -> Any:
    """The next message; EOFError when the other side has gone."""
    data_length, buffer_count = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    lengths = [_LENGTH.unpack(_read_exactly(stream, _LENGTH.size))[0] for _ in range(buffer_count)]
    data = _read_exactly(stream, data_length)
    # bytearrays: the arrays built on them are writable, as decode_clip's own.
    return pickle.loads(data, buffers=[_read_exactly(stream, length) for length in lengths])


def _portable(error: Exception) -> Exception:
    """The error itself if it pickles, else a RuntimeError carrying its traceback."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError("".join(traceback.format_exception(error)))


def decode(request: tuple[str, int, int, str]) -> Any:
    """DecodedClip, or the VideoDecodeError that makes the clip unusable (returned, not raised)."""
    path, max_seq_length, image_size, sampling = request
    try:
        return frames.decode_clip(path, max_seq_length, image_size, sampling)
    except frames.VideoDecodeError as error:
        return error


def main() -> int:
    # Ctrl-C reaches the whole process group: the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = sys.stdin.buffer
    # Results go to a private copy of stdout; fd 1 itself points at stderr, so that
    # anything a library prints cannot corrupt the result stream.
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    write_message(results, READY)
    while True:
        try:
            request = read_message(requests)
        except EOFError:
            return 0
        try:
            result = decode(request)
        except Exception as error:  # an unexpected failure: the parent raises it, as decoding in a thread would
            result = _portable(error)
        write_message(results, result)


if __name__ == "__main__":
    sys.exit(main())
