"""`tfx pipeline create` + `tfx run create` (local engine) on tfx_pipeline.py, tiny demo data, for real."""

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ONE_STREAM_HPARAMS

pytestmark = pytest.mark.e2e  # whole-pipeline runs

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PIPELINE_PATH = os.path.join(PROJECT_DIR, "tfx_pipeline.py")
PIPELINE_NAME = "tfx-cli-test"
CLI_TIMEOUT_S = 600


def _tfx_executable():
    beside_python = os.path.join(os.path.dirname(sys.executable), "tfx")
    return beside_python if os.path.exists(beside_python) else shutil.which("tfx")


def _tfx(env, cwd, *arguments):
    result = subprocess.run([_tfx_executable(), *arguments], env=env, cwd=cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert result.returncode == 0, (
        f"tfx {' '.join(arguments)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    return result


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, demo_dataset):
    assert _tfx_executable() is not None, "no `tfx` executable beside the interpreter or on PATH"
    work_dir = tmp_path_factory.mktemp("tfx_cli")
    output_dir = work_dir / "output"
    tfx_home = work_dir / "tfx_home"
    data_root = demo_dataset(4, 1)
    env = {
        **os.environ,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "LOCAL_HOME": str(tfx_home),  # where the CLI records pipelines, instead of ~/tfx/local
        "VIDEO_PIPELINE_NAME": PIPELINE_NAME,
        "VIDEO_OUTPUT_DIR": str(output_dir),
        "VIDEO_DATA_ROOT": data_root,
        "VIDEO_WEIGHTS": "none",
        "VIDEO_MAX_SEQ_LENGTH": "8",
        "VIDEO_IMAGE_SIZE": "32",
        "VIDEO_EPOCHS": "2",
        "VIDEO_HPARAMS": json.dumps(ONE_STREAM_HPARAMS),
        # First run, no baseline, gate off: always blessed, so always pushed.
        "VIDEO_MIN_TEST_ACCURACY": "0",
        "VIDEO_MIN_LIFT_OVER_MAJORITY": "-1",
    }
    # From another folder: the CLI must not depend on the current directory.
    create = _tfx(env, str(work_dir), "pipeline", "create", "--engine", "local", "--pipeline_path", PIPELINE_PATH)
    ran_at_create = os.path.exists(output_dir / "pipeline_root")
    run = _tfx(env, str(work_dir), "run", "create", "--engine", "local", "--pipeline_name", PIPELINE_NAME)
    return {"create": create, "run": run, "ran_at_create": ran_at_create, "output_dir": output_dir, "tfx_home": tfx_home}


def test_pipeline_create_records_the_pipeline_without_running_it(cli_run):
    assert f'Pipeline "{PIPELINE_NAME}" created successfully.' in cli_run["create"].stdout
    with open(cli_run["tfx_home"] / PIPELINE_NAME / "pipeline_args.json") as args_file:
        pipeline_args = json.load(args_file)
    assert pipeline_args["pipeline_dsl_path"] == PIPELINE_PATH
    assert pipeline_args["pipeline_root"] == str(cli_run["output_dir"] / "pipeline_root")
    assert not cli_run["ran_at_create"]


def test_run_create_trains_and_pushes_a_model(cli_run):
    output_dir = cli_run["output_dir"]
    assert glob.glob(str(output_dir / "pipeline_root" / "Trainer" / "model" / "*" / "Format-Serving" / "saved_model.pb"))
    assert glob.glob(str(output_dir / "serving" / "*" / "saved_model.pb"))
    assert (output_dir / "metadata.sqlite").exists()
    # The same account as `pipeline_runner.py run` gives: the summary, the report and the console's lines.
    with open(output_dir / "run_summary.json") as summary_file:
        summary = json.load(summary_file)
    assert summary["blessed"] and summary["pushed_model_dir"] and summary["status"] == "complete"
    assert (output_dir / "report" / "report.md").exists()
    assert "Run summary (" in cli_run["run"].stdout and "evaluator    BLESSED" in cli_run["run"].stdout


def test_environment_variables_reach_the_components(cli_run):
    [report_path] = glob.glob(
        str(cli_run["output_dir"] / "pipeline_root" / "VideoExampleGen" / "examples" / "*" / "extraction_report.json")
    )
    with open(report_path) as report_file:
        report = json.load(report_file)
    assert (report["max_seq_length"], report["image_size"], report["weights"]) == (8, 32, "none")
