"""Every front end offers every extraction setting, from the one ExtractionConfig and the FeatureConfig it composes."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

import pipeline_runner
from frame_path.config import ExtractionConfig
from pipeline import command_line, configs, options, tfx_cli

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIELDS = list(ExtractionConfig().as_dict())  # flat: FeatureConfig's settings among them


def _subcommand_flags(command):
    parser = pipeline_runner.build_parser()
    [subparsers] = [action for action in parser._actions if action.dest == "command"]
    return {flag for action in subparsers.choices[command]._actions for flag in action.option_strings}


@pytest.mark.parametrize("command", ["run", "extract", "compile"])
def test_every_command_has_every_extraction_setting(command):
    assert {options.flag(name) for name in FIELDS} <= _subcommand_flags(command)


def test_only_the_commands_that_train_take_train_spans():
    # compile takes it to refuse it with one line (a Kubeflow spec trains on its run's span only).
    assert {"--span", "--train-spans"} <= _subcommand_flags("run") and {"--span", "--train-spans"} <= _subcommand_flags("compile")
    assert "--span" in _subcommand_flags("extract") and "--train-spans" not in _subcommand_flags("extract")


def test_command_line_values_reach_the_config():
    args = pipeline_runner.build_parser().parse_args(
        ["extract", "--data-root", "d", "--output-dir", "o", "--precision", "bfloat16", "--image-size", "64"]
    )
    assert ExtractionConfig.of(**options.given_values(args, ExtractionConfig)) == ExtractionConfig.of(precision="bfloat16", image_size=64)


def test_decode_workers_reach_the_config_from_the_command_line_and_the_environment(tmp_path):
    assert "--decode-workers" in _subcommand_flags("extract")
    args = pipeline_runner.build_parser().parse_args(["extract", "--data-root", "d", "--output-dir", "o", "--decode-workers", "3"])
    assert ExtractionConfig.of(**options.given_values(args, ExtractionConfig)).decode_workers == 3
    environ = {"VIDEO_OUTPUT_DIR": str(tmp_path), "VIDEO_DATA_ROOT": str(tmp_path), "VIDEO_DECODE_WORKERS": "5"}
    assert tfx_cli.settings_from_environment(environ).pipeline.extraction.decode_workers == 5


def test_environment_values_reach_the_config(tmp_path):
    environ = {
        "VIDEO_OUTPUT_DIR": str(tmp_path),
        "VIDEO_DATA_ROOT": str(tmp_path / "data"),
        "VIDEO_PRECISION": "bfloat16",
        "VIDEO_FRAME_BATCH_SIZE": "64",
        "VIDEO_EPOCHS": "3",
    }
    settings = tfx_cli.settings_from_environment(environ)
    assert settings.pipeline.extraction == ExtractionConfig.of(precision="bfloat16", frame_batch_size=64)
    assert settings.pipeline.extraction.features.precision == "bfloat16"
    assert settings.pipeline.hparams == {"epochs": 3} and settings.metadata_path == str(tmp_path / "metadata.sqlite")


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"VIDEO_IMAGE_SIZE": "4096"}, "VIDEO_IMAGE_SIZE must be at most 512, got 4096"),
        ({"VIDEO_MAX_SEQ_LENGTH": "many"}, "VIDEO_MAX_SEQ_LENGTH must be an integer, got 'many'"),
        ({"VIDEO_SAMPLING": "random"}, "VIDEO_SAMPLING must be one of uniform, first, got 'random'"),
        ({"VIDEO_HPARAMS": "[1]"}, "VIDEO_HPARAMS must be a JSON object"),
        # Hyperparameters named under the variable that set them, unbalanced quotes, NaN.
        ({"VIDEO_HPARAMS": '{"dropout": 3}'}, "VIDEO_HPARAMS dropout must be at most 0.95, got 3.0"),
        ({"VIDEO_HPARAMS": '{"max_seq_length": 4}'}, "VIDEO_HPARAMS max_seq_length is not a hyperparameter"),
        ({"VIDEO_EPOCHS": "0"}, "VIDEO_EPOCHS must be at least 1, got 0"),
        (
            {"VIDEO_BEAM_PIPELINE_ARGS": "--job_name='unbalanced"},
            "VIDEO_BEAM_PIPELINE_ARGS cannot be split as a shell would: no closing quotation",
        ),
        ({"VIDEO_IMAGE_SIZE": "nan"}, "VIDEO_IMAGE_SIZE must be an integer, got 'nan'"),
        ({"VIDEO_EVAL_GROUP_FRACTION": "nan"}, "VIDEO_EVAL_GROUP_FRACTION must be a finite number, got 'nan'"),
    ],
)
def test_bad_environment_values_are_named_as_variables(tmp_path, environ, message):
    with pytest.raises(options.OptionError, match=message.replace("[", r"\[")):
        tfx_cli.settings_from_environment({"VIDEO_OUTPUT_DIR": str(tmp_path), "VIDEO_DATA_ROOT": str(tmp_path), **environ})


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--image-size", "4096"], "error: --image-size must be at most 512, got 4096"),
        (["--hparam", "no_such=1"], "error: --hparam no_such is not a hyperparameter; the known ones are projection_dim"),
    ],
)
def test_bad_command_line_values_are_one_line(tmp_path, capsys, argv, message):
    assert pipeline_runner.main(["run", "--demo", "--output-dir", str(tmp_path), *argv]) == 2
    assert capsys.readouterr().err.startswith(message)


def test_compile_passes_every_setting_and_the_schema_version(tmp_path):
    output_file = str(tmp_path / "pipeline.json")
    argv = [
        "compile",
        "--output-file",
        output_file,
        "--precision",
        "bfloat16",
        "--max-seq-length",
        "12",
        "--epochs",
        "2",
        "--pipeline-spec-2-1",
    ]
    assert pipeline_runner.main(argv) == 0
    with open(output_file) as spec_file:
        spec = json.load(spec_file)["pipelineSpec"]
    assert spec["schemaVersion"] == "2.1.0"
    parameters = spec["root"]["dag"]["tasks"]["VideoExampleGen"]["inputs"]["parameters"]
    assert parameters["precision"]["runtimeValue"]["constant"] == "bfloat16"
    assert parameters["max_seq_length"]["runtimeValue"]["constant"] == 12.0
    trainer_config = json.loads(
        spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]["custom_config"]["runtimeValue"]["constant"]
    )
    assert trainer_config["epochs"] == 2 and trainer_config["max_seq_length"] == 12
    assert "Tuner" not in spec["root"]["dag"]["tasks"]
    assert pipeline_runner.main([*argv, "--tune"]) == 0
    with open(output_file) as spec_file:
        tasks = json.load(spec_file)["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "Tuner" in tasks and "Tuner" in tasks["Trainer"]["dependentTasks"]


def test_compile_gives_beam_options_to_the_beam_components(tmp_path):
    output_file = str(tmp_path / "pipeline.json")
    beam_options = ["--beam_runner=DataflowRunner", "--project=my-project", "--region=us-central1"]
    assert pipeline_runner.main(["compile", "--output-file", output_file, *beam_options]) == 0
    with open(output_file) as spec_file:
        executors = json.load(spec_file)["pipelineSpec"]["deploymentSpec"]["executors"]
    for component in ("VideoExampleGen", "StatisticsGen", "Transform", "Evaluator"):
        args = executors[f"{component}_executor"]["container"]["args"]
        assert {"--runner=DataflowRunner", "--project=my-project", "--region=us-central1"} <= set(args), (component, args)
        assert "--runner=pipeline.beam_engine.LocalRunner" not in args  # the user's runner, not the local engine


@pytest.mark.parametrize("command", ["run", "compile"])
def test_every_command_that_evaluates_has_every_gate_setting(command):
    assert {options.flag(field.name) for field in dataclasses.fields(configs.GateConfig)} <= _subcommand_flags(command)
    assert "--min-test-accuracy" not in _subcommand_flags("extract")


def test_gate_settings_reach_the_config_from_the_command_line_and_the_environment(tmp_path):
    args = pipeline_runner.build_parser().parse_args(
        ["run", "--demo", "--output-dir", "o", "--min-lift-over-majority", "-1", "--min-test-accuracy", "0.25"]
    )
    assert command_line.pipeline_config(args, "d").gate == configs.GateConfig(min_test_accuracy=0.25, min_lift_over_majority=-1.0)
    environ = {
        "VIDEO_OUTPUT_DIR": str(tmp_path),
        "VIDEO_DATA_ROOT": str(tmp_path),
        "VIDEO_MIN_LIFT_OVER_MAJORITY": "0.05",
        "VIDEO_MAX_ACCURACY_REGRESSION": "0.1",
    }
    assert tfx_cli.settings_from_environment(environ).pipeline.gate == configs.GateConfig(
        min_lift_over_majority=0.05, max_accuracy_regression=0.1
    )
    assert (
        tfx_cli.settings_from_environment({"VIDEO_OUTPUT_DIR": str(tmp_path), "VIDEO_DATA_ROOT": str(tmp_path)}).pipeline.gate
        == configs.GateConfig()
    )


def test_compile_writes_the_gate_into_the_evaluators_config(tmp_path):
    output_file = str(tmp_path / "pipeline.json")
    assert (
        pipeline_runner.main(["compile", "--output-file", output_file, "--min-test-accuracy", "0.3", "--min-lift-over-majority", "0.05"])
        == 0
    )
    with open(output_file) as spec_file:
        parameters = json.load(spec_file)["pipelineSpec"]["root"]["dag"]["tasks"]["Evaluator"]["inputs"]["parameters"]
    metrics = json.loads(parameters["eval_config"]["runtimeValue"]["constantValue"]["stringValue"])["metrics_specs"][0]["metrics"]
    thresholds = {metric["class_name"]: metric.get("threshold") for metric in metrics}
    assert thresholds["SparseCategoricalAccuracy"]["value_threshold"]["lower_bound"] == 0.3
    assert thresholds["AccuracyOverMajority"]["value_threshold"]["lower_bound"] == 0.05
    assert {metric["class_name"]: metric.get("module") for metric in metrics}["AccuracyOverMajority"] == "pipeline.gate_metrics"


# A bound outside [0, 1] or not a number is refused by every front end with one line, before TensorFlow or TFX is imported.
_HEAVY_MODULES = ("tensorflow", "keras", "tfx", "tensorflow_model_analysis", "apache_beam")
_CHECK_IMPORTS = (
    "import runpy, sys\n"
    "try:  # pipeline_runner.py ARGV, or the tfx CLI's tfx_pipeline.py without arguments\n"
    "    code = __import__('pipeline_runner').main(sys.argv[1:]) if sys.argv[1:] else runpy.run_path('tfx_pipeline.py', "
    "run_name='__main__')\n"
    "except SystemExit as exit:\n"
    "    code = exit.code\n"
    f"print(code, [name for name in {_HEAVY_MODULES!r} if name in sys.modules])"
)


@pytest.mark.parametrize("value", ["2", "-1", "nan", "inf"])
@pytest.mark.parametrize("front_end", ["run", "compile", "tfx"])
def test_a_gate_bound_out_of_range_is_one_line_before_heavy_imports(tmp_path, front_end, value):
    environ = {**os.environ, "VIDEO_OUTPUT_DIR": str(tmp_path / "out")}
    argv = {
        "run": ["run", "--demo", "--output-dir", str(tmp_path / "out"), "--min-test-accuracy", value],
        "compile": ["compile", "--output-file", str(tmp_path / "pipeline.json"), "--min-test-accuracy", value],
        "tfx": [],  # as the tfx CLI runs tfx_pipeline.py: no arguments, VIDEO_* variables
    }[front_end]
    if front_end == "tfx":
        environ["VIDEO_MIN_TEST_ACCURACY"] = value
    result = subprocess.run(
        [sys.executable, "-c", _CHECK_IMPORTS, *argv], cwd=PROJECT_ROOT, env=environ, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.split("\n")[0] == "2 []", result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    name = "VIDEO_MIN_TEST_ACCURACY" if front_end == "tfx" else "--min-test-accuracy"
    assert line.startswith(f"error: {name} must be ")
    assert not os.path.exists(tmp_path / "out") and not os.path.exists(tmp_path / "pipeline.json")
