"""Every front end offers every extraction setting, from the one ExtractionConfig; layers point down only."""
import ast
import dataclasses
import glob
import json
import os

import pytest

import pipeline_runner
from frame_path.config import ExtractionConfig
from pipeline import options, tfx_cli

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIELDS = [field.name for field in dataclasses.fields(ExtractionConfig)]


def _subcommand_flags(command):
    parser = pipeline_runner.build_parser()
    [subparsers] = [action for action in parser._actions if action.dest == "command"]
    return {flag for action in subparsers.choices[command]._actions for flag in action.option_strings}


@pytest.mark.parametrize("command", ["run", "extract", "compile"])
def test_every_command_has_every_extraction_setting(command):
    assert {options.flag(name) for name in FIELDS} <= _subcommand_flags(command)


def test_command_line_values_reach_the_config():
    args = pipeline_runner.build_parser().parse_args(["extract", "--data-root", "d", "--output-dir", "o", "--precision", "bfloat16", "--image-size", "64"])
    assert options.build(ExtractionConfig, options.given_values(args, ExtractionConfig)) == ExtractionConfig(precision="bfloat16", image_size=64)


def test_decode_workers_reach_the_config_from_the_command_line_and_the_environment(tmp_path):
    assert "--decode-workers" in _subcommand_flags("extract")
    args = pipeline_runner.build_parser().parse_args(["extract", "--data-root", "d", "--output-dir", "o", "--decode-workers", "3"])
    assert options.build(ExtractionConfig, options.given_values(args, ExtractionConfig)).decode_workers == 3
    environ = {"VIDEO_OUTPUT_DIR": str(tmp_path), "VIDEO_DATA_ROOT": str(tmp_path), "VIDEO_DECODE_WORKERS": "5"}
    assert tfx_cli.settings_from_environment(environ).pipeline.extraction.decode_workers == 5


def test_environment_values_reach_the_config(tmp_path):
    environ = {"VIDEO_OUTPUT_DIR": str(tmp_path), "VIDEO_DATA_ROOT": str(tmp_path / "data"), "VIDEO_PRECISION": "bfloat16", "VIDEO_FRAME_BATCH_SIZE": "64", "VIDEO_EPOCHS": "3"}
    settings = tfx_cli.settings_from_environment(environ)
    assert settings.pipeline.extraction == ExtractionConfig(precision="bfloat16", frame_batch_size=64)
    assert settings.pipeline.hparams == {"epochs": 3} and settings.metadata_path == str(tmp_path / "metadata.sqlite")


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"VIDEO_IMAGE_SIZE": "4096"}, "VIDEO_IMAGE_SIZE must be at most 512, got 4096"),
        ({"VIDEO_MAX_SEQ_LENGTH": "many"}, "VIDEO_MAX_SEQ_LENGTH must be an integer, got 'many'"),
        ({"VIDEO_SAMPLING": "random"}, "VIDEO_SAMPLING must be one of uniform, first, got 'random'"),
        ({"VIDEO_HPARAMS": "[1]"}, "VIDEO_HPARAMS must be a JSON object"),
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
    argv = ["compile", "--output-file", output_file, "--precision", "bfloat16", "--max-seq-length", "12", "--epochs", "2", "--pipeline-spec-2-1"]
    assert pipeline_runner.main(argv) == 0
    with open(output_file) as spec_file:
        spec = json.load(spec_file)["pipelineSpec"]
    assert spec["schemaVersion"] == "2.1.0"
    parameters = spec["root"]["dag"]["tasks"]["VideoExampleGen"]["inputs"]["parameters"]
    assert parameters["precision"]["runtimeValue"]["constant"] == "bfloat16"
    assert parameters["max_seq_length"]["runtimeValue"]["constant"] == 12.0
    trainer_config = json.loads(spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]["custom_config"]["runtimeValue"]["constant"])
    assert trainer_config["epochs"] == 2 and trainer_config["max_seq_length"] == 12
    assert "Tuner" not in spec["root"]["dag"]["tasks"]
    assert pipeline_runner.main([*argv, "--tune"]) == 0
    with open(output_file) as spec_file:
        tasks = json.load(spec_file)["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "Tuner" in tasks and "Tuner" in tasks["Trainer"]["dependentTasks"]


def _imported_modules(path):
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("package", ["components", "trainer", "video_datasets", "frame_path"])
def test_lower_layers_never_import_the_pipeline_layer(package):
    for path in glob.glob(os.path.join(PROJECT_ROOT, package, "**", "*.py"), recursive=True):
        offending = [module for module in _imported_modules(path) if module == "pipeline" or module.startswith("pipeline.") or module == "pipeline_runner"]
        assert not offending, f"{os.path.relpath(path, PROJECT_ROOT)} imports {offending}"
