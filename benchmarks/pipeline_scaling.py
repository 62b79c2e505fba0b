"""How the whole pipeline scales with the number of clips: seconds per component and extraction memory.

    .venv/bin/python benchmarks/pipeline_scaling.py                    # 60 and 240 demo clips, 20 epochs
    .venv/bin/python benchmarks/pipeline_scaling.py --sizes 24,96 --epochs 5
    .venv/bin/python benchmarks/pipeline_scaling.py --skip-run --skip-extract-rss --worker-processes 120
    .venv/bin/python benchmarks/pipeline_scaling.py --skip-run --skip-extract-rss --feature-reuse 240

For each size it generates a demo dataset (4 classes; train/test clips per
class chosen to give the size), then, as subprocesses of this script:

1. `pipeline_runner.py run --data-root D --output-dir O --weights none --min-test-accuracy 0 --min-lift-over-majority -1 --epochs N`
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

With --feature-reuse SIZE it runs `pipeline_runner.py extract` three times
into one output folder (so on one feature store): on SIZE demo clips, after
adding 10 % new clips, and after relabelling 5 % of them; wall seconds of each
command, the store's hits and misses, the two reruns' time as a share of
the first (targets: <= 0.2 and <= 0.1), and what keying the clips
costs by identity (the store's key) and by a sha256 of their content.

Every subprocess gets a fresh TMPDIR (Beam leaves its temporary files there),
removed afterwards. One JSON object goes to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import os
import shutil
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from benchmarks.common import read_summary, run_subprocess, runner_command  # noqa: E402

logger = logging.getLogger("pipeline_scaling")

_FAKE_BACKBONE_FLAG = "--fake-backbone-extract"  # internal: argv[1] of the memory probe's subprocess


def examples_bytes(summary: dict[str, Any]) -> int:
    total = 0
    for root, _, files in os.walk(summary["examples_uri"]):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total


def timed_run(data_root: str, run_dir: str, log_path: str, epochs: int) -> dict[str, Any]:
    """`pipeline_runner.py run` (no accuracy gate): seconds per component and the extraction's figures."""
    command = runner_command(
        "run", data_root, run_dir, "--min-test-accuracy", "0", "--min-lift-over-majority", "-1", "--epochs", str(epochs)
    )
    process = run_subprocess(command, log_path)
    summary = read_summary(run_dir)
    extraction = summary["feature_extraction"]
    shutil.rmtree(run_dir, ignore_errors=True)
    return {
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


def extract_memory(data_root: str, extract_dir: str, log_path: str) -> dict[str, Any]:
    """`pipeline_runner.py extract` with its process tree's RSS polled: the extraction's peak memory."""
    process = run_subprocess(runner_command("extract", data_root, extract_dir), log_path, poll_rss=True)
    summary = read_summary(extract_dir)
    extraction = summary["feature_extraction"]
    result = {
        "frames": extraction["frames"],
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
        "extraction_seconds": extraction["seconds"],
        "extraction_frames_per_second": extraction["frames_per_second"],
    }
    shutil.rmtree(extract_dir, ignore_errors=True)
    return result


def measure_size(size: int, args: argparse.Namespace, workdir: str) -> dict[str, Any]:
    data_root = os.path.join(workdir, f"data_{size}")
    started = time.monotonic()
    counts = common.demo_dataset(data_root, size)
    logger.info("size %d: %s generated in %.1f s", size, counts, time.monotonic() - started)
    result: dict[str, Any] = {"requested_clips": size, **counts}
    if not args.skip_run:
        result.update(timed_run(data_root, os.path.join(workdir, f"run_{size}"), os.path.join(workdir, f"run_{size}.log"), args.epochs))
    if not args.skip_extract_rss:
        memory = extract_memory(data_root, os.path.join(workdir, f"extract_{size}"), os.path.join(workdir, f"extract_{size}.log"))
        # With both, the frames and extraction figures are the run's; the extract command's stay under extract_command.
        result.update({key: value for key, value in memory.items() if key not in result})
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
    data_root = os.path.join(workdir, f"workers_data_{size}")
    result: dict[str, Any] = {"clips": common.demo_dataset(data_root, size)["clips"]}
    for mode, beam_args in WORKER_MODES.items():
        output_dir = os.path.join(workdir, f"workers_{mode}")
        command = runner_command("extract", data_root, output_dir, *beam_args)
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


# --- feature reuse: reruns after new and relabelled clips -----------------------------------------

NEW_CLIP_SHARE, RELABELLED_SHARE = 0.10, 0.05


def _write_train_csv(data_root: str, rows: list[list[str]]) -> None:
    with open(os.path.join(data_root, "train.csv"), "w", newline="") as train_csv:
        csv.writer(train_csv).writerows(rows)


def _timed_extract(data_root: str, output_dir: str, log_path: str) -> dict[str, Any]:
    process = run_subprocess(runner_command("extract", data_root, output_dir), log_path)
    summary = read_summary(output_dir)
    return {
        "extract_wall_seconds": process["wall_seconds"],
        "video_example_gen_seconds": summary["seconds"]["components"]["VideoExampleGen"],
        "splits": summary["splits"],
        "frames_encoded": summary["feature_extraction"]["frames"],
        "feature_store": summary["feature_store_use"],
    }


def key_costs(data_root: str) -> dict[str, Any]:
    """Seconds to key every clip by identity (the store's key: path, size, mtime, ctime) and by a sha256 of its content."""
    from frame_path import feature_store

    paths = [os.path.join(folder, name) for folder, _, names in os.walk(data_root) for name in names if not name.endswith(".csv")]
    started = time.monotonic()
    for path in paths:
        feature_store.clip_identity(path)
    identity_seconds = time.monotonic() - started
    started = time.monotonic()
    for path in paths:
        with open(path, "rb") as clip_file:
            hashlib.file_digest(clip_file, "sha256")
    content_seconds = time.monotonic() - started
    megabytes = sum(os.path.getsize(path) for path in paths) / 2**20
    return {
        "clips": len(paths),
        "megabytes": round(megabytes, 1),
        "identity_ms_per_clip": round(1000 * identity_seconds / len(paths), 3),
        "content_sha256_ms_per_clip": round(1000 * content_seconds / len(paths), 3),
        "content_sha256_mb_per_second": round(megabytes / content_seconds, 1),
    }


def feature_reuse(size: int, workdir: str, source: str | None = None) -> dict[str, Any]:
    """`extract` into one output folder three times: on `size` clips, after 10 % more, after relabelling 5 %.

    The new clips are generated with the others (or are the last rows of a copy of `source`, a dataset in the
    Keras layout) and left out of train.csv for the first run (the manifest lists only what the CSVs name);
    each relabelled clip gets another class of the dataset.
    """
    data_root = os.path.join(workdir, "reuse_data")
    if source:
        shutil.copytree(source, data_root)
    else:
        common.demo_dataset(data_root, round(size * (1 + NEW_CLIP_SHARE)))
    with open(os.path.join(data_root, "train.csv"), newline="") as train_csv:
        header, *train_rows = list(csv.reader(train_csv))
    with open(os.path.join(data_root, "test.csv"), newline="") as test_csv:
        clips = len(train_rows) + len(list(csv.reader(test_csv))) - 1
    new_clips = round(clips * NEW_CLIP_SHARE / (1 + NEW_CLIP_SHARE))
    output_dir = os.path.join(workdir, "reuse_output")
    runs = {}
    _write_train_csv(data_root, [header, *train_rows[: len(train_rows) - new_clips]])
    runs["first"] = _timed_extract(data_root, output_dir, os.path.join(workdir, "reuse_first.log"))
    _write_train_csv(data_root, [header, *train_rows])
    runs["new_clips"] = {"clips_added": new_clips, **_timed_extract(data_root, output_dir, os.path.join(workdir, "reuse_new.log"))}
    labels = sorted({row[1] for row in train_rows})
    relabelled = round(clips * RELABELLED_SHARE)
    step = len(train_rows) // relabelled
    for row in train_rows[::step][:relabelled]:
        row[1] = labels[(labels.index(row[1]) + 1) % len(labels)]
    _write_train_csv(data_root, [header, *train_rows])
    runs["relabelled"] = {
        "clips_relabelled": relabelled,
        **_timed_extract(data_root, output_dir, os.path.join(workdir, "reuse_relabel.log")),
    }
    keys = key_costs(data_root)
    shutil.rmtree(data_root, ignore_errors=True)
    shutil.rmtree(output_dir, ignore_errors=True)
    first = runs["first"]["extract_wall_seconds"]
    return {
        "clips": clips,
        **runs,
        "clip_keys": keys,
        # Targets: <= 0.2 after +10 % new clips, <= 0.1 after relabelling 5 %.
        "new_clips_vs_first": _ratio(runs["new_clips"]["extract_wall_seconds"], first),
        "relabelled_vs_first": _ratio(runs["relabelled"]["extract_wall_seconds"], first),
    }


# --- memory probe: the real extract command with a DenseNet-free backbone ------------------------


def _fake_backbone_main(argv: list[str]) -> int:
    """`pipeline_runner.py ARGV` in this process, with random features instead of DenseNet121.

    Decoding, ClipEncoder, the Beam pipeline of the executor, TFX's split writer
    and the extraction report run as they are; only the model is replaced, so
    many clips cost seconds and the memory that grows with the clip count is
    Beam's and the pipeline's, not TensorFlow's.
    """
    import numpy as np

    from frame_path import backbone

    def fake_build_backbone(weights: str, image_size: int, seed: int, precision: str = "float32", pooling: str = "avg") -> str:
        return "fake-backbone"

    def fake_encode_frames(model: Any, frames: Any, batch_size: int) -> Any:
        return np.random.default_rng(len(frames)).standard_normal((len(frames), backbone.FEATURE_DIM), dtype=np.float32)

    backbone.build_backbone, backbone.encode_frames = fake_build_backbone, fake_encode_frames
    import pipeline_runner

    return pipeline_runner.main(argv)


def memory_probe(sizes: list[int], workdir: str) -> dict[str, Any]:
    rows = []
    for size in sizes:
        data_root = os.path.join(workdir, f"probe_data_{size}")
        clips = common.demo_dataset(data_root, size)["clips"]
        output_dir = os.path.join(workdir, f"probe_{size}")
        command = runner_command("extract", data_root, output_dir, entry=(os.path.abspath(__file__), _FAKE_BACKBONE_FLAG))
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


def _ratio(large: float | None, small: float | None) -> float | None:
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
        # One clip's features as float32 [max_seq_length, feature_dim]: what Beam holds per clip if it buffers a stage.
        result["feature_kb_per_clip"] = round(feature_bytes_per_clip / 1024, 1)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        type=common.int_list(minimum=8),
        default=[60, 240],
        metavar="N,N",
        help="comma-separated clip counts, 8 or more each (default: 60,240)",
    )
    parser.add_argument("--epochs", type=common.at_least(1), default=20, help="training epochs of each run (default: %(default)s)")
    parser.add_argument("--work-dir", help="where datasets and outputs go (default: a temporary folder, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs of every subprocess)")
    parser.add_argument("--skip-run", action="store_true", help="only the extraction memory measurement")
    parser.add_argument("--skip-extract-rss", action="store_true", help="only the whole-pipeline runs")
    parser.add_argument(
        "--memory-probe",
        type=common.int_list(minimum=8),
        default=[],
        metavar="SIZES",
        help="also run `extract` with a fake (random-feature) backbone at these clip counts, e.g. 240,960,2880: "
        "how extraction memory grows with clips, without DenseNet's cost",
    )
    parser.add_argument(
        "--feature-reuse",
        type=common.at_least(40),
        metavar="SIZE",
        help="also extract SIZE demo clips, then again into the same output folder after 10%% more clips and "
        "after relabelling 5%%: wall seconds of each `extract`, feature store hits and misses",
    )
    parser.add_argument(
        "--reuse-data-root",
        metavar="DIR",
        help="with --feature-reuse: copy this dataset (Keras layout, e.g. the hard benchmark) instead of generating demo clips",
    )
    parser.add_argument(
        "--worker-processes",
        type=common.at_least(8),
        metavar="SIZE",
        help="also extract SIZE demo clips in process and on 1 and 2 Beam worker processes (multi_processing)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.setup_logging()
    machine = common.machine_info()
    started = time.monotonic()
    result: dict[str, Any] = {"epochs": args.epochs}
    with common.work_dir(args.work_dir, "pipeline-scaling-", keep=args.keep) as workdir:
        sizes = [] if args.skip_run and args.skip_extract_rss else [measure_size(size, args, workdir) for size in args.sizes]
        if args.memory_probe:
            result["memory_probe_fake_backbone"] = memory_probe(args.memory_probe, workdir)
        if args.feature_reuse:
            result["feature_reuse"] = feature_reuse(args.feature_reuse, workdir, args.reuse_data_root)
        if args.worker_processes:
            result["extraction_worker_processes"] = worker_processes_comparison(args.worker_processes, workdir)
    from frame_path.backbone import FEATURE_DIM
    from frame_path.config import FeatureConfig

    result = {"sizes": sizes, **result, "benchmark_seconds": round(time.monotonic() - started, 1)}
    result["machine"] = {**machine, "load_average_at_end": common.load_average()}
    if len(sizes) >= 2:
        small, large = min(sizes, key=lambda item: item["clips"]), max(sizes, key=lambda item: item["clips"])
        result["ratios_large_vs_small"] = ratios(small, large, FeatureConfig().max_seq_length * FEATURE_DIM * 4)
    common.print_json(result)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == _FAKE_BACKBONE_FLAG:
        os.chdir(common.REPO_ROOT)
        sys.exit(_fake_backbone_main(sys.argv[2:]))
    sys.exit(main())
