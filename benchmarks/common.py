"""What the benchmarks share: the machine, the command line, the output, work folders, the pipeline's commands.

Standard library only at import time: extract_throughput.py must load neither
TensorFlow nor Keras before it is asked to (tests/frame_path/test_decoder_pool.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPELINE_RUNNER = os.path.join(REPO_ROOT, "pipeline_runner.py")

_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --- the machine and the output -------------------------------------------------------------------


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, None where the platform has none."""
    with contextlib.suppress(OSError):
        return [round(value, 2) for value in os.getloadavg()]
    return None


def machine_info() -> dict[str, Any]:
    """CPU, memory, platform and the load average now (call it at the start; add load_average_at_end at the end)."""
    model = "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    with contextlib.suppress(OSError, IndexError, ValueError):
        with open("/proc/meminfo") as meminfo:
            info["memory_total_mb"] = round(int(meminfo.readline().split()[1]) / 1024)
    info["load_average_at_start"] = load_average()
    return info


def setup_logging() -> None:
    """Progress to stderr: stdout holds the one JSON object."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")


def print_json(result: dict[str, Any]) -> None:
    print(json.dumps(result, indent=2))


def fail(message: str) -> SystemExit:
    """What a benchmark raises for input it cannot use: one line on stderr, exit status 1."""
    return SystemExit(f"error: {message}")


# --- the command line -----------------------------------------------------------------------------


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def name_value() -> Callable[[str], tuple[str, Any]]:
    """argparse type of NAME=VALUE, VALUE read as JSON where it parses (0.5, true), else kept as text."""

    def parse(text: str) -> tuple[str, Any]:
        name, separator, value = text.partition("=")
        if not separator or not name:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
        try:
            return name, json.loads(value)
        except ValueError:
            return name, value

    return parse


def int_list(minimum: int = 0) -> Callable[[str], list[int]]:
    """An argparse type: comma-separated integers of at least `minimum`, e.g. 60,240 (one at least)."""
    one = at_least(minimum)

    def parse(text: str) -> list[int]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError("takes comma-separated integers, e.g. 60,240")
        return [one(item) for item in items]

    return parse


def name_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated names, each one of `choices`."""

    def parse(text: str) -> list[str]:
        names = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"takes comma-separated names of {', '.join(choices)}, got {text!r}")
        return names

    return parse


# --- folders and the pipeline's commands ----------------------------------------------------------


@contextlib.contextmanager
def work_dir(path: str | None, prefix: str, keep: bool = False) -> Iterator[str]:
    """`path` (made if missing, kept), or a fresh temporary folder removed at the end unless `keep`."""
    if path:
        os.makedirs(path, exist_ok=True)
        yield path
        return
    folder = tempfile.mkdtemp(prefix=prefix)
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def demo_dataset(output_dir: str, clips: int) -> dict[str, int]:
    """A demo dataset of about `clips` clips (4 classes, a quarter of them test) in `output_dir`, and its counts.

    At least 4 training clips a class (4 groups), so that the eval split can be held out.
    """
    from video_datasets import demo

    per_class = max(5, math.ceil(clips / len(demo.DEMO_CLASSES)))
    test = max(1, round(per_class / 4))
    demo.generate_demo_dataset(output_dir, per_class - test, test)
    return {"clips": len(demo.DEMO_CLASSES) * per_class, "train_clips_per_class": per_class - test, "test_clips_per_class": test}


def runner_command(subcommand: str, data_root: str, output_dir: str, *options: str, entry: Sequence[str] = (PIPELINE_RUNNER,)) -> list[str]:
    """`pipeline_runner.py SUBCOMMAND` on `data_root` into `output_dir`, random-init weights (offline), `options` appended.

    `entry` replaces the script, e.g. by a benchmark that runs the runner in its own process.
    """
    return [sys.executable, *entry, subcommand, "--data-root", data_root, "--output-dir", output_dir, "--weights", "none", *options]


def read_summary(output_dir: str) -> dict[str, Any]:
    """The run_summary.json that `pipeline_runner.py run` and `extract` write into their output folder."""
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        return json.load(summary_file)


# --- processes ------------------------------------------------------------------------------------


def process_stats() -> dict[int, list[str]]:
    """pid -> the fields of /proc/PID/stat after the command name: state, ppid, ..., utime and stime at 11 and 12."""
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            with open(f"/proc/{entry}/stat") as stat_file:
                # The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
                stats[int(entry)] = stat_file.read().rsplit(")", 1)[1].split()
    return stats


def _rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE_KB
    return 0


class TreeRssPoller(threading.Thread):
    """Samples the summed RSS of a process and its descendants every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int, int]] = []  # (seconds since start, tree RSS KB, processes)
        self._stop_event = threading.Event()
        self._started_at = time.monotonic()

    def run(self) -> None:
        while not self._stop_event.is_set():
            children: dict[int, list[int]] = {}
            for pid, fields in process_stats().items():
                children.setdefault(int(fields[1]), []).append(pid)
            tree, stack = [], [self.pid]
            while stack:
                pid = stack.pop()
                tree.append(pid)
                stack.extend(children.get(pid, []))
            self.samples.append((time.monotonic() - self._started_at, sum(_rss_kb(pid) for pid in tree), len(tree)))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def peak_kb(self) -> int:
        return max((rss for _, rss, _ in self.samples), default=0)

    def timeline(self, points: int = 40) -> list[list[float]]:
        """About `points` [seconds, RSS MB] samples, each the max over its window (peaks are kept)."""
        if not self.samples:
            return []
        step = max(1, math.ceil(len(self.samples) / points))
        return [
            [round(window[-1][0], 1), round(max(rss for _, rss, _ in window) / 1024, 1)]
            for window in (self.samples[start : start + step] for start in range(0, len(self.samples), step))
        ]


def run_subprocess(command: list[str], log_path: str, poll_rss: bool = False) -> dict[str, Any]:
    """Runs `command` in the project folder with a fresh TMPDIR (Beam leaves its temporary files there), output to `log_path`.

    Returns wall seconds, the child's own peak RSS and CPU seconds (wait4) and, with `poll_rss`, the polled
    RSS of its process tree; RuntimeError with the log's tail if it fails.
    """
    tmpdir = tempfile.mkdtemp(prefix="benchmark-tmp-")
    env = {**os.environ, "TMPDIR": tmpdir, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    logging.getLogger("benchmarks").info("running %s (log %s)", " ".join(command[1:]), log_path)
    started = time.monotonic()
    try:
        with open(log_path, "w") as log_file:
            process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
            poller = TreeRssPoller(process.pid) if poll_rss else None
            if poller:
                poller.start()
            # wait4 on this one child: ru_maxrss is its own peak (with its waited-for descendants), not the
            # cumulative maximum over every child this script ever had (RUSAGE_CHILDREN).
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            if poller:
                poller.stop()
        seconds = time.monotonic() - started
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    if process.returncode != 0:
        with open(log_path) as log_file:
            tail = log_file.read()[-4000:]
        raise RuntimeError(f"{' '.join(command[1:])} exited with {process.returncode}; log tail:\n{tail}")
    result: dict[str, Any] = {
        "wall_seconds": round(seconds, 2),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: KB
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
    }
    if poller:
        result["tree_peak_rss_mb"] = round(poller.peak_kb() / 1024, 1)
        result["max_processes"] = max((count for _, _, count in poller.samples), default=0)
        result["rss_timeline_mb"] = poller.timeline()
    return result
