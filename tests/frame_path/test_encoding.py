"""ClipEncoder: clips sharing forward passes get the same features as clips encoded one by one; bitwise with clip-aligned passes."""

import os

import numpy as np

from frame_path import backbone, encoding, frames
from tests.conftest import REAL_CLIPS


def test_batched_encoding_matches_clip_by_clip_and_reports_errors(tmp_path):
    frame_encoder = backbone.build_backbone("none", 32, seed=0)
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"")
    paths = [os.path.join(REAL_CLIPS, "v_Punch_g03_c01.avi"), str(broken), os.path.join(REAL_CLIPS, "v_Biking_g05_c02.avi")]
    encoder = encoding.ClipEncoder(frame_encoder, max_seq_length=6, image_size=32, sampling="uniform", frame_batch_size=8)
    try:
        results = list(encoder.encode((index, path) for index, path in enumerate(paths)))
    finally:
        encoder.close()
    assert sorted(key for key, _ in results) == [0, 1, 2]
    outcomes = dict(results)
    assert isinstance(outcomes[1], frames.VideoDecodeError) and str(outcomes[1]) == "empty file"
    for key in (0, 2):
        decoded = frames.decode_clip(paths[key], 6, 32, "uniform")
        expected = backbone.encode_frames(frame_encoder, decoded.frames, batch_size=6)
        assert outcomes[key].frame_mask.tolist() == [1] * 6 and outcomes[key].num_frames == decoded.num_frames
        np.testing.assert_allclose(outcomes[key].frame_features, expected, rtol=1e-4, atol=1e-5)


def test_clip_aligned_passes_make_a_clips_features_independent_of_the_clips_beside_it():
    frame_encoder = backbone.build_backbone("none", 32, seed=0)
    punch, biking = (os.path.join(REAL_CLIPS, name) for name in ("v_Punch_g03_c01.avi", "v_Biking_g05_c02.avi"))

    def features(paths, clip_aligned_passes):
        with encoding.ClipEncoder(
            frame_encoder, max_seq_length=6, image_size=32, sampling="uniform", frame_batch_size=8, clip_aligned_passes=clip_aligned_passes
        ) as encoder:
            return [encoded.frame_features for _, encoded in encoder.encode(enumerate(paths))]

    alone = features([biking], clip_aligned_passes=True)[0]
    after_another = features([punch, biking], clip_aligned_passes=True)[1]
    assert np.array_equal(alone, after_another)  # bitwise: a store's entry equals a fresh extraction
    # What the store could not rely on: packed, Biking's frames sit at other rows of other passes.
    packed = features([punch, biking], clip_aligned_passes=False)[1]
    np.testing.assert_allclose(packed, alone, rtol=1e-4, atol=1e-5)
