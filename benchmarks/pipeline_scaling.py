"""How the whole pipeline scales with the number of clips: seconds per component and extraction memory.

    .venv/bin/python benchmarks/pipeline_scaling.py                    # 60 and 240 demo clips, 20 epochs
    .venv/bin/python benchmarks/pipeline_scaling.py --sizes 24,96 --epochs 5
    .venv/bin/python benchmarks/pipeline_scaling.py --skip-run --skip-extract-rss --worker-processes 120

For each size it generates a demo dataset (4 classes; train/test clips per
class chosen to give the size), then, as subprocesses of this script:

1. `pipeline_runner.py run --data-root D --output-dir O --weights none --min-test-accuracy 0 --min-lift-over-majority -1 [--epochs N]`
   in a fresh output folder, and reads O/run_summary.json (seconds per
   component, feature_extraction frames/seconds/frames_per_second);
2. `pipeline_runner.py extract --data-root D --output-dir O2 --weights none`
   in another fresh folder, for the peak resident memory of the extraction
   step: os.wait4 on that one child gives its own ru_maxrss (not the
   cumulative maximum over all children that RUSAGE_CHILDREN would give), and
   a /proc poller samples the RSS of its process tree over time.

With --worker-processes SIZE it also runs `pipeline_runner.py extract` on SIZE
clips three ways on Beam's direct runner: in the launching process (in_memory,
the default) and on 1 and 2 SDK worker processes (extract's Beam options
--direct_running_mode=multi_processing --direct_num_workers=N; each worker
loads pipeline/beam_plugin.py): seconds and frames/s of the extraction, wall
seconds and peak RSS of the command's process tree.

Every subprocess gets a fresh TMPDIR (Beam leaves ~50 MB there per run),
removed afterwards. One JSON object goes to stdout; progress to stderr.
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
from typing import Any, Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

logger = logging.getLogger("pipeline_scaling")

_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "cpu_model": model, "platform": platform.platform(), "python": platform.python_version()}
    with contextlib.suppress(OSError):
        with open("/proc/meminfo") as meminfo:
            info["memory_total_mb"] = round(int(meminfo.readline().split()[1]) / 1024)
    return info


def clips_per_class(total: int, num_classes: int) -> tuple[int, int]:
    """(train, test) clips per class for about `total` clips: a quarter test, as the default demo (12/4)."""
    per_class = max(5, math.ceil(total / num_classes))  # >= 4 train clips: 2 UCF101 groups, so eval can be held out
    test = max(1, round(per_class / 4))
    return per_class - test, test


# --- memory of a process tree --------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{entry}/stat") as stat_file:
                # The command name may hold spaces: fields after the last ')' are fixed.
                parent = int(stat_file.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    return children


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
            children = _children_map()
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
    """Runs `command` with a fresh TMPDIR; returns wall seconds, its own max RSS (wait4) and, if asked, the polled tree RSS."""
    tmpdir = tempfile.mkdtemp(prefix="pipeline-scaling-tmp-")
    env = {**os.environ, "TMPDIR": tmpdir, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    logger.info("running %s (log %s)", " ".join(command[1:]), log_path)
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


def read_summary(output_dir: str) -> dict[str, Any]:
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        return json.load(summary_file)


def examples_bytes(summary: dict[str, Any]) -> int:
    total = 0
    for root, _, files in os.walk(summary["examples_uri"]):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total


def measure_size(size: int, args: argparse.Namespace, workdir: str) -> dict[str, Any]:
    from video_datasets import demo

    train, test = clips_per_class(size, len(demo.DEMO_CLASSES))
    data_root = os.path.join(workdir, f"data_{size}")
    started = time.monotonic()
    demo.generate_demo_dataset(data_root, train, test)
    clips = len(demo.DEMO_CLASSES) * (train + test)
    logger.info("size %d: %d clips (%d train + %d test per class) generated in %.1f s", size, clips, train, test, time.monotonic() - started)

    result: dict[str, Any] = {"requested_clips": size, "clips": clips, "train_clips_per_class": train, "test_clips_per_class": test}
    python = sys.executable
    if not args.skip_run:
        run_dir = os.path.join(workdir, f"run_{size}")
        command = [python, "pipeline_runner.py", "run", "--data-root", data_root, "--output-dir", run_dir, "--weights", "none", "--min-test-accuracy", "0", "--min-lift-over-majority", "-1"]
        if args.epochs is not None:
            command += ["--epochs", str(args.epochs)]
        process = run_subprocess(command, os.path.join(workdir, f"run_{size}.log"))
        summary = read_summary(run_dir)
        extraction = summary["feature_extraction"]
        result.update(
            {
                "frames": extraction["frames"],
                "splits": summary["splits"],
                "skipped": len(summary["skipped_videos"]),
                "seconds": {**summary["seconds"]["components"], "total": summary["seconds"]["total"]},
                "run_wall_seconds": process["wall_seconds"],  # + interpreter/TFX start-up and the report
                "run_max_rss_mb": process["max_rss_mb"],
                "extraction_seconds": extraction["seconds"],
                "extraction_frames_per_second": extraction["frames_per_second"],
                "test_accuracy": summary.get("test_accuracy"),
                "cached_components": summary["cached_components"],
            }
        )
        shutil.rmtree(run_dir, ignore_errors=True)
    if not args.skip_extract_rss:
        extract_dir = os.path.join(workdir, f"extract_{size}")
        command = [python, "pipeline_runner.py", "extract", "--data-root", data_root, "--output-dir", extract_dir, "--weights", "none"]
        process = run_subprocess(command, os.path.join(workdir, f"extract_{size}.log"), poll_rss=True)
        summary = read_summary(extract_dir)
        extraction = summary["feature_extraction"]
        result.setdefault("frames", extraction["frames"])
        result.update(
            {
                "extraction_peak_rss_mb": process["max_rss_mb"],
                "extract_command": {
                    "wall_seconds": process["wall_seconds"],
                    "cpu_seconds": process["cpu_seconds"],
                    "max_rss_mb_wait4": process["max_rss_mb"],
                    "tree_peak_rss_mb_polled": process["tree_peak_rss_mb"],
                    "max_processes": process["max_processes"],
                    "extraction_seconds": extraction["seconds"],
                    "extraction_frames_per_second": extraction["frames_per_second"],
                    "examples_bytes_on_disk": examples_bytes(summary),
                    "rss_timeline_mb": process["rss_timeline_mb"],
                },
            }
        )
        result.setdefault("extraction_seconds", extraction["seconds"])
        result.setdefault("extraction_frames_per_second", extraction["frames_per_second"])
        shutil.rmtree(extract_dir, ignore_errors=True)
    shutil.rmtree(data_root, ignore_errors=True)
    return result


# --- extraction on 1 vs 2 Beam worker processes ----------------------------------------------------

WORKER_MODES = {
    "in_process": [],
    "1_worker_process": ["--direct_num_workers=1", "--direct_running_mode=multi_processing"],
    "2_worker_processes": ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
}


def worker_processes_comparison(size: int, workdir: str) -> dict[str, Any]:
    """Extraction of `size` demo clips in the launching process and on 1 and 2 Beam worker processes."""
    from video_datasets import demo

    train, test = clips_per_class(size, len(demo.DEMO_CLASSES))
    data_root = os.path.join(workdir, f"workers_data_{size}")
    demo.generate_demo_dataset(data_root, train, test)
    result: dict[str, Any] = {"clips": len(demo.DEMO_CLASSES) * (train + test)}
    for mode, beam_args in WORKER_MODES.items():
        output_dir = os.path.join(workdir, f"workers_{mode}")
        command = [sys.executable, "pipeline_runner.py", "extract", "--data-root", data_root, "--output-dir", output_dir, "--weights", "none", *beam_args]
        process = run_subprocess(command, os.path.join(workdir, f"workers_{mode}.log"), poll_rss=True)
        extraction = read_summary(output_dir)["feature_extraction"]
        result[mode] = {
            "beam_args": beam_args,
            "frames": extraction["frames"],
            "extraction_seconds": extraction["seconds"],
            "extraction_frames_per_second": extraction["frames_per_second"],
            "command_wall_seconds": process["wall_seconds"],
            "tree_peak_rss_mb_polled": process["tree_peak_rss_mb"],
            "max_processes": process["max_processes"],
        }
        shutil.rmtree(output_dir, ignore_errors=True)
    shutil.rmtree(data_root, ignore_errors=True)
    one, two = result["1_worker_process"], result["2_worker_processes"]
    result["speedup_2_vs_1_worker_processes"] = _ratio(one["extraction_seconds"], two["extraction_seconds"])
    return result


# --- memory probe: the real extract command with a DenseNet-free backbone ------------------------

_FAKE_BACKBONE_FLAG = "--fake-backbone-extract"  # internal: argv[1] of the probe's subprocess


def _fake_backbone_main(argv: list[str]) -> int:
    """`pipeline_runner.py ARGV` in this process, with random features instead of DenseNet121.

    Decoding, ClipEncoder, the Beam pipeline of the executor, TFX's split writer
    and the extraction report run as they are; only the model is replaced, so
    many clips cost seconds and the memory that grows with the clip count is
    Beam's and the pipeline's, not TensorFlow's.
    """
    import numpy as np

    from frame_path import backbone

    def fake_build_backbone(weights: str, image_size: int, seed: int, precision: str = "float32") -> str:
        return "fake-backbone"

    def fake_encode_frames(model: Any, frames: Any, batch_size: int) -> Any:
        return np.random.default_rng(len(frames)).standard_normal((len(frames), 1024), dtype=np.float32)

    backbone.build_backbone, backbone.encode_frames = fake_build_backbone, fake_encode_frames
    import pipeline_runner

    return pipeline_runner.main(argv)


def memory_probe(sizes: list[int], workdir: str) -> dict[str, Any]:
    from video_datasets import demo

    rows = []
    for size in sizes:
        train, test = clips_per_class(size, len(demo.DEMO_CLASSES))
        data_root = os.path.join(workdir, f"probe_data_{size}")
        demo.generate_demo_dataset(data_root, train, test)
        clips = len(demo.DEMO_CLASSES) * (train + test)
        output_dir = os.path.join(workdir, f"probe_{size}")
        command = [sys.executable, os.path.abspath(__file__), _FAKE_BACKBONE_FLAG, "extract", "--data-root", data_root, "--output-dir", output_dir, "--weights", "none"]
        process = run_subprocess(command, os.path.join(workdir, f"probe_{size}.log"), poll_rss=True)
        summary = read_summary(output_dir)
        rows.append(
            {
                "clips": clips,
                "frames": summary["feature_extraction"]["frames"],
                "peak_rss_mb": process["max_rss_mb"],
                "wall_seconds": process["wall_seconds"],
                "examples_bytes_on_disk": examples_bytes(summary),
                "rss_timeline_mb": process["rss_timeline_mb"],
            }
        )
        shutil.rmtree(output_dir, ignore_errors=True)
        shutil.rmtree(data_root, ignore_errors=True)
    growth = None
    points = sorted((row["clips"], row["peak_rss_mb"]) for row in rows)
    if len(points) >= 2 and points[-1][0] > points[0][0]:
        growth = round(1024 * (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0]), 1)
    return {"runs": rows, "rss_growth_kb_per_clip": growth}


def _ratio(large: Optional[float], small: Optional[float]) -> Optional[float]:
    if large is None or small in (None, 0):
        return None
    return round(large / small, 2)


def ratios(small: dict[str, Any], large: dict[str, Any], feature_bytes_per_clip: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "clips": _ratio(large["clips"], small["clips"]),
        "frames": _ratio(large.get("frames"), small.get("frames")),
    }
    if "seconds" in small and "seconds" in large:
        result["seconds"] = {name: _ratio(large["seconds"].get(name), value) for name, value in small["seconds"].items()}
        result["extraction_seconds"] = _ratio(large["extraction_seconds"], small["extraction_seconds"])
    if "extraction_peak_rss_mb" in small and "extraction_peak_rss_mb" in large:
        result["extraction_peak_rss_mb"] = _ratio(large["extraction_peak_rss_mb"], small["extraction_peak_rss_mb"])
        extra_clips = large["clips"] - small["clips"]
        extra_kb = 1024 * (large["extraction_peak_rss_mb"] - small["extraction_peak_rss_mb"])
        result["extraction_rss_growth_kb_per_clip"] = round(extra_kb / extra_clips, 1) if extra_clips else None
        # One clip's features as float32 [max_seq_length, 1024]: what Beam holds per clip if it buffers a stage.
        result["feature_kb_per_clip"] = round(feature_bytes_per_clip / 1024, 1)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="60,240", help="comma-separated clip counts (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of each run (default: %(default)s)")
    parser.add_argument("--work-dir", help="where datasets and outputs go (default: a temporary folder, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs of every subprocess)")
    parser.add_argument("--skip-run", action="store_true", help="only the extraction memory measurement")
    parser.add_argument("--skip-extract-rss", action="store_true", help="only the whole-pipeline runs")
    parser.add_argument(
        "--memory-probe",
        metavar="SIZES",
        help="also run `extract` with a fake (random-feature) backbone at these clip counts, e.g. 240,960,2880, "
        "as is and without TFX's write Reshuffle: how extraction memory grows with clips, without DenseNet's cost",
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        metavar="SIZE",
        help="also extract SIZE demo clips in process and on 1 and 2 Beam worker processes (multi_processing)",
    )
    args = parser.parse_args(argv)
    try:
        args.size_list = [int(item) for item in args.sizes.split(",") if item.strip()]
    except ValueError:
        parser.error("--sizes takes comma-separated integers, e.g. 60,240")
    if not args.size_list or min(args.size_list) < 8:
        parser.error("--sizes: every size must be at least 8 clips")
    args.probe_sizes = []
    if args.memory_probe:
        try:
            args.probe_sizes = [int(item) for item in args.memory_probe.split(",") if item.strip()]
        except ValueError:
            parser.error("--memory-probe takes comma-separated integers, e.g. 240,960")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    workdir = args.work_dir or tempfile.mkdtemp(prefix="pipeline-scaling-")
    os.makedirs(workdir, exist_ok=True)
    started = time.monotonic()
    load_start = [round(value, 2) for value in os.getloadavg()]
    probe = None
    workers = None
    try:
        sizes = [measure_size(size, args, workdir) for size in args.size_list] if not (args.skip_run and args.skip_extract_rss) else []
        if args.probe_sizes:
            probe = memory_probe(args.probe_sizes, workdir)
        workers = worker_processes_comparison(args.worker_processes, workdir) if args.worker_processes else None
    finally:
        if not args.keep and not args.work_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    from frame_path.backbone import FEATURE_DIM
    from frame_path.config import ExtractionConfig

    result: dict[str, Any] = {
        "sizes": sizes,
        "epochs": args.epochs,
        "benchmark_seconds": round(time.monotonic() - started, 1),
        "machine": {**machine_info(), "load_average_at_start": load_start, "load_average_at_end": [round(value, 2) for value in os.getloadavg()]},
    }
    if probe is not None:
        result["memory_probe_fake_backbone"] = probe
    if workers is not None:
        result["extraction_worker_processes"] = workers
    if len(sizes) >= 2:
        small, large = min(sizes, key=lambda item: item["clips"]), max(sizes, key=lambda item: item["clips"])
        result["ratios_large_vs_small"] = ratios(small, large, ExtractionConfig().max_seq_length * FEATURE_DIM * 4)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == _FAKE_BACKBONE_FLAG:
        os.chdir(REPO_ROOT)
        sys.exit(_fake_backbone_main(sys.argv[2:]))
    sys.exit(main())
