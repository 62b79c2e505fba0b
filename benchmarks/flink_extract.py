"""`pipeline_runner.py extract` on Flink against the local engine, on the same clips, and where Flink's time goes.

    .venv/bin/python benchmarks/flink_extract.py                # 108 demo clips, 32x32, 8 frames, 1 run each
    .venv/bin/python benchmarks/flink_extract.py --clips 200 --rounds 2

It generates a demo dataset, starts a Flink cluster of its own on free ports (tools/flink_cluster.py: two
TaskManagers, Beam's Flink job server, the SDK worker pool, whose workers write the start-up trace of
pipeline/beam_plugin.py), then runs extract on the local engine and on Flink, alternated, each into a fresh
output folder (so no features are reused), and stops the cluster. For each Flink run, from the command's start
and the job's times in Flink's REST API (/jobs/overview) and the workers' traces:

- submission_seconds: command start -> the Flink job's start (process start-up, the manifest's checks, Beam's
  translation, staging, the job server's translation and the jar upload to the JobManager);
- worker_start_seconds: the time within the job during which an SDK worker was starting (from its process's
  start to its loading the worker plugin: Python, Beam and TFX imported; the union of these intervals, since
  the workers start in pairs, one a TaskManager, and anew for each stage of the job);
- work_seconds: the rest of the job (the Beam work itself on parallelism 2, each worker's set-up of its DoFns
  included, and Flink's own scheduling between stages);
- after_job_seconds: the job's end -> the command's end (TFX's bookkeeping, the summary).

One JSON object goes to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

SETTINGS = ["--max-seq-length", "8", "--image-size", "32"]


def _worker_starts_ms(trace_dir: str) -> set[tuple[str, int, int]]:
    """(trace file, process started, plugin loaded) in Unix ms of each SDK worker, from the traces.

    Every line of the plugin's: a pid that was used again appends to its file.
    """
    from pipeline.beam_plugin import PLUGIN_MODULE

    starts = set()
    for name in os.listdir(trace_dir) if os.path.isdir(trace_dir) else ():
        with open(os.path.join(trace_dir, name)) as trace_file:
            for line in trace_file:
                if line.startswith(PLUGIN_MODULE + " "):
                    _, loaded_ms, started_ms = line.split()
                    starts.add((name, int(started_ms), int(loaded_ms)))
    return starts


def _union_seconds(intervals: list[tuple[float, float]], low: float, high: float) -> float:
    """The length of the union of the (start, end) intervals, clipped to [low, high], in seconds (ms in)."""
    total, reach = 0.0, low
    for start, end in sorted(intervals):
        start, end = max(start, reach), min(end, high)
        if end > start:
            total, reach = total + end - start, end
    return total / 1000


def _flink_breakdown(
    job: dict[str, Any], workers: list[tuple[int, int]], started_ms: float, ended_ms: float, wall_seconds: float
) -> dict[str, Any]:
    """Where a Flink run's wall time went, from its job's times and its SDK workers' (start, plugin loaded) in ms."""
    worker_start = _union_seconds(workers, job["start-time"], job["end-time"])
    each = [(loaded - started) / 1000 for started, loaded in workers] or [0.0]
    breakdown: dict[str, Any] = {
        "flink_job_state": job["state"],
        "flink_job_seconds": round(job["duration"] / 1000, 2),
        "sdk_workers": len(workers),
        # When each started, from the job's start: in pairs, anew for each stage.
        "sdk_worker_started_at_seconds": sorted(round((started - job["start-time"]) / 1000, 1) for started, _ in workers),
        "sdk_worker_start_each_seconds": {"min": round(min(each), 2), "mean": round(sum(each) / len(each), 2), "max": round(max(each), 2)},
        "submission_seconds": round((job["start-time"] - started_ms) / 1000, 2),
        "worker_start_seconds": round(worker_start, 2),
        "work_seconds": round((job["end-time"] - job["start-time"]) / 1000 - worker_start, 2),
        "after_job_seconds": round((ended_ms - job["end-time"]) / 1000, 2),
    }
    # What the four parts leave out of the command's wall time (~0: they split it).
    parts = ("submission_seconds", "worker_start_seconds", "work_seconds", "after_job_seconds")
    breakdown["breakdown_minus_wall_seconds"] = round(sum(breakdown[part] for part in parts) - wall_seconds, 2)
    return breakdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=common.at_least(20), default=108, help="demo clips (default: %(default)s)")
    parser.add_argument("--rounds", type=common.at_least(1), default=1, help="runs of each engine, alternated (default: %(default)s)")
    parser.add_argument("--work-dir", help="keep the data, outputs and logs here (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    common.setup_logging()
    from pipeline.beam_plugin import WORKER_TRACE_ENV
    from tools import flink_cluster

    result: dict[str, Any] = {"machine": common.machine_info(), "settings": SETTINGS, "runs": []}
    with common.work_dir(args.work_dir, "flink-extract-") as work:
        data_root = os.path.join(work, "data")
        result["dataset"] = common.demo_dataset(data_root, args.clips)
        started = time.monotonic()
        with flink_cluster.running(os.path.join(work, "cluster"), worker_env={WORKER_TRACE_ENV: os.path.join(work, "trace")}) as cluster:
            result["cluster_start_seconds"] = round(time.monotonic() - started, 1)
            for round_index in range(args.rounds):
                for engine in ("local", "flink"):
                    output_dir = os.path.join(work, f"{engine}-{round_index}")
                    trace_dir = os.path.join(work, "trace")
                    options = [*SETTINGS, *(cluster.runner_options() if engine == "flink" else [])]
                    before = {job["jid"] for job in cluster.jobs()}
                    traced_before = _worker_starts_ms(trace_dir)
                    started_ms = time.time() * 1000
                    measured = common.run_subprocess(
                        common.runner_command("extract", data_root, output_dir, *options), os.path.join(work, f"{engine}-{round_index}.log")
                    )
                    ended_ms = time.time() * 1000
                    summary = common.read_summary(output_dir)
                    extraction = summary["feature_extraction"]
                    run: dict[str, Any] = {
                        "engine": engine,
                        "round": round_index,
                        "wall_seconds": measured["wall_seconds"],
                        "clips": sum(summary["splits"].values()),
                        "skipped": len(summary["skipped_videos"]),
                        "frames": extraction.get("frames"),
                        "extraction_seconds": extraction.get("seconds"),
                    }
                    jobs = [job for job in cluster.jobs() if job["jid"] not in before]
                    if engine == "flink":
                        (job,) = jobs
                        workers = [(started, loaded) for _, started, loaded in _worker_starts_ms(trace_dir) - traced_before]
                        run.update(_flink_breakdown(job, workers, started_ms, ended_ms, run["wall_seconds"]))
                    else:
                        assert jobs == [], jobs
                    logging.getLogger("benchmarks").info("%s", run)
                    result["runs"].append(run)
    for engine in ("local", "flink"):
        walls = [run["wall_seconds"] for run in result["runs"] if run["engine"] == engine]
        result[f"{engine}_wall_seconds_mean"] = round(sum(walls) / len(walls), 2)
    result["flink_over_local"] = round(result["flink_wall_seconds_mean"] / result["local_wall_seconds_mean"], 2)
    # A faster engine that wrote fewer Examples would be no result: every run must have encoded the same clips.
    result["same_clips_and_frames"] = len({(run["clips"], run["skipped"], run["frames"]) for run in result["runs"]}) == 1
    result["machine"]["load_average_at_end"] = common.load_average()
    common.print_json(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
