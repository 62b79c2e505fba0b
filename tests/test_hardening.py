"""Bad input across extract, run and predict: a reported skip with its reason, or one clear line and a non-zero exit."""

import csv
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ODD_VALID_CLIPS, SKIPPED_CLIPS
from tests.helpers import run_pipeline_runner

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _keras_layout(root, train_rows, test_rows, header=("video_name", "tag")):
    for split, rows in (("train", train_rows), ("test", test_rows)):
        os.makedirs(root / split, exist_ok=True)
        with open(root / f"{split}.csv", "w", newline="") as csv_file:
            writer = csv.writer(csv_file)
            writer.writerow(header)
            writer.writerows(rows)
    return str(root)


TRAIN_ROWS = [("v_A_g08_c01.avi", "A"), ("v_B_g09_c01.avi", "B"), ("v_A_g10_c01.avi", "A")]
BAD_DATASETS = {
    "dot-dot name": (lambda root: _keras_layout(root, TRAIN_ROWS + [("../escape.avi", "A")], [("v_A_g01_c01.avi", "A")]), ".."),
    "label only in test": (lambda root: _keras_layout(root, TRAIN_ROWS, [("v_C_g01_c01.avi", "C")]), "C"),
    "csv without tag": (lambda root: _keras_layout(root, TRAIN_ROWS, [("v_A_g01_c01.avi", "A")], header=("video_name", "label")), "tag"),
    "empty folder": (lambda root: str(root), "no recognizable dataset"),
}


@pytest.mark.parametrize("command", ["extract", "run"])
@pytest.mark.parametrize("case", sorted(BAD_DATASETS))
def test_bad_dataset_is_one_clear_line(tmp_path, command, case):
    make_dataset, expected_text = BAD_DATASETS[case]
    data_root = make_dataset(tmp_path / "data")
    os.makedirs(data_root, exist_ok=True)
    result = run_pipeline_runner(command, "--data-root", data_root, "--output-dir", str(tmp_path / "out"), "--weights", "none")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected_text in line


def test_predict_reports_each_bad_video_and_classifies_the_odd_valid_ones(local_runs, data_root):
    output_dir = local_runs[0]
    bad = [os.path.join(data_root, "train", name) for name in SKIPPED_CLIPS]
    odd = [os.path.join(data_root, "test", name) for name in ODD_VALID_CLIPS]
    result = subprocess.run(
        [sys.executable, "predict.py", "--model-dir", os.path.join(output_dir, "serving"), "--json", *bad, *odd],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = {line["video"]: line for line in map(json.loads, result.stdout.splitlines())}
    for path in bad:
        assert lines[path]["error"].startswith(SKIPPED_CLIPS[os.path.basename(path)])
    for path in odd:
        assert len(lines[path]["predictions"]) == 4


def test_predict_with_no_model_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "predict.py", "--model-dir", str(tmp_path), "clip.avi"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"error: {tmp_path} holds no saved model (neither saved_model.pb nor numbered version folders)"
    ]
