"""A rerun whose Trainer comes from the cache: the candidate is the last blessed model itself."""

import os

import pytest

from tests.conftest import GATE_OFF, ONE_STREAM, run_pipeline


@pytest.mark.e2e
def test_a_rerun_with_a_cached_trainer_gives_one_account_of_the_baseline_and_pushes_nothing_new(demo_dataset, tmp_path, capsys):
    data_root, output_dir = demo_dataset(3, 1), str(tmp_path / "out")
    options = ("--epochs", "1", *GATE_OFF, *ONE_STREAM)
    first = run_pipeline(data_root, output_dir, *options)
    assert first["blessed"] and first["pushed_model_dir"]
    capsys.readouterr()

    rerun = run_pipeline(data_root, output_dir, *options)

    assert "Trainer" in rerun["cached_components"] and rerun["model_uri"] == first["model_uri"]
    # The baseline is the candidate itself: TFMA compared the model with itself, and every part of the summary says so.
    assert rerun["baseline_model_uri"] == rerun["model_uri"] and rerun["baseline_is_candidate"]
    assert rerun["baseline_test_accuracy"] == rerun["test_accuracy"] and rerun["gate"]["accuracy_change_vs_baseline"] == 0
    assert os.listdir(os.path.join(output_dir, "serving")) == [os.path.basename(first["pushed_model_dir"])]
    assert rerun["pushed_model_dir"] is None and rerun["already_pushed_as"] == first["pushed_model_dir"]
    console = capsys.readouterr().out
    assert "the last blessed model is this very model (the Trainer came from the cache)" in console
    assert f"pushed       nothing new: this model is already {first['pushed_model_dir']}" in console
    report = open(os.path.join(output_dir, "report", "report.md"), encoding="utf-8").read()
    assert "Baseline: none" not in report and "the candidate itself" in report
