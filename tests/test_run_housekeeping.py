"""Process housekeeping of `pipeline_runner.py` on real runs in subprocesses: Ctrl-C, a SIGKILLed run's
temporary folder, two runs into one output dir, a full disk.

A terminal sends SIGINT to its whole foreground process group: the main
process, its decode workers and its Beam workers all get it. Each run here
starts in a session of its own, so its group can be signalled (and killed in
the end) without touching the test runner's.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from pipeline.interrupts import still_running
from tests.conftest import SMALL
from tests.helpers import run_pipeline_runner

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTRACTION_STARTED = "clips to encode"  # VideoExampleGen's log line once the manifest is read
DECODE_WORKER = "frame_path.decode_worker"  # in a decode worker process's command line


@pytest.fixture(scope="module")
def long_data_root(demo_dataset):
    """180 clips: extraction takes ~20 s on tiny settings here, long enough to be interrupted."""
    return demo_dataset(40, 5)


class Run:
    """`pipeline_runner.py ARGS` in a session of its own; stderr collected line by line as it comes."""

    def __init__(self, *args, env=None):
        self.process = subprocess.Popen(
            [sys.executable, "pipeline_runner.py", *args],
            cwd=PROJECT_ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.group = self.process.pid  # a session leader's pid is its group's id
        self.stderr_lines = []
        self._reader = threading.Thread(target=lambda: self.stderr_lines.extend(self.process.stderr), daemon=True)
        self._reader.start()

    @property
    def stderr(self):
        return "".join(self.stderr_lines)

    def wait_for(self, condition, what, timeout=300):
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the run ended (exit code {self.process.returncode}) before {what}:\n{self.stderr[-3000:]}"
            assert time.monotonic() < deadline, f"no {what} after {timeout} s:\n{self.stderr[-3000:]}"
            time.sleep(0.2)

    def descendants(self):
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def finish(self, timeout):
        """Exit code, and the stderr read to its end."""
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.process.returncode

    def kill(self):
        """Whatever is left of the group: killed (the test's own clean-up, never the assertion)."""
        try:
            os.killpg(self.group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


def group_members(group):
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == group:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return still_running(members)


def extract_args(data_root, output_dir, *options):
    return ["extract", "--data-root", data_root, "--output-dir", output_dir, *SMALL, *options]


def decode_workers_running(run):
    return any(DECODE_WORKER in " ".join(process.cmdline()) for process in still_running(run.descendants()))


def interrupt_extraction(run, decode_processes):
    """Waits until clips are being encoded, then Ctrl-C; returns the seconds to exit, the stderr lines since, the descendants there were."""
    run.wait_for(lambda: EXTRACTION_STARTED in run.stderr, "extraction")
    if decode_processes:
        run.wait_for(lambda: decode_workers_running(run), "decode worker process")
    time.sleep(2)  # clips are being encoded
    descendants = still_running(run.descendants())
    lines_before = len(run.stderr_lines)
    interrupted = time.monotonic()
    os.killpg(run.group, signal.SIGINT)  # as a terminal's Ctrl-C: to every process of the group
    run.finish(timeout=60)
    return time.monotonic() - interrupted, run.stderr_lines[lines_before:], descendants


def ignores_sigint(pid):
    with open(f"/proc/{pid}/status") as status:
        [ignored] = [int(line.split()[1], 16) for line in status if line.startswith("SigIgn:")]
    return bool(ignored & (1 << (signal.SIGINT - 1)))


def _start_launcher(code: str) -> subprocess.Popen:
    """A Python process running `code` in a session of its own (as a terminal's foreground job), its output piped."""
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_ctrl_c_in_a_launcher_ends_it_and_its_children_which_ignore_it():
    """pipeline/interrupts.py on its own (fast): a child started after stop_on_ctrl_c ignores SIGINT; the launcher ends it."""
    code = (
        "import subprocess, sys, time\n"
        "from pipeline import interrupts\n"
        "interrupts.stop_on_ctrl_c()\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    launcher = _start_launcher(code)
    try:
        child = psutil.Process(int(launcher.stdout.readline()))
        assert ignores_sigint(child.pid)
        interrupted = time.monotonic()
        os.killpg(launcher.pid, signal.SIGINT)
        assert launcher.wait(timeout=30) == 130
        assert time.monotonic() - interrupted < 3
        assert launcher.stderr.read() == "error: interrupted; the unfinished step was not recorded and runs again next time\n"
        assert not still_running([child])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=30)


def test_ctrl_c_ends_the_children_before_one_can_say_anything_about_another_s_end():
    """A child that reacts to its sibling's end (as a Beam worker prints 'Logging client failed' when the runner
    stops its servers after another worker died) has no moment to do so: the launcher's stderr is one line."""
    watcher = (  # ignores SIGTERM, then prints once its sibling is gone
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "sibling = int(sys.argv[1])\n"
        "while os.path.exists(f'/proc/{sibling}') and open(f'/proc/{sibling}/stat').read().split()[2] != 'Z':\n"
        "    time.sleep(0.001)\n"
        "print('sibling gone', file=sys.stderr, flush=True)\n"
        "time.sleep(120)\n"
    )
    code = (
        "import subprocess, sys, time\n"
        "from pipeline import interrupts\n"
        "interrupts.stop_on_ctrl_c()\n"
        "sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"watcher = subprocess.Popen([sys.executable, '-c', {watcher!r}, str(sleeper.pid)])\n"
        "time.sleep(1)\n"
        "print(sleeper.pid, watcher.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    launcher = _start_launcher(code)
    try:
        children = [psutil.Process(int(pid)) for pid in launcher.stdout.readline().split()]
        os.killpg(launcher.pid, signal.SIGINT)
        assert launcher.wait(timeout=30) == 130
        time.sleep(0.5)  # anything a child printed has reached the pipe
        assert launcher.stderr.read() == "error: interrupted; the unfinished step was not recorded and runs again next time\n"
        assert not still_running(children)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=30)


INTERRUPT_CASES = {
    "decode threads": ["--decode-workers", "1"],
    "decode processes": ["--decode-workers", "2"],
    "beam worker processes": ["--decode-workers", "2", "--direct_num_workers=2", "--direct_running_mode=multi_processing"],
}


@pytest.mark.e2e  # each runs the pipeline's extraction (1-3 minutes here)
@pytest.mark.parametrize("case", sorted(INTERRUPT_CASES))
def test_ctrl_c_during_extraction_stops_at_once_with_one_line_and_no_process_left(long_data_root, tmp_path, case):
    options = INTERRUPT_CASES[case]
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    run = Run(*extract_args(long_data_root, str(tmp_path / "out"), *options), env=dict(os.environ, TMPDIR=str(tmpdir)))
    try:
        seconds, lines_after, descendants = interrupt_extraction(run, decode_processes="2" in options)
        assert run.process.returncode == 130, run.stderr[-3000:]
        assert seconds < 5, f"{seconds:.1f} s to stop"
        assert "Traceback" not in run.stderr, run.stderr[-3000:]
        [error_line] = [line for line in run.stderr_lines if line.startswith("error:")]
        assert "interrupted" in error_line
        assert len(lines_after) <= 3, lines_after  # the error line, and a log line or two on their way at the signal
        assert not still_running(descendants), [process.cmdline() for process in still_running(descendants)]
        assert not group_members(run.group), [process.cmdline() for process in group_members(run.group)]
        assert not os.listdir(tmpdir)  # the run's private temp folder went with it
    finally:
        run.kill()
    if case == "decode processes":  # one case is run again into the same output dir (an extraction more costs 1-3 min)
        _check_a_rerun_extracts_again(long_data_root, str(tmp_path / "out"))


def _check_a_rerun_extracts_again(long_data_root, output_dir):
    """After an interrupted extraction, a rerun takes nothing from the cache and encodes every clip."""
    interrupted_examples = os.listdir(os.path.join(output_dir, "pipeline_root", "VideoExampleGen", "examples"))
    rerun = run_pipeline_runner(*extract_args(long_data_root, output_dir, "--decode-workers", "2"), timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        summary = json.load(summary_file)
    # The cache did not take the interrupted extraction for a finished one: every clip was encoded anew.
    assert summary["cached_components"] == []
    assert os.path.basename(summary["examples_uri"]) not in interrupted_examples
    assert sum(summary["splits"].values()) == 180


def start_tmpdir_owner(tmpdir):
    """A process inside pipeline_runner's private temp folder, as a run is; returns it and the folder."""
    code = (
        "import os, time\nfrom pipeline import front_end\nwith front_end.private_tmpdir():\n"
        "    print(os.environ['TMPDIR'], flush=True)\n    time.sleep(600)"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=dict(os.environ, TMPDIR=tmpdir), stdout=subprocess.PIPE, text=True
    )
    return owner, owner.stdout.readline().strip()


def test_a_run_removes_the_temp_folders_of_dead_runs_and_keeps_the_others(tmp_path):
    tmpdir = str(tmp_path / "tmp")
    os.makedirs(tmpdir)
    dead, dead_folder = start_tmpdir_owner(tmpdir)
    live, live_folder = start_tmpdir_owner(tmpdir)
    try:
        dead.kill()  # SIGKILL: nothing of the run can remove its folder
        dead.wait(timeout=30)
        assert os.path.isdir(dead_folder) and os.path.isdir(live_folder)
        foreign = os.path.join(tmpdir, "video-pipeline-tests-abc")  # a look-alike that no run of ours made
        os.makedirs(foreign)
        (tmp_path / "empty").mkdir()
        result = subprocess.run(  # a run that stops at its input check, after its start
            [sys.executable, "pipeline_runner.py", *extract_args(str(tmp_path / "empty"), str(tmp_path / "out"))],
            cwd=PROJECT_ROOT,
            env=dict(os.environ, TMPDIR=tmpdir),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert sorted(os.listdir(tmpdir)) == sorted([os.path.basename(live_folder), os.path.basename(foreign)])
    finally:
        live.kill()
        live.wait(timeout=30)


@pytest.mark.e2e
def test_a_second_run_into_a_busy_output_dir_is_refused_with_one_line(long_data_root, tmp_path):
    from pipeline import runner, tfx_cli
    from pipeline.options import OptionError

    output_dir = str(tmp_path / "out")
    first = Run(*extract_args(long_data_root, output_dir))
    try:
        first.wait_for(lambda: EXTRACTION_STARTED in first.stderr, "extraction")
        second = run_pipeline_runner(*extract_args(long_data_root, output_dir), timeout=300)
        assert second.returncode == 2, second.stderr[-3000:]
        assert second.stderr == f"error: --output-dir {output_dir} is in use by another run (pid {first.process.pid})\n"
        with pytest.raises(OptionError, match=f"VIDEO_OUTPUT_DIR {output_dir} is in use by another run \\(pid {first.process.pid}\\)"):
            tfx_cli.settings_from_environment({"VIDEO_OUTPUT_DIR": output_dir, "VIDEO_DATA_ROOT": long_data_root})
        assert first.process.poll() is None  # the first run goes on
    finally:
        first.kill()
    assert runner.prepare_output_dir(output_dir, "--output-dir") == output_dir  # free again once its run has gone (even by SIGKILL)
    assert runner.prepare_output_dir(output_dir, "--output-dir") == output_dir  # and this process's runs follow each other in it


@pytest.mark.e2e
def test_a_full_disk_under_the_output_dir_is_one_line(long_data_root, tmp_path):
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        output_dir = str(mount_point / "out")  # 2 MB: the metadata store fits, the 180 clips' Examples (~6 MB) do not
        result = run_pipeline_runner(*extract_args(long_data_root, output_dir), timeout=600)
        assert result.returncode == 2, result.stderr[-3000:]
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:") or re.match(r"\d\d:\d\d:\d\d ERROR ", line)]
        assert errors == [f"error: no space left on the device of --output-dir {output_dir}"], result.stderr[-3000:]
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


def test_an_inference_run_moves_the_last_results_aside_and_removes_what_killed_runs_left(tmp_path):
    """A killed `infer` must not leave an older, complete-looking predictions.jsonl, summary or timeline pictures."""
    from inference.batch import start_outputs

    (tmp_path / "timelines").mkdir()
    (tmp_path / "timelines" / "00000_old.png").write_bytes(b"x")
    (tmp_path / "beam-temp-predictions.jsonl.beam-4f2a").mkdir()
    (tmp_path / "beam-temp-predictions.jsonl.beam-4f2a" / "shard").write_text("{}")
    (tmp_path / "predictions.jsonl").write_text('{"video": "old.avi"}\n')
    (tmp_path / "inference_summary.json").write_text('{"status": "complete", "videos": 1}')
    (tmp_path / "predictions.jsonl.partial").write_text("{")
    start_outputs(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [
        "inference_summary.json",
        "inference_summary.previous.json",
        "predictions.previous.jsonl",
        "timelines.previous",
    ]
    assert json.loads((tmp_path / "inference_summary.json").read_text())["status"] == "running"
    start_outputs(str(tmp_path))  # after a killed run: its marker is replaced, the last result kept
    assert json.loads((tmp_path / "inference_summary.previous.json").read_text()) == {"status": "complete", "videos": 1}


def test_a_run_marks_its_summary_as_under_way_and_moves_the_last_one_aside(tmp_path):
    from pipeline import reporting

    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "report.md").write_text("old")
    (tmp_path / "run_summary.json").write_text('{"status": "complete", "test_accuracy": 0.9}')
    reporting.mark_in_progress(str(tmp_path))
    assert json.loads((tmp_path / "run_summary.json").read_text())["status"] == "running"
    assert json.loads((tmp_path / "run_summary.previous.json").read_text())["test_accuracy"] == 0.9
    assert (tmp_path / "report.previous" / "report.md").exists() and not (tmp_path / "report").exists()
    reporting.mark_in_progress(str(tmp_path))  # after a killed run: its marker is replaced, the last result kept
    assert json.loads((tmp_path / "run_summary.previous.json").read_text())["test_accuracy"] == 0.9


def test_a_beam_job_its_engine_failed_is_one_line():
    from pipeline import front_end

    message = (
        "Pipeline BeamApp-root-1207-5b3c failed in state FAILED: org.apache.flink.runtime.JobException: "
        "TaskManager with id localhost:41577-3b2f is no longer reachable.\n\tat org.apache.flink.runtime..."
    )
    try:
        try:
            raise RuntimeError(message)
        except RuntimeError as error:
            raise ValueError("the component failed") from error
    except ValueError as wrapped:
        line = front_end.engine_failure_line(wrapped)
    assert line == (
        "the Beam job BeamApp-root-1207-5b3c ended FAILED on its engine: org.apache.flink.runtime.JobException: "
        "TaskManager with id localhost:41577-3b2f is no longer reachable. at org.apache.flink.runtime..."
    )
    assert front_end.engine_failure_line(ValueError("another error")) is None
