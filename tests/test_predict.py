"""predict.py and the serving_frames signature, on a model the tiny local pipeline run pushed."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import predict
from frame_path.errors import BackboneWeightsError
from inference import model as inference_model
from tests.helpers import declared_frame_count, every_frame

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def pushed(local_runs, data_root):
    output_dir, first, _ = local_runs
    return os.path.join(output_dir, "serving"), first["pushed_model_dir"], data_root


def test_predict_cli_json_with_a_corrupt_file(pushed, tmp_path):
    serving_dir, _, data_root = pushed
    videos = sorted(glob.glob(os.path.join(data_root, "test", "*")))[:2]
    corrupt = tmp_path / "broken.avi"
    corrupt.write_text("not a video\n" * 50)
    result = subprocess.run(
        [sys.executable, "predict.py", "--model-dir", serving_dir, "--json", "--top-k", "3", videos[0], str(corrupt), videos[1]],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["video"] for line in lines] == [videos[0], str(corrupt), videos[1]]
    assert lines[1] == {"video": str(corrupt), "error": "not a readable video (unknown container or codec)"}
    for line in (lines[0], lines[2]):
        probabilities = [prediction["probability"] for prediction in line["predictions"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert {prediction["label"] for prediction in line["predictions"]} <= {"Grow", "Shrink", "Brighten", "Darken"}


def test_predict_exit_code_zero_when_every_video_is_read(pushed, capsys):
    serving_dir, _, data_root = pushed
    video = sorted(glob.glob(os.path.join(data_root, "test", "*")))[0]
    assert predict.main(["--model-dir", serving_dir, video, "--top-k", "1"]) == 0
    assert video in capsys.readouterr().out


def test_predict_timeline_json_and_table(pushed, capsys):
    serving_dir, _, data_root = pushed
    video = sorted(glob.glob(os.path.join(data_root, "test", "*.avi")))[0]
    # The demo clips have 25 frames/s: windows of 5 frames, one every 2 frames.
    timeline = ["--timeline", "--window-seconds", "0.2", "--stride-seconds", "0.08", "--top-k", "2"]
    assert predict.main(["--model-dir", serving_dir, video, *timeline, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [window["start_s"] for window in result["windows"]][:2] == [0.0, 0.08]
    assert all(window["end_s"] - window["start_s"] == pytest.approx(0.2) for window in result["windows"][:-1])
    assert {"start_s", "end_s", "label", "probability"} == set(result["segments"][0])
    assert predict.main(["--model-dir", serving_dir, video, *timeline]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 1 + 2 + len(result["segments"])  # the video, its top 2, one line a segment
    # With views, the timeline's pass samples the whole video as classify_videos does.
    longest = max(glob.glob(os.path.join(data_root, "test", "*.avi")), key=declared_frame_count)
    for extra in (timeline, ["--top-k", "2"]):
        assert predict.main(["--model-dir", serving_dir, longest, *extra, "--json", "--views", "2"]) == 0
    with_timeline, alone = (json.loads(line)["predictions"] for line in capsys.readouterr().out.splitlines())
    assert [item["label"] for item in with_timeline] == [item["label"] for item in alone]
    assert [item["probability"] for item in with_timeline] == pytest.approx([item["probability"] for item in alone], abs=1e-4)
    with pytest.raises(SystemExit, match="2"):
        predict.main(["--model-dir", serving_dir, video, "--timeline", "--window-seconds", "0"])
    assert "--window-seconds and --stride-seconds must be finite numbers above 0" in capsys.readouterr().err


def test_serving_frames_agrees_with_predict(pushed, request):
    _, version_dir, data_root = pushed
    classifier = inference_model.VideoClassifier(inference_model.PushedModel.open(version_dir))
    request.addfinalizer(classifier.close)
    serve_frames = tf.saved_model.load(version_dir).signatures["serving_frames"]
    for video in sorted(glob.glob(os.path.join(data_root, "test", "*")))[:3]:
        expected = {item["label"]: item["probability"] for item in classifier.predict(video, top_k=4)}
        outputs = serve_frames(frames=tf.constant(np.stack(every_frame(video, rgb=True))))
        labels = [label.decode() for label in outputs["classes"].numpy()[0]]
        served = dict(zip(labels, outputs["probabilities"].numpy()[0].tolist()))
        assert served.keys() == expected.keys()
        for label, probability in expected.items():
            assert served[label] == pytest.approx(probability, abs=1e-4), video


def test_videos_classified_together_get_the_numbers_each_gets_alone(pushed, tmp_path):
    _, version_dir, data_root = pushed
    bad = tmp_path / "broken.avi"
    bad.write_text("not a video\n" * 50)
    videos = sorted(glob.glob(os.path.join(data_root, "test", "*")))[:5]
    videos.insert(2, str(bad))
    with inference_model.VideoClassifier(inference_model.PushedModel.open(version_dir)) as classifier:
        together = list(classifier.classify_videos(videos, top_k=4))  # frames of several videos share forward passes
        alone = [next(classifier.classify_videos([video], top_k=4)) for video in videos]
    assert [path for path, _, _ in together] == videos
    for (_, batched, frames_batched), (_, single, frames_single) in zip(together, alone):
        if isinstance(single, Exception):
            assert str(batched) == str(single) == "not a readable video (unknown container or codec)"
            continue
        assert frames_batched == frames_single > 0 and [item["label"] for item in batched] == [item["label"] for item in single]
        assert [item["probability"] for item in batched] == pytest.approx([item["probability"] for item in single], abs=1e-4)


def test_multi_view_testing_averages_interleaved_samplings(pushed):
    from frame_path import frames

    _, version_dir, data_root = pushed
    model = inference_model.PushedModel.open(version_dir, views=3)
    max_seq_length, image_size = model.features.max_seq_length, model.features.image_size
    videos = sorted(glob.glob(os.path.join(data_root, "test", "*.avi")), key=declared_frame_count)
    short_video, long_video = videos[0], videos[-1]
    assert declared_frame_count(short_video) <= max_seq_length < declared_frame_count(long_video)
    with inference_model.VideoClassifier(model) as single, inference_model.VideoClassifier(model, views=3) as multi:
        dense = frames.decode_clip(long_video, 3 * max_seq_length, image_size, "uniform").frames
        positions = frames.view_positions(len(dense), max_seq_length, 3)
        assert len(positions) == 3
        expected: dict = {}
        for view in positions:  # each view classified alone, as a clip
            for item in single.classify_frames(dense[view], top_k=4):
                expected[item["label"]] = expected.get(item["label"], 0.0) + item["probability"] / 3
        averaged = {item["label"]: item["probability"] for item in multi.predict(long_video, top_k=4)}
        assert averaged == pytest.approx(expected, abs=1e-4)
        # A clip of at most max_seq_length frames has one view: all its frames, as without views.
        as_dict = lambda predictions: {item["label"]: item["probability"] for item in predictions}  # noqa: E731
        assert as_dict(multi.predict(short_video, top_k=4)) == pytest.approx(as_dict(single.predict(short_video, top_k=4)), abs=1e-6)


def test_bad_views_are_one_line(pushed, tmp_path, capsys):
    serving_dir, version_dir, data_root = pushed
    video = sorted(glob.glob(os.path.join(data_root, "test", "*")))[0]
    with pytest.raises(SystemExit, match="2"):
        predict.main(["--model-dir", serving_dir, video, "--views", "0"])
    assert "--views must be within [1, 16], got 0" in capsys.readouterr().err
    first_sampling = _damaged_copy(version_dir, tmp_path, _setting("sampling", "first"))
    assert predict.main(["--model-dir", first_sampling, video, "--views", "2"]) == 2
    assert capsys.readouterr().err.strip() == "error: --views needs a model trained on 'uniform' samples; this one samples 'first'"


def test_the_lone_serving_default_gives_the_whole_models_numbers(pushed):
    from frame_path.records import make_example

    _, version_dir, _ = pushed
    # Through the Pusher's copy (which drops nested files named saved_model.pb), loaded as VideoClassifier loads it.
    assert os.path.exists(os.path.join(version_dir, inference_model.EXAMPLES_MODEL_DIR, inference_model.EXAMPLES_MODEL_GRAPH))
    lone = inference_model._load_serving_default(version_dir).signatures["serving_default"]
    whole = tf.saved_model.load(version_dir).signatures["serving_default"]
    features_made = inference_model.PushedModel.open(version_dir).features
    max_seq_length = features_made.max_seq_length
    rng = np.random.default_rng(0)
    examples = []
    for valid in (max_seq_length, 3):
        features = (
            rng.normal(size=(max_seq_length, features_made.feature_dim)).astype(np.float32) * (np.arange(max_seq_length) < valid)[:, None]
        )
        examples.append(make_example(features, (np.arange(max_seq_length) < valid).astype(np.int64), "", "clip", valid).SerializeToString())
    lone_outputs, whole_outputs = lone(examples=tf.constant(examples)), whole(examples=tf.constant(examples))
    np.testing.assert_allclose(lone_outputs["probabilities"].numpy(), whole_outputs["probabilities"].numpy(), atol=1e-6)
    assert lone_outputs["classes"].numpy().tolist() == whole_outputs["classes"].numpy().tolist()


def test_the_model_records_how_long_its_training_clips_last(pushed):
    _, version_dir, _ = pushed
    durations = inference_model.PushedModel.open(version_dir).info.train_clip_seconds
    # The demo's clips: 6-40 frames at 25 frames/s.
    assert (
        6 / 25
        <= durations["min"]
        <= durations["quartile_1"]
        <= durations["median"]
        <= durations["quartile_3"]
        <= durations["max"]
        <= 40 / 25
    )


def test_model_dir_resolves_to_the_newest_version(pushed):
    serving_dir, _, _ = pushed
    versions = sorted((name for name in os.listdir(serving_dir)), key=int)
    assert inference_model.resolve_model_dir(serving_dir) == os.path.join(serving_dir, versions[-1])
    with pytest.raises(inference_model.ModelDirError):
        inference_model.resolve_model_dir(os.path.join(serving_dir, "missing"))


def test_model_of_other_backbone_weights_is_refused(pushed, tmp_path):
    _, version_dir, _ = pushed
    other_weights = tmp_path / "other.h5"
    other_weights.write_bytes(b"other weights")
    with pytest.raises(BackboneWeightsError, match="trained on features of backbone weights none"):
        inference_model.PushedModel.open(version_dir, weights=str(other_weights))


def _damaged_copy(version_dir, tmp_path, damage):
    """A copy of the pushed model whose model_info.json `damage(text) -> text` rewrites."""
    import shutil

    copy = tmp_path / "1"
    shutil.copytree(version_dir, copy)
    info_path = copy / inference_model.MODEL_INFO_FILE
    info_path.write_text(damage(info_path.read_text()))
    return str(copy)


def _setting(name, value):
    return lambda text: json.dumps({**json.loads(text), "features": {**json.loads(text)["features"], name: value}})


def _without(key):
    return lambda text: json.dumps({name: value for name, value in json.loads(text).items() if name != key})


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda text: text[: len(text) // 2], "is not valid JSON"),  # truncated
        (_without("labels"), "lacks labels"),
        (_setting("image_size", "x"), "unusable feature setting: image_size must be an integer"),
        (_setting("max_seq_length", 5), "says max_seq_length 5, but the model itself records 8"),
        (_setting("frame_pooling", "max"), "says frame_pooling 'max', but the model itself records 'max+min'"),
        (_setting("frame_pooling", "avg+max"), "says frame_pooling 'avg+max', but the model itself records 'max+min'"),
        (lambda text: json.dumps({**json.loads(text), "labels": json.loads(text)["labels"][::-1]}), "says labels ["),
    ],
    ids=["truncated", "incomplete", "bad-setting", "max-seq-length-mismatch", "pooling-max", "pooling-avg+max", "labels-reordered"],
)
def test_a_damaged_model_info_is_one_line(pushed, tmp_path, capsys, damage, message):
    _, version_dir, data_root = pushed
    video = sorted(glob.glob(os.path.join(data_root, "test", "*")))[0]
    assert predict.main(["--model-dir", _damaged_copy(version_dir, tmp_path, damage), video]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error and "\n" not in error


def test_a_model_info_of_the_older_layout_still_loads(pushed, tmp_path, capsys):
    """Models pushed before the feature settings were a config of their own record the whole extraction config, the
    training machine's batch size, workers and store among them, under "extraction": they load as they did."""
    serving_dir, version_dir, data_root = pushed

    def older(text):
        info = json.loads(text)
        machine = {"frame_batch_size": 32, "decode_workers": 2, "eval_group_fraction": 0.15, "feature_store": "/training/store"}
        return json.dumps(
            {**{name: value for name, value in info.items() if name != "features"}, "extraction": {**info["features"], **machine}}
        )

    copy = _damaged_copy(version_dir, tmp_path, older)
    assert inference_model.PushedModel.open(copy).features == inference_model.PushedModel.open(version_dir).features
    video = sorted(glob.glob(os.path.join(data_root, "test", "*")))[0]
    assert predict.main(["--model-dir", copy, video]) == 0
