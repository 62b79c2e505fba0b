"""Every option and environment variable checked strictly, in one line, before TensorFlow or TFX is imported."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline import tfx_cli
from pipeline.options import OptionError
from tests.helpers import run_pipeline_runner

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs pipeline_runner.main(ARGV) (no ARGV: tfx_pipeline.py's tfx_cli.main) in a fresh interpreter and then says
# whether TensorFlow or TFX were imported.
_MAIN_THEN_IMPORTS = (
    "import sys, pipeline_runner; from pipeline import tfx_cli; code = pipeline_runner.main(sys.argv[1:]) if "
    "sys.argv[1:] else tfx_cli.main(); "
    "print('imported:', sorted(name for name in ('tensorflow', 'tfx', 'keras') if name in sys.modules)); sys.exit(code)"
)


def _refusal(*argv: str, env: dict[str, str] | None = None) -> str:
    """The one error line of `pipeline_runner.py ARGV`, which must fail (exit 2) without importing TensorFlow or TFX."""
    result = subprocess.run(
        [sys.executable, "-c", _MAIN_THEN_IMPORTS, *argv],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "imported: []" in result.stdout, result.stdout
    error = result.stderr.strip()
    assert error.startswith("error: ") and "\n" not in error, error
    return error


@pytest.mark.parametrize(
    "hparam, message",
    [
        ("learning_rate=Infinity", "--hparam learning_rate must be a finite number, got inf"),
        ("feature_noise=NaN", "--hparam feature_noise must be a finite number, got nan"),
        ("max_seq_length=4", "--hparam max_seq_length is not a hyperparameter: it is fixed by the extraction setting"),
        ("feature_dim=7", "--hparam feature_dim is not a hyperparameter: it is fixed by the backbone (2048)"),
        ("appearance_feature_dim=7", "--hparam appearance_feature_dim is not a hyperparameter: it is fixed by the backbone (1024)"),
        ("dropout=abc", "--hparam dropout must be a finite number, got 'abc'"),
        ("batch_size=100000", "--hparam batch_size must be at most 4096"),
        ("num_layers=10000", "--hparam num_layers must be at most 32"),
        ("num_head=2", "--hparam num_head is not a hyperparameter; the known ones are"),
    ],
)
def test_bad_hyperparameters_are_refused_at_once(tmp_path, hparam, message):
    assert message in _refusal("run", "--demo", "--output-dir", str(tmp_path), "--hparam", hparam)
    assert not os.path.exists(tmp_path / "demo_data")


def test_bad_epochs_name_the_option_given(tmp_path):
    assert "--epochs must be at least 1, got 0" in _refusal("run", "--demo", "--output-dir", str(tmp_path), "--epochs", "0")


@pytest.mark.parametrize(
    "options, message",
    [
        (["--gpus", "-1"], "--gpus must be at least 0, got -1"),
        (["--extraction-gpus"], "--extraction-gpus needs GPUs for the Trainer (--gpus 1 or more)"),
        (["--train-spans", "2"], "--train-spans must be 1 in a Kubeflow Pipelines v2 spec"),
        (["--hparam", "num_head=2"], "--hparam num_head is not a hyperparameter"),
        (["--image", ""], "--image must name the container image built from this project's Dockerfile"),
        (["--image", " "], "--image must name"),
    ],
)
def test_compile_refuses_bad_options_before_tfx_is_imported(tmp_path, options, message):
    assert message in _refusal("compile", "--output-file", str(tmp_path / "pipeline.json"), *options)
    assert not os.path.exists(tmp_path / "pipeline.json")


def test_compile_into_a_missing_folder_is_one_line(tmp_path):
    missing = tmp_path / "no" / "such" / "pipeline.json"
    assert f"folder {missing.parent} does not exist" in _refusal("compile", "--output-file", str(missing))
    assert "is a folder" in _refusal("compile", "--output-file", str(tmp_path))


def _environment(tmp_path, **variables: str) -> dict[str, str]:
    return {"VIDEO_OUTPUT_DIR": str(tmp_path / "out"), "VIDEO_DATA_ROOT": str(tmp_path / "data"), **variables}


@pytest.mark.parametrize(
    "text, expected", [("off", False), ("0", False), ("No", False), ("false", False), ("on", True), ("1", True), ("YES", True)]
)
def test_environment_flags_mean_what_they_say(tmp_path, text, expected):
    settings = tfx_cli.settings_from_environment(_environment(tmp_path, VIDEO_TUNE=text, VIDEO_ENABLE_CACHE=text))
    assert settings.pipeline.enable_tuning is expected and settings.enable_cache is expected


@pytest.mark.parametrize("variable", ["VIDEO_TUNE", "VIDEO_ENABLE_CACHE"])
@pytest.mark.parametrize("text", ["n", "maybe", "2", "nein"])
def test_an_unknown_flag_value_is_an_error(tmp_path, variable, text):
    with pytest.raises(OptionError, match=f"^{variable} must be one of 1/true/yes/on or 0/false/no/off, got '{text}'$"):
        tfx_cli.settings_from_environment(_environment(tmp_path, **{variable: text}))


def test_the_tfx_cli_entry_refuses_bad_variables_before_tfx_is_imported(tmp_path):
    # `tfx run create` runs tfx_pipeline.py, i.e. tfx_cli.main().
    assert "VIDEO_TUNE must be one of" in _refusal(env=_environment(tmp_path, VIDEO_TUNE="maybe"))


@pytest.mark.parametrize(
    "command, options, message",
    [
        ("extract", ["--max_seq_length", "10"], "unknown option --max_seq_length: did you mean --max-seq-length?"),
        ("extract", ["--imagesize", "64"], "unknown option --imagesize: did you mean --image-size?"),
        ("extract", ["stray", "10"], "unexpected argument 'stray'"),
        ("run", ["--epochz", "3"], "unknown option --epochz: did you mean --epochs?"),
        ("run", ["--direct_num_workerz=2"], "unknown option --direct_num_workerz: did you mean --direct_num_workers?"),
        ("run", ["--epochs", "3", "--hparam", "epochs=5"], "--epochs and --hparam epochs both set the epochs: give one"),
        ("run", ["--hparam", "dropout=0.1", "--hparam", "dropout=0.2"], "--hparam dropout is given twice"),
        ("infer", ["--topk", "3"], "unknown option --topk: did you mean --top-k?"),
    ],
)
def test_an_option_no_one_knows_is_refused_with_the_closest_known_one(tmp_path, command, options, message):
    """An unknown option or a stray word never reaches Beam, which would drop it with a warning the console hides."""
    inputs = {
        "extract": ["--data-root", str(tmp_path), "--output-dir", str(tmp_path / "out")],
        "run": ["--demo", "--output-dir", str(tmp_path / "out")],
        "infer": ["--videos", str(tmp_path), "--model-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")],
    }[command]
    assert message in _refusal(command, *inputs, *options)
    assert not os.path.exists(tmp_path / "out")


def test_beam_options_pass_when_beam_knows_them_and_anything_after_a_double_dash():
    from pipeline.options import beam_args_of

    assert beam_args_of(["--direct_num_workers=2", "--direct_running_mode", "multi_processing"]) == [
        "--direct_num_workers=2",
        "--direct_running_mode",
        "multi_processing",
    ]
    assert beam_args_of(["--beam_runner=DataflowRunner", "--project=p"]) == ["--runner=DataflowRunner", "--project=p"]
    assert beam_args_of([], ["--my_own_option=1", "word"]) == ["--my_own_option=1", "word"]
    with pytest.raises(OptionError, match="^unknown option --projekt: did you mean --project\\?$"):
        beam_args_of(["--projekt=p"])
    with pytest.raises(OptionError, match="direct_num_workers.*invalid int value"):
        beam_args_of(["--direct_num_workers=two"])


def test_the_tfx_cli_refuses_epochs_given_twice(tmp_path):
    with pytest.raises(OptionError, match="^VIDEO_EPOCHS and VIDEO_HPARAMS epochs both set the epochs: give one$"):
        tfx_cli.settings_from_environment(_environment(tmp_path, VIDEO_EPOCHS="3", VIDEO_HPARAMS='{"epochs": 5}'))


def test_predict_names_the_closest_option(tmp_path):
    result = subprocess.run(
        [sys.executable, "predict.py", "--model-dir", str(tmp_path), "--topk", "3", "clip.avi"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("unknown option --topk: did you mean --top-k?"), result.stderr


def test_the_tfx_cli_entry_checks_the_inputs_as_run_does(tmp_path):
    """`tfx run create` runs tfx_pipeline.py: the data's checks come before any component, in one line."""
    (tmp_path / "data").mkdir()
    assert "no recognizable dataset in" in _refusal(env=_environment(tmp_path))


@pytest.mark.parametrize("option", ["--window-seconds", "--stride-seconds"])
def test_an_infinite_timeline_window_is_one_line_before_anything_is_written(tmp_path, option):
    (tmp_path / "clip.avi").write_bytes(b"x")
    options = ["--videos", str(tmp_path / "clip.avi"), "--model-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")]
    assert "must be finite numbers above 0" in _refusal("infer", *options, "--timeline", option, "inf")
    assert not os.path.exists(tmp_path / "out")


def test_the_tfx_cli_refuses_a_beam_option_beam_does_not_know(tmp_path):
    with pytest.raises(
        OptionError, match="^VIDEO_BEAM_PIPELINE_ARGS: unknown option --direct_num_workerz: did you mean --direct_num_workers\\?$"
    ):
        tfx_cli.settings_from_environment(_environment(tmp_path, VIDEO_BEAM_PIPELINE_ARGS="--direct_num_workerz=2"))
    settings = tfx_cli.settings_from_environment(_environment(tmp_path, VIDEO_BEAM_PIPELINE_ARGS="--direct_num_workers=2"))
    assert settings.beam_args == ("--direct_num_workers=2",)


def test_a_flink_master_without_the_flink_runner_is_refused(tmp_path):
    result = run_pipeline_runner(
        "extract", "--data-root", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--flink-master", "jm:8081"
    )
    assert result.returncode == 2 and "--flink-master goes with --runner flink" in result.stderr.strip().splitlines()[-1]
