#!/usr/bin/env python3
"""A local Apache Flink session cluster for the pipeline's Beam steps, assembled from package registries.

    python -m tools.flink_cluster up     # `make flink-up`: assemble (cached), start, wait until ready, print options
    python -m tools.flink_cluster down   # `make flink-down`: stop everything `up` started

What it starts, each in its own process group (so that `down` leaves no process):
- Flink 1.19.0's JobManager (REST API on localhost:8081) and two TaskManagers, from the `apache-flink` wheel
  (Flink's bin/ and conf/) and the `apache-flink-libraries` sdist (lib/ with flink-dist, bin/bash-java-utils.jar)
  on PyPI, run with Flink's own scripts in the foreground;
- Beam's Flink job server (org.apache.beam.runners.flink.FlinkJobServerDriver of
  org.apache.beam:beam-runners-flink-1.19:2.62.0 and its dependencies, resolved by Maven from Maven Central:
  Beam's job server jar is that module shaded, and Maven Central serves no *-job-server jar here);
- the project's SDK worker pool (this Python, workers booted by pipeline/beam_worker_boot.py; Beam's pool, shared
  by both TaskManagers: tools/flink_worker_pool.py).

Downloads are cached in ~/.cache/video-pipeline/flink (VIDEO_PIPELINE_FLINK_CACHE) and ~/.m2; a cluster's
configuration, logs and temporary files live in its state folder, removed by `down`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

from pipeline import flink  # noqa: E402

CACHE_DIR = os.environ.get("VIDEO_PIPELINE_FLINK_CACHE", os.path.expanduser("~/.cache/video-pipeline/flink"))
DEFAULT_STATE_DIR = os.path.join(CACHE_DIR, "cluster")
STATE_FILE = "cluster.json"
JOB_SERVER_MAIN = "org.apache.beam.runners.flink.FlinkJobServerDriver"
TASKMANAGERS = 2
# Sized for 2 shared cores: the Python work runs in the pool's SDK workers, outside the JVMs, so the
# TaskManagers only move bundles. Two slots each, parallelism 2: after a TaskManager dies, Flink's restart
# strategy can place a job's two subtasks on the other one.
SLOTS_PER_TASKMANAGER = 2
READY_SECONDS = 240  # measured: REST API and both TaskManagers in ~20 s on 2 idle cores; the job server ~10 s


@dataclasses.dataclass(frozen=True)
class Ports:
    rest: int = 8081
    jobmanager_rpc: int = 6123
    job: int = 8099
    artifact: int = 8098
    expansion: int = 8097
    worker_pool: int = 50000

    @classmethod
    def free(cls) -> Ports:
        """Ports nothing listens on now: a test's cluster beside `make flink-up`'s, or another test run's."""
        sockets = [socket.socket() for _ in dataclasses.fields(cls)]
        try:
            for probe in sockets:
                probe.bind(("localhost", 0))
            return cls(*(probe.getsockname()[1] for probe in sockets))
        finally:
            for probe in sockets:
                probe.close()


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A running cluster: its ports and the process group of each of its processes."""

    state_dir: str
    ports: Ports
    processes: dict[str, int]  # name -> pid (= process group id)

    @property
    def flink_master(self) -> str:
        return f"localhost:{self.ports.rest}"

    @property
    def rest_url(self) -> str:
        return f"http://localhost:{self.ports.rest}"

    def beam_args(self) -> list[str]:
        """The Beam arguments of a component whose pipeline runs on this cluster."""
        return flink.flink_beam_args(self.flink_master, f"localhost:{self.ports.job}", f"localhost:{self.ports.worker_pool}")

    def runner_options(self) -> list[str]:
        """`pipeline_runner.py`'s options that send a command's Beam work here: --runner flink, and the job server's and
        the pool's ports as explicit Beam options (which win over --runner flink's defaults)."""
        return [
            "--runner",
            "flink",
            "--flink-master",
            self.flink_master,
            f"--job_endpoint=localhost:{self.ports.job}",
            f"--environment_config=localhost:{self.ports.worker_pool}",
        ]

    def rest(self, path: str) -> dict:
        with urllib.request.urlopen(self.rest_url + path, timeout=10) as response:
            return json.load(response)

    def jobs(self) -> list[dict]:
        """The cluster's jobs (/jobs/overview): name, state, start-time, end-time, duration (ms), ..."""
        return self.rest("/jobs/overview")["jobs"]


# --- assembling Flink and the job server from the registries --------------------------------------------------


def _pip_download(requirement: str, dest: str, sdist: bool) -> str:
    """The one file pip downloads for `requirement` (only downloaded: apache-flink is never installed)."""
    os.makedirs(dest, exist_ok=True)
    kind = (
        ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:", "--python-version", "3.11", "--platform", "manylinux2014_x86_64"]
    )
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *kind, "-d", dest, requirement], check=True)
    name = requirement.split("==")[0].replace("-", "_")
    found = [
        path
        for path in glob.glob(os.path.join(dest, "*"))
        if os.path.basename(path).replace("-", "_").startswith(name + "_" + flink.FLINK_VERSION)
    ]
    if len(found) != 1:
        raise RuntimeError(f"pip download {requirement}: expected one file in {dest}, found {found}")
    return found[0]


def assemble_flink(cache_dir: str = CACHE_DIR) -> str:
    """FLINK_HOME of Flink FLINK_VERSION, assembled once from PyPI's apache-flink wheel and apache-flink-libraries sdist."""
    home = os.path.join(cache_dir, f"flink-{flink.FLINK_VERSION}")
    if os.path.exists(os.path.join(home, ".complete")):
        return home
    downloads = os.path.join(cache_dir, "downloads")
    wheel = _pip_download(f"apache-flink=={flink.FLINK_VERSION}", downloads, sdist=False)
    libraries = _pip_download(f"apache-flink-libraries=={flink.FLINK_VERSION}", downloads, sdist=True)
    partial = home + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            parts = member.filename.split("/")
            if parts[0] == "pyflink" and len(parts) > 2 and parts[1] in ("bin", "conf") and not member.is_dir():
                target = os.path.join(partial, *parts[1:])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with archive.open(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
                if parts[1] == "bin":
                    os.chmod(target, 0o755)
    with tarfile.open(libraries) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if len(parts) > 3 and parts[1] == "deps" and parts[2] in ("lib", "bin", "opt", "plugins") and member.isfile():
                target = os.path.join(partial, *parts[2:])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with archive.extractfile(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
    if not glob.glob(os.path.join(partial, "lib", "flink-dist-*.jar")) or not os.path.exists(os.path.join(partial, "bin", "jobmanager.sh")):
        raise RuntimeError(f"{wheel} and {libraries} did not give a Flink distribution")
    os.makedirs(os.path.join(partial, "log"), exist_ok=True)
    open(os.path.join(partial, ".complete"), "w").close()
    shutil.rmtree(home, ignore_errors=True)
    os.replace(partial, home)
    return home


_JOB_SERVER_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>video-pipeline</groupId>
  <artifactId>beam-flink-job-server</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.beam</groupId><artifactId>beam-runners-flink-1.19</artifactId><version>{beam}</version></dependency>
    <dependency><groupId>org.apache.beam</groupId><artifactId>beam-runners-java-job-service</artifactId><version>{beam}</version></dependency>
  </dependencies>
</project>
"""


def assemble_job_server(cache_dir: str = CACHE_DIR) -> str:
    """A folder of the jars of Beam's Flink job server (beam-runners-flink-1.19 and its runtime dependencies), resolved by Maven."""
    lib = os.path.join(cache_dir, f"beam-flink-job-server-{flink.BEAM_VERSION}")
    if os.path.exists(os.path.join(lib, ".complete")):
        return lib
    partial = lib + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    pom = os.path.join(partial, "pom.xml")
    with open(pom, "w") as pom_file:
        pom_file.write(_JOB_SERVER_POM.format(beam=flink.BEAM_VERSION))
    subprocess.run(
        ["mvn", "-q", "-B", "-f", pom, "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={partial}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    os.remove(pom)
    if not glob.glob(os.path.join(partial, f"beam-runners-flink-1.19-{flink.BEAM_VERSION}.jar")):
        raise RuntimeError("Maven did not resolve beam-runners-flink-1.19")
    open(os.path.join(partial, ".complete"), "w").close()
    shutil.rmtree(lib, ignore_errors=True)
    os.replace(partial, lib)
    return lib


# --- starting and stopping ------------------------------------------------------------------------------------


def _flink_config(ports: Ports, state_dir: str) -> str:
    """Flink's config.yaml (the 1.19 wheel's standard YAML form) of a cluster on `ports`, sized for 2 cores."""
    tmp = os.path.join(state_dir, "tmp")
    config = {
        # java.io.tmpdir: Flink's JVMs put files there that stop() could not remove (flink-web-*, rpc jars).
        "env": {
            "java": {"opts": {"all": f"{_java_opts()} -Djava.io.tmpdir={tmp}"}},
            "pid": {"dir": state_dir},
            "log": {"dir": os.path.join(state_dir, "log")},
        },
        "jobmanager": {
            "bind-host": "localhost",
            "rpc": {"address": "localhost", "port": ports.jobmanager_rpc},
            "memory": {"process": {"size": "1024m"}},
            "execution": {"failover-strategy": "region"},
        },
        "taskmanager": {
            "bind-host": "localhost",
            "host": "localhost",
            "numberOfTaskSlots": SLOTS_PER_TASKMANAGER,
            "memory": {"process": {"size": "1536m"}, "managed": {"fraction": 0.2}, "network": {"min": "256m", "max": "256m"}},
            # Flink's sort-merge shuffle asks 512 network buffers for each blocking result of a batch
            # job, and a Beam job has dozens: VideoExampleGen failed with "Insufficient number of
            # network buffers: required 512, but only 494 available" of 8192. At parallelism 2 the
            # hash shuffle (Flink's default before 1.15) needs a few per channel.
            "network": {"sort-shuffle": {"min-parallelism": 1000000}},
        },
        "rest": {"address": "localhost", "bind-address": "localhost", "port": ports.rest},
        "parallelism": {"default": flink.DEFAULT_PARALLELISM},
        # A job's two subtasks on two TaskManagers (Flink fills one TaskManager's slots first otherwise: measured,
        # a killed TaskManager then held none of the extraction's tasks).
        "cluster": {"evenly-spread-out-slots": True},
        "io": {"tmp": {"dirs": tmp}},
        "web": {"tmpdir": tmp},
        "blob": {"server": {"port": "0"}},
        # A killed TaskManager: its job restarts on the slots left (measured below: tests/pipeline/test_flink.py).
        "restart-strategy": {"type": "fixed-delay", "fixed-delay": {"attempts": 3, "delay": "5 s"}},
        # The default 50 s before a dead TaskManager is noticed is most of such a run; 20 s leaves room for
        # pauses of a JVM on 2 busy cores.
        "heartbeat": {"timeout": 20000, "interval": 5000},
        # Finished jobs stay listed (tests and `make flink-up` users read /jobs/overview).
        "jobstore": {"max-capacity": 1000, "expiration-time": 86400},
    }
    return json.dumps(config, indent=2)  # JSON is YAML


def _java_opts() -> str:
    """The --add-opens/--add-exports of the wheel's config.yaml, which Flink needs on Java 17."""
    home = assemble_flink()
    with open(os.path.join(home, "conf", "config.yaml")) as config_file:
        for line in config_file:
            if line.strip().startswith("all:") and "--add-opens" in line:
                return line.split("all:", 1)[1].strip()
    raise RuntimeError("no Java options in Flink's config.yaml")


def _start(name: str, command: list[str], state_dir: str, env: dict[str, str], cwd: str | None = None) -> int:
    log_path = os.path.join(state_dir, "log", f"{name}.out")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=cwd or state_dir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return process.pid


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that exited (its group may live on)
            return _group_alive(pid)
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("localhost", port)) == 0


def _log_tail(state_dir: str, name: str) -> str:
    with contextlib.suppress(OSError), open(os.path.join(state_dir, "log", f"{name}.out")) as log:
        return log.read()[-3000:]
    return ""


def _write_configuration(home: str, ports: Ports, state_dir: str) -> str:
    """The cluster's folders in `state_dir`, and its conf folder: Flink's own files with this cluster's config.yaml."""
    for folder in ("conf", "log", "tmp", "artifacts", "worker_tmp"):
        os.makedirs(os.path.join(state_dir, folder), exist_ok=True)
    conf_dir = os.path.join(state_dir, "conf")
    for name in os.listdir(os.path.join(home, "conf")):
        if name != "config.yaml":
            shutil.copy(os.path.join(home, "conf", name), conf_dir)
    with open(os.path.join(conf_dir, "config.yaml"), "w") as config_file:
        config_file.write(_flink_config(ports, state_dir))
    return conf_dir


def _start_job_server(job_server_lib: str, ports: Ports, state_dir: str) -> int:
    """Beam's Flink job server, submitting to this cluster's JobManager; its process group."""
    return _start(
        "job_server",
        [
            "java",
            "-Xmx768m",
            f"-Djava.io.tmpdir={os.path.join(state_dir, 'tmp')}",
            "-cp",
            os.path.join(job_server_lib, "*"),
            JOB_SERVER_MAIN,
            f"--flink-master=localhost:{ports.rest}",
            f"--job-port={ports.job}",
            f"--artifact-port={ports.artifact}",
            f"--expansion-port={ports.expansion}",
            f"--artifacts-dir={os.path.join(state_dir, 'artifacts')}",
        ],
        state_dir,
        {**os.environ},
    )


def _start_worker_pool(ports: Ports, state_dir: str, worker_env: dict[str, str] | None) -> int:
    """The project's SDK worker pool, with this venv's Python first on PATH; its process group."""
    pool_env = {
        **os.environ,
        **(worker_env or {}),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "TMPDIR": os.path.join(state_dir, "worker_tmp"),
    }
    return _start(
        "worker_pool",
        [
            sys.executable,
            "-m",
            "tools.flink_worker_pool",
            f"--service_port={ports.worker_pool}",
            "--container_executable=" + os.path.join(PROJECT_ROOT, "pipeline", "beam_worker_boot.py"),
        ],
        state_dir,
        pool_env,
        cwd=PROJECT_ROOT,
    )


def start(
    state_dir: str = DEFAULT_STATE_DIR, ports: Ports = Ports(), taskmanagers: int = TASKMANAGERS, worker_env: dict[str, str] | None = None
) -> Cluster:
    """Starts a cluster (assembled first if need be) and returns once its REST API lists every TaskManager's
    slots and the job server and worker pool listen. Stopped (`stop`) if it does not get there."""
    if os.path.exists(os.path.join(state_dir, STATE_FILE)):
        raise RuntimeError(
            f"a cluster's state is in {state_dir}: stop it first (python -m tools.flink_cluster down --state-dir {state_dir})"
        )
    for port in dataclasses.astuple(ports):
        if _port_open(port):
            raise RuntimeError(f"port {port} is in use: another cluster (make flink-down) or service holds it")
    home, job_server_lib = assemble_flink(), assemble_job_server()
    conf_dir = _write_configuration(home, ports, state_dir)
    flink_env = {**os.environ, "FLINK_HOME": home, "FLINK_CONF_DIR": conf_dir, "FLINK_LOG_DIR": os.path.join(state_dir, "log")}
    processes: dict[str, int] = {}
    cluster = Cluster(state_dir, ports, processes)
    try:
        processes["jobmanager"] = _start(
            "jobmanager", [os.path.join(home, "bin", "jobmanager.sh"), "start-foreground"], state_dir, flink_env
        )
        for index in range(taskmanagers):
            processes[f"taskmanager-{index + 1}"] = _start(
                f"taskmanager-{index + 1}", [os.path.join(home, "bin", "taskmanager.sh"), "start-foreground"], state_dir, flink_env
            )
        processes["job_server"] = _start_job_server(job_server_lib, ports, state_dir)
        processes["worker_pool"] = _start_worker_pool(ports, state_dir, worker_env)
        _write_state(cluster)
        _wait_ready(cluster, taskmanagers)
    except BaseException:
        stop(state_dir)
        raise
    return cluster


def _write_state(cluster: Cluster) -> None:
    with open(os.path.join(cluster.state_dir, STATE_FILE), "w") as state_file:
        json.dump({"ports": dataclasses.asdict(cluster.ports), "processes": cluster.processes}, state_file, indent=2)


def _wait_ready(cluster: Cluster, taskmanagers: int) -> None:
    deadline = time.monotonic() + READY_SECONDS
    waiting = "the REST API"
    while time.monotonic() < deadline:
        for name, pid in cluster.processes.items():
            if not _alive(pid):
                raise RuntimeError(f"Flink cluster: {name} exited while starting:\n{_log_tail(cluster.state_dir, name)}")
        try:
            overview = cluster.rest("/overview")
            if overview["taskmanagers"] < taskmanagers:
                waiting = f"{taskmanagers} TaskManagers (got {overview['taskmanagers']})"
            elif not _port_open(cluster.ports.job):
                waiting = "the job server"
            elif not _port_open(cluster.ports.worker_pool):
                waiting = "the worker pool"
            else:
                return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"Flink cluster not ready after {READY_SECONDS} s: waiting for {waiting} (logs in {cluster.state_dir}/log)")


def load(state_dir: str = DEFAULT_STATE_DIR) -> Cluster | None:
    """The cluster whose state is in `state_dir`, or None."""
    try:
        with open(os.path.join(state_dir, STATE_FILE)) as state_file:
            state = json.load(state_file)
    except FileNotFoundError:
        return None
    return Cluster(state_dir, Ports(**state["ports"]), state["processes"])


def kill_taskmanager(cluster: Cluster, name: str = "taskmanager-1") -> None:
    """SIGKILLs one TaskManager's process group (as a crashed machine would lose it)."""
    os.killpg(cluster.processes[name], signal.SIGKILL)


def stop(state_dir: str = DEFAULT_STATE_DIR, keep_logs: bool = False) -> list[str]:
    """Stops every process of the cluster in `state_dir` (SIGTERM, then SIGKILL after 20 s) and removes its state
    (its logs too unless `keep_logs`); returns the names of those that were still running."""
    cluster = load(state_dir)
    stopped = []
    if cluster is not None:
        # The pool first: its workers then stop talking to TaskManagers that are going away.
        for name, pid in reversed(list(cluster.processes.items())):
            if _group_alive(pid):
                stopped.append(name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for pid in cluster.processes.values():
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    for name in os.listdir(state_dir) if os.path.isdir(state_dir) else ():
        if not (keep_logs and name == "log"):
            path = os.path.join(state_dir, name)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
    if not keep_logs:
        shutil.rmtree(state_dir, ignore_errors=True)
    return stopped


@contextlib.contextmanager
def running(state_dir: str | None = None, worker_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """A cluster on free ports for the time of the block (tests, benchmarks); always stopped after."""
    with tempfile.TemporaryDirectory(prefix="flink-cluster-") as scratch:
        cluster = start(state_dir or os.path.join(scratch, "cluster"), Ports.free(), worker_env=worker_env)
        try:
            yield cluster
        finally:
            stop(cluster.state_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("assemble", "up", "down", "status"))
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="the cluster's configuration, logs, pids (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.action == "assemble":
        print(assemble_flink(), assemble_job_server(), sep="\n")
    elif args.action == "up":
        started = time.monotonic()
        cluster = start(args.state_dir)
        print(
            f"Flink {flink.FLINK_VERSION} session cluster ready in {time.monotonic() - started:.0f} s: REST API and web UI "
            f"{cluster.rest_url}, {TASKMANAGERS} TaskManagers x {SLOTS_PER_TASKMANAGER} slots; Beam {flink.BEAM_VERSION} job server "
            f"localhost:{cluster.ports.job}; SDK worker pool localhost:{cluster.ports.worker_pool}; logs {args.state_dir}/log"
        )
        print("Run the pipeline's Beam steps there with:  pipeline_runner.py run|extract|infer ... --runner flink")
        print("  (the same as the Beam options: " + " ".join(cluster.beam_args()) + ")")
        print("Stop it with:  make flink-down")
    elif args.action == "down":
        stopped = stop(args.state_dir)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    else:
        cluster = load(args.state_dir)
        if cluster is None:
            print("no cluster")
            return 1
        print(json.dumps({name: _group_alive(pid) for name, pid in cluster.processes.items()}))
        with contextlib.suppress(OSError):
            for job in cluster.jobs():
                print(job["state"], job["name"], f"{job['duration'] / 1000:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
