"""`pipeline_runner.py infer` on the model the tiny local pipeline run pushed: the same numbers as predict.py,
in process, on 2 Beam worker processes and through a job service's worker pool; bad inputs as error lines or
one-line refusals."""

import glob
import json
import os

import pytest

import pipeline_runner
from inference import model as inference_model
from tests.beam_workers import job_service_and_worker_pool, worker_traces
from tests.helpers import PROJECT_ROOT
from tests.kfp_launcher import run_spec


@pytest.fixture(scope="module")
def serving(local_runs, data_root):
    output_dir, _, _ = local_runs
    return os.path.join(output_dir, "serving"), sorted(glob.glob(os.path.join(data_root, "test", "*")))


def _infer(tmp_path, serving_dir, *paths, extra=(), exit_code=0):
    """infer's results and summary; its exit code is 1 when a video could not be read, as predict.py's."""
    output_dir = tmp_path / "inferred"
    assert (
        pipeline_runner.main(
            ["infer", "--videos", *paths, "--model-dir", serving_dir, "--output-dir", str(output_dir), "--top-k", "4", *extra]
        )
        == exit_code
    )
    with open(output_dir / "predictions.jsonl") as predictions_file:
        results = [json.loads(line) for line in predictions_file]
    with open(output_dir / "inference_summary.json") as summary_file:
        return results, json.load(summary_file)


def _assert_as_predict_gives(results, serving_dir, views=1):
    with inference_model.VideoClassifier(inference_model.PushedModel.open(serving_dir), views) as classifier:
        expected_by_video = {result["video"]: classifier.predict(result["video"], top_k=4) for result in results}  # one video at a time
    for result in results:
        expected = {item["label"]: item["probability"] for item in expected_by_video[result["video"]]}
        inferred = {item["label"]: item["probability"] for item in result["predictions"]}
        assert inferred.keys() == expected.keys()
        assert all(abs(inferred[label] - expected[label]) <= 1e-4 for label in expected), (result, expected)


def test_infer_a_folder_and_a_bad_file_in_process(serving, tmp_path):
    serving_dir, test_videos = serving
    bad = tmp_path / "broken.avi"
    bad.write_text("not a video\n" * 50)
    folder = os.path.dirname(test_videos[0])
    timeline = ["--timeline", "--window-seconds", "0.2", "--stride-seconds", "0.1"]
    results, summary = _infer(tmp_path, serving_dir, folder, str(bad), extra=timeline, exit_code=1)
    videos = sorted(path for path in test_videos if path.lower().endswith((".avi", ".mp4")))
    assert [result["video"] for result in results] == videos + [str(bad)]  # in the order listed
    assert results[-1] == {"video": str(bad), "error": "not a readable video (unknown container or codec)"}
    _assert_as_predict_gives(results[:-1], serving_dir)
    for result in results[:-1]:
        probabilities = [item["probability"] for item in result["predictions"]]
        assert probabilities == sorted(probabilities, reverse=True) and len(probabilities) == 4
    assert summary["videos"] == len(videos) + 1 and summary["predicted"] == len(videos)
    assert summary["failed"] == [{"video": str(bad), "reason": results[-1]["error"]}]
    assert summary["frames"] == sum(result["frames"] for result in results[:-1]) > 0
    for result in results[:-1]:  # the timeline: windows of 0.2 s, segments tiling them without overlap
        windows, segments = result["windows"], result["segments"]
        assert len(windows) >= 2 and all(len(window["predictions"]) == 4 for window in windows)
        assert segments[0]["start_s"] == 0 and segments[-1]["end_s"] == windows[-1]["end_s"]
        assert all(before["end_s"] == after["start_s"] for before, after in zip(segments, segments[1:]))
    pictures = sorted(os.listdir(tmp_path / "inferred" / "timelines"))
    assert len(pictures) == len(videos) and all(name.endswith(".png") for name in pictures)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--videos", "{missing}"], "does not exist"),
        (["--videos", "{empty}"], "holds no video files"),
        (["--videos", "{empty}/*.avi"], "matches no video files"),
        (["--top-k", "0"], "--top-k must be at least 1"),
        (["--views", "17"], "--views must be within [1, 16], got 17"),
        (["--model-dir", "{empty}"], "holds no saved model"),
    ],
)
def test_bad_infer_inputs_are_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "clip.avi").write_bytes(b"x")
    given = {"--videos": [str(tmp_path / "clip.avi")], "--model-dir": [str(tmp_path / "empty")], "--output-dir": [str(tmp_path / "out")]}
    names = {"missing": str(tmp_path / "missing"), "empty": str(tmp_path / "empty")}
    given[argv[0]] = [argv[1].format(**names)]
    flat = [item for option, values in given.items() for item in (option, *values)]
    assert pipeline_runner.main(["infer", *flat]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and message in line, line


def test_infer_with_views_on_two_worker_processes(serving, tmp_path, monkeypatch):
    serving_dir, test_videos = serving
    # Workers import this project's code by module path, whatever their working directory.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [PROJECT_ROOT, os.environ.get("PYTHONPATH")])))
    two_workers = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    results, summary = _infer(tmp_path, serving_dir, *test_videos[:3], extra=["--views", "2", *two_workers])
    assert [result["video"] for result in results] == test_videos[:3]
    _assert_as_predict_gives(results, serving_dir, views=2)


def test_infer_through_a_job_service_and_its_worker_pool(serving, tmp_path, worker_trace):
    serving_dir, test_videos = serving
    (tmp_path / "services").mkdir()
    with job_service_and_worker_pool(str(tmp_path / "services")) as (job_port, pool_port):
        portable = [
            "--beam_runner=PortableRunner",
            f"--job_endpoint=localhost:{job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{pool_port}",
        ]
        results, summary = _infer(tmp_path, serving_dir, *test_videos[:2], extra=portable)
    assert [result["video"] for result in results] == test_videos[:2] and summary["predicted"] == 2
    _assert_as_predict_gives(results, serving_dir)
    traces = worker_traces(worker_trace)  # the pool's workers, never this process, ran the model
    assert os.getpid() not in traces and any("inference.beam" in modules for _, modules in traces.values()), traces


def test_an_inference_request_travels_whole_as_json():
    from inference.batch import InferenceRequest
    from inference.timeline import TimelineConfig

    request = InferenceRequest(("clips/", "more/*.mp4"), "serving", 3, None, TimelineConfig(2.0, None, 0.6), views=2)
    assert InferenceRequest.from_json(request.to_json()) == request
    assert InferenceRequest.from_json(InferenceRequest(("one.avi",), "serving").to_json()).timeline is None
    with pytest.raises(ValueError, match="--top-k must be at least 1"):
        InferenceRequest(("one.avi",), "serving", top_k=0)


def test_compiled_inference_spec_runs_step_by_step(serving, tmp_path):
    """compile-inference's Kubeflow v2 spec, its VideoInference container run as the KFP launcher runs it: the numbers of predict.py."""
    serving_dir, test_videos = serving
    spec_path = tmp_path / "inference.json"
    videos = test_videos[:2]
    command = [
        "compile-inference",
        "--output-file",
        str(spec_path),
        "--videos",
        *videos,
        "--model-dir",
        serving_dir,
        "--top-k",
        "4",
        "--pipeline-root",
        str(tmp_path / "root"),
    ]
    assert pipeline_runner.main(command) == 0
    (tmp_path / "logs").mkdir()
    launcher = run_spec(spec_path, tmp_path / "logs")
    assert launcher.executed == [("VideoInference", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor")]
    [result_artifact] = launcher.outputs["VideoInference"]["inference_result"]
    assert "InferenceResult" in json.dumps(result_artifact["type"])  # the schema names TFX's type
    with open(os.path.join(result_artifact["uri"], "predictions.jsonl")) as predictions_file:
        results = [json.loads(line) for line in predictions_file]
    assert [result["video"] for result in results] == videos
    _assert_as_predict_gives(results, serving_dir)
    with open(os.path.join(result_artifact["uri"], "inference_summary.json")) as summary_file:
        assert json.load(summary_file)["predicted"] == 2
    assert {key: value for key, value in result_artifact["metadata"].items() if key in ("videos", "predicted", "failed")} == {
        "videos": 2,
        "predicted": 2,
        "failed": 0,
    }


def test_a_folder_gives_every_video_container_and_lists_what_it_ignores(tmp_path):
    from inference.videos import list_videos

    containers = [
        ".avi",
        ".mp4",
        ".mkv",
        ".mov",
        ".webm",
        ".mpg",
        ".mpeg",
        ".m4v",
        ".wmv",
        ".flv",
        ".3gp",
        ".ts",
        ".mts",
        ".M2TS",
        ".ogv",
        ".vob",
        ".divx",
    ]
    for extension in containers:
        (tmp_path / f"clip{extension}").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")
    (tmp_path / "cover.JPG").write_bytes(b"x")
    listed = list_videos([str(tmp_path)])
    assert sorted(listed.videos) == sorted(str(tmp_path / f"clip{extension}") for extension in containers)
    assert listed.ignored == [str(tmp_path / "cover.JPG"), str(tmp_path / "notes.txt")]
    assert list_videos([str(tmp_path / "*")]).ignored == listed.ignored
