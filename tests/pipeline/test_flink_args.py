"""--runner flink's Beam arguments (pipeline/flink.py), and how the front ends hand them to the components.
The runs on a Flink cluster are tests/pipeline/test_flink.py's."""

import dataclasses

from apache_beam.options.pipeline_options import PipelineOptions

import pipeline_runner
from pipeline import flink
from pipeline.beam_plugin import with_default_beam_args
from pipeline.configs import PipelineConfig
from pipeline.runner import RunSettings


def _options(args):
    return PipelineOptions(args).get_all_options(drop_default=True, retain_unknown_options=True)


def test_flink_args_send_the_work_to_the_job_server_with_parallelism_2_and_the_worker_pool():
    options = _options(flink.with_flink_args([]))
    assert options["runner"] == "FlinkRunner"
    assert options["job_endpoint"] == "localhost:8099"
    assert options["flink_master"] == "localhost:8081"
    assert options["parallelism"] == 2
    assert (options["environment_type"], options["environment_config"]) == ("EXTERNAL", "localhost:50000")


def test_a_users_explicit_beam_options_win():
    args = flink.with_flink_args(["--parallelism=4", "--job_endpoint=cluster:8099"], "jobmanager:8081")
    options = _options(args)
    assert (options["parallelism"], options["job_endpoint"], options["flink_master"]) == (4, "cluster:8099", "jobmanager:8081")
    assert args.count("--parallelism=4") == 1 and not any(arg.startswith("--parallelism=2") for arg in args)
    # Another environment: the pool's address is not given to it.
    docker = _options(flink.with_flink_args(["--environment_type=DOCKER"]))
    assert docker["environment_type"] == "DOCKER" and "environment_config" not in docker


def test_the_local_engine_is_kept_unless_the_runner_is_flink():
    assert flink.beam_args_for("local", None, ["--direct_num_workers=2"]) == ("--direct_num_workers=2",)
    on_flink = with_default_beam_args(flink.beam_args_for("flink", None, []))
    assert "--runner=FlinkRunner" in on_flink
    assert not any("LocalRunner" in arg for arg in on_flink)  # no local engine beside it


def test_run_extract_and_infer_take_runner_flink_and_a_flink_master():
    parser = pipeline_runner.build_parser()
    run = parser.parse_args(["run", "--demo", "--output-dir", "x", "--runner", "flink", "--flink-master", "jm:8081"])
    assert (run.runner, run.flink_master) == ("flink", "jm:8081")
    extract = parser.parse_args(["extract", "--data-root", "d", "--output-dir", "x", "--runner", "flink"])
    assert (extract.runner, extract.flink_master) == ("flink", None)  # pipeline/flink.py's default, where the Beam args are made
    assert flink.beam_args_for("flink", extract.flink_master, ()) == tuple(flink.flink_beam_args(flink.DEFAULT_FLINK_MASTER))
    infer = parser.parse_args(["infer", "--videos", "v", "--model-dir", "m", "--output-dir", "x", "--runner", "flink"])
    assert infer.runner == "flink"
    compiled = parser.parse_args(["compile", "--output-file", "p.json", "--runner", "flink"])
    assert compiled.runner == "flink"


def test_run_settings_with_orchestrator_flink_give_the_components_flinks_args():
    settings = RunSettings(
        output_dir="out",
        pipeline=PipelineConfig(data_root="d"),
        beam_args=("--parallelism=1",),
        orchestrator="flink",
        flink_master="jm:8081",
    )
    options = _options(list(settings.component_beam_args))
    assert (options["runner"], options["flink_master"], options["parallelism"]) == ("FlinkRunner", "jm:8081", 1)
    assert dataclasses.replace(settings, orchestrator="local").component_beam_args == ("--parallelism=1",)
