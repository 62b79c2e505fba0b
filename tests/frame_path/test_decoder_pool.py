"""Decode worker processes: the same frames and features as decoding in-process, in order, errors per clip, no leftovers."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from frame_path import backbone, decoder_pools, encoding, frames
from tests.conftest import REAL_CLIPS
from tests.helpers import decode_worker_children

PUNCH = os.path.join(REAL_CLIPS, "v_Punch_g03_c01.avi")
BIKING = os.path.join(REAL_CLIPS, "v_Biking_g05_c02.avi")
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _alive(pid):
    """True for a running or zombie (unreaped) process."""
    return os.path.exists(f"/proc/{pid}")


@pytest.fixture(scope="module")
def frame_encoder():
    return backbone.build_backbone("none", 32, seed=0)


@pytest.fixture
def bad_clips(tmp_path):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    text = tmp_path / "text.avi"
    text.write_text("not a video\n" * 50)
    return {
        str(empty): "empty file",
        str(text): "not a readable video (unknown container or codec)",
        str(tmp_path / "missing.avi"): "file not found",
    }


def test_worker_processes_decode_the_same_frames_as_this_process(bad_clips):
    paths = [PUNCH, *bad_clips, BIKING, PUNCH]
    pool = decoder_pools.ProcessDecoderPool(2, 7, 48, "uniform")
    try:
        results = [future.result(timeout=60) for future in [pool.submit(path) for path in paths]]
    finally:
        pool.close()
    for path, result in zip(paths, results):
        if path in bad_clips:
            assert isinstance(result, frames.VideoDecodeError) and str(result) == bad_clips[path]
            continue
        expected = frames.decode_clip(path, 7, 48, "uniform")
        assert result.num_frames == expected.num_frames
        assert result.frames.dtype == np.uint8 and result.frames.flags.writeable
        np.testing.assert_array_equal(result.frames, expected.frames)


def test_clip_encoder_on_processes_gives_the_thread_encoders_features_in_the_same_order(frame_encoder, bad_clips):
    """...also with the last forward pass padded to a power of two, as on JAX (4 clips of 6 frames: 7, 7, 7, 3 -> 4)."""
    paths = [PUNCH, *bad_clips, BIKING, PUNCH, BIKING]
    settings = dict(max_seq_length=6, image_size=32, sampling="uniform", frame_batch_size=7)
    with encoding.ClipEncoder(frame_encoder, **settings, decode_workers=1) as in_process:
        assert isinstance(in_process.decoder_pool, decoder_pools.ThreadDecoderPool)
        expected = list(in_process.encode(enumerate(paths)))
    with encoding.ClipEncoder(frame_encoder, **settings, decode_workers=3, pad_last_pass=True) as in_workers:
        assert isinstance(in_workers.decoder_pool, decoder_pools.ProcessDecoderPool)
        results = list(in_workers.encode(enumerate(paths)))
    assert [key for key, _ in results] == [key for key, _ in expected]
    clip_keys = [key for key, result in results if isinstance(result, encoding.EncodedClip)]
    assert clip_keys == [0, 4, 5, 6]  # clips come out in input order; skipped ones as soon as known
    for (key, result), (_, reference) in zip(results, expected):
        if paths[key] in bad_clips:
            assert isinstance(result, frames.VideoDecodeError) and str(result) == bad_clips[paths[key]] == str(reference)
        else:
            assert (result.num_frames, result.frames_encoded) == (reference.num_frames, reference.frames_encoded)
            np.testing.assert_allclose(result.frame_features, reference.frame_features, rtol=1e-4, atol=1e-5)
            np.testing.assert_array_equal(result.frame_mask, reference.frame_mask)


def test_uint8_frames_reach_the_backbone_as_they_are_with_the_features_of_float32_input(frame_encoder):
    batch = frames.decode_clip(PUNCH, 6, 32, "uniform").frames
    assert batch.dtype == np.uint8
    expected = np.asarray(frame_encoder.predict_on_batch(batch.astype(np.float32)))
    np.testing.assert_allclose(backbone.encode_frames(frame_encoder, batch, 6), expected, rtol=1e-5, atol=1e-6)


def test_close_reaps_every_worker_also_when_the_consumer_stops_early(frame_encoder):
    encoder = encoding.ClipEncoder(frame_encoder, 6, 32, "uniform", 8, decode_workers=2)
    pids = encoder.decoder_pool.pids
    assert sorted(decode_worker_children()) == sorted(pids)
    stream = encoder.encode((index, path) for index, path in enumerate([PUNCH, BIKING] * 10))
    first_key, first = next(stream)
    assert first_key == 0 and first.frames_encoded == 6
    stream.close()  # the consumer stops with clips still decoding
    # The pool is still usable after an early stop.
    assert [key for key, _ in encoder.encode([("a", BIKING), ("b", PUNCH)])] == ["a", "b"]
    encoder.close()
    encoder.close()  # twice is harmless
    assert not any(_alive(pid) for pid in pids)
    assert decode_worker_children() == []


def test_a_worker_dying_mid_clip_skips_that_clip_only():
    pool = decoder_pools.ProcessDecoderPool(1, 6, 32, "uniform")
    try:
        [first_pid] = pool.pids
        os.kill(first_pid, signal.SIGSTOP)  # the request lands in its pipe, unread
        doomed = pool.submit(BIKING)
        time.sleep(0.5)
        os.kill(first_pid, signal.SIGKILL)
        result = doomed.result(timeout=60)
        assert isinstance(result, frames.VideoDecodeError)
        assert str(result) == "the decoder process died while decoding this clip (killed by signal 9)"
        assert not _alive(first_pid)
        # A new worker took its place.
        assert pool.pids != [first_pid]
        assert pool.submit(PUNCH).result(timeout=60).frames.shape == (6, 32, 32, 3)
    finally:
        pool.close()
    assert decode_worker_children() == []


def test_workers_load_neither_tensorflow_nor_the_parents_main_module():
    import tensorflow  # noqa: F401 - the parent has it, as the Beam executor does

    pool = decoder_pools.ProcessDecoderPool(1, 6, 32, "uniform")
    try:
        [pid] = pool.pids
        with open(f"/proc/{pid}/maps") as maps:
            libraries = maps.read()
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            command = cmdline.read().split(b"\0")
    finally:
        pool.close()
    assert "cv2" in libraries and "tensorflow" not in libraries
    assert command[1] == b"-c" and b"import frame_path.decode_worker" in command[2]


def test_the_frame_path_and_the_benchmark_import_no_tensorflow():
    """What runs on a GPU machine without TensorFlow (Keras on JAX) must not import it at import time."""
    code = (
        "import sys, runpy; sys.path.insert(0, '.');"
        "import frame_path.backbone, frame_path.config, frame_path.encoding, frame_path.frames, frame_path.records, "
        "frame_path.decode_worker;"
        "runpy.run_path('benchmarks/extract_throughput.py', run_name='not_main');"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in ('tensorflow', 'keras', 'tfx', 'apache_beam'));"
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
