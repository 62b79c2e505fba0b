"""The Beam arguments that send a component's Beam pipeline to an Apache Flink cluster.

Beam's Python SDK reaches Flink through Beam's Flink job server (Java, the
portable Job API): it translates each Beam pipeline into a Flink job and submits
it to the cluster's JobManager, whose TaskManagers run the Python work in SDK
workers of an external worker pool (pipeline/beam_worker_boot.py beside each
TaskManager: the project's venv on one machine, a sidecar container on
Kubernetes). tools/flink_cluster.py starts such a cluster, job server and pool
on this machine; its defaults are the ports below.

The versions go together: apache-beam 2.62.0 (requirements.txt) and Beam's
`beam-runners-flink-1.19:2.62.0`, built against Flink 1.19.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BEAM_VERSION = "2.62.0"
FLINK_VERSION = "1.19.0"  # the Flink that beam-runners-flink-1.19:2.62.0 is built against (its pom)
DEFAULT_FLINK_MASTER = "localhost:8081"  # the JobManager's REST API
DEFAULT_JOB_ENDPOINT = "localhost:8099"  # Beam's Flink job server
DEFAULT_WORKER_POOL = "localhost:50000"  # the SDK worker pool (Beam's port for a sidecar pool)
# Two subtasks of each operator: one per TaskManager of tools/flink_cluster.py's two (2 cores).
DEFAULT_PARALLELISM = 2


def flink_beam_args(
    flink_master: str = DEFAULT_FLINK_MASTER,
    job_endpoint: str = DEFAULT_JOB_ENDPOINT,
    worker_pool: str = DEFAULT_WORKER_POOL,
    parallelism: int = DEFAULT_PARALLELISM,
) -> list[str]:
    """Beam arguments of a component whose Beam pipeline runs as a job of the Flink cluster at `flink_master`.

    --flink_master travels with the pipeline options to the job server, which submits there (the job server's
    own --flink-master is only its default). --sdk_container_image is set although the EXTERNAL environment
    never reads it: without any dependency flag each TFX Beam executor packs and stages its own copy of TFX
    (~50 MB, 1-3 s per component), which the pool's workers, running the launcher's stack, never install.
    """
    from apache_beam.transforms.environments import DockerEnvironment

    return [
        "--runner=FlinkRunner",
        f"--job_endpoint={job_endpoint}",
        f"--flink_master={flink_master}",
        f"--parallelism={parallelism}",
        "--environment_type=EXTERNAL",
        f"--environment_config={worker_pool}",
        f"--sdk_container_image={DockerEnvironment.default_docker_image()}",
    ]


def beam_args_for(runner: str, flink_master: str | None, user_args: Sequence[str]) -> tuple[str, ...]:
    """The Beam arguments of the components for a front end's --runner: Flink's then the user's for "flink", the user's otherwise."""
    if runner != "flink":
        return tuple(user_args)
    return tuple(with_flink_args(user_args, flink_master or DEFAULT_FLINK_MASTER))


def with_flink_args(user_args: Sequence[str], flink_master: str = DEFAULT_FLINK_MASTER, **kwargs: str) -> list[str]:
    """flink_beam_args, less those the user gave (a user's explicit Beam option wins), then the user's."""
    from apache_beam.options.pipeline_options import PipelineOptions

    users = list(user_args)
    given = set(PipelineOptions(users).get_all_options(drop_default=True, retain_unknown_options=True))
    if "environment_type" in given:  # another environment: the pool's address is no config of it
        given.add("environment_config")
    defaults = [arg for arg in flink_beam_args(flink_master, **kwargs) if arg[2:].split("=", 1)[0] not in given]
    return [*defaults, *users]


def add_engine_options(parser: Any, choices: Sequence[str] = ("local", "flink"), help_text: str = "") -> None:
    """--runner (where the Beam work runs) and --flink-master, for every command with Beam steps."""
    parser.add_argument(
        "--runner",
        choices=choices,
        default="local",
        help=(
            help_text
            or "where the Beam work runs: the local engine, or jobs of a Flink cluster through Beam's Flink job "
            "server (pipeline/flink.py; make flink-up)"
        )
        + " (default: %(default)s)",
    )
    parser.add_argument(
        "--flink-master",
        metavar="HOST:PORT",
        help=f"with --runner flink: the Flink JobManager's REST address (default: {DEFAULT_FLINK_MASTER}, make flink-up's cluster)",
    )


def flink_master_misuse(command: str, runner: str, flink_master: str | None) -> str | None:
    """Why --flink-master cannot be used as given (it would be silently unused), None when it can."""
    if flink_master and runner != "flink":
        return f"--flink-master goes with --runner flink (the {command} command runs its Beam steps on Flink only then)"
    return None
