"""`infer` against the extraction on the same clips, and the timeline of a long video.

    .venv/bin/python benchmarks/infer_throughput.py                                  # 48 UCF101-like clips, a 10-min video
    .venv/bin/python benchmarks/infer_throughput.py --clips 16 --long-video-minutes 1 --model-dir outputs/demo/serving
    .venv/bin/python benchmarks/infer_throughput.py --repeats 3 --skip-timeline      # the speed verdict: medians of 3 pairs

As subprocesses of this script (each with a fresh TMPDIR):

1. the model: --model-dir, or `pipeline_runner.py run --demo --epochs 1` trained into the work folder
   (random-init backbone: offline, and the speed does not depend on the weights);
2. --clips UCF101-like clips (320x240, 25 frames/s, 150-210 frames; benchmarks/clip_sources.py) in two
   UCF101 class folders, extracted by `pipeline_runner.py extract` with the model's extraction settings:
   clips/s of VideoExampleGen's Beam pipeline (run_summary.json's feature_extraction seconds);
3. `pipeline_runner.py infer` on the same clips: clips/s of its Beam pipeline (inference_summary.json's
   seconds, the model's loading included), and infer_vs_extraction, their ratio (target >= 0.9);
   steps 2 and 3 alternate --repeats times (each extraction into a fresh folder), and the figures are
   the medians: this machine's speed drifts by up to 1.8x within an hour, so one pair decides nothing;
4. a video of --long-video-minutes (320x240, 25 frames/s) and one a tenth as long, each through
   `infer --timeline`: seconds, decoded frames/s and the peak RSS of the command's process tree, whose
   ratio says whether memory stays flat in the video's length. (That each frame is decoded once is
   tests/frame_path/test_windows.py's check: one grab per frame for all windows and the whole video.)

One JSON object goes to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.clip_sources import FPS, texture_scene, ucf101_like_clip_paths, write_panning_texture  # noqa: E402

logger = logging.getLogger("benchmarks")
TARGET_INFER_VS_EXTRACTION = 0.9
CLASSES = ("Synthetic", "Texture")
# UCF101-long windows (its clips last ~7 s), not the demo model's default (its 1-s training clips): the figures stay comparable.
TIMELINE_OPTIONS = ("--timeline", "--window-seconds", "4", "--stride-seconds", "2")


def trained_model(work_dir: str) -> str:
    output_dir = os.path.join(work_dir, "model")
    command = [
        sys.executable,
        common.PIPELINE_RUNNER,
        "run",
        "--demo",
        "--output-dir",
        output_dir,
        "--epochs",
        "1",
        "--min-test-accuracy",
        "0",
        "--min-lift-over-majority",
        "-1",
    ]
    common.run_subprocess(command, os.path.join(work_dir, "train.log"))
    return os.path.join(output_dir, "serving")


def class_folder_dataset(data_root: str, num_clips: int) -> list[str]:
    """UCF101 class folders of UCF101-like clips (two classes, groups of two clips), half of each class in
    groups 7, 6, ... (UCF101's first test split is groups 1-7) and half in groups 8, 9, ... (at least two
    training groups, so that an eval split can be held out); the clip paths."""
    paths = []
    for class_index, class_name in enumerate(CLASSES):
        folder = os.path.join(data_root, class_name)
        generated = ucf101_like_clip_paths(os.path.join(data_root, "generated"), num_clips // len(CLASSES), seed=class_index)
        os.makedirs(folder)
        test_clips = len(generated) // 2
        for index, path in enumerate(generated):
            group = 7 - index // 2 if index < test_clips else 8 + (index - test_clips) // 2
            paths.append(os.path.join(folder, f"v_{class_name}_g{group:02d}_c{index % 2 + 1:02d}.avi"))
            os.replace(path, paths[-1])
        os.rmdir(os.path.dirname(generated[0]))
    return paths


def long_video(path: str, minutes: float) -> str:
    """A 320x240 XVID video of `minutes`, a texture panning under noise, as ucf101_like_clip_paths's clips
    (16 noise frames in turn: fresh noise for each of 15,000 frames would add ~14 s of drawing)."""
    rng = np.random.RandomState(0)
    scene = texture_scene(rng)
    noise = [rng.normal(0, 6, (240, 320, 1)) for _ in range(16)]
    write_panning_texture(path, scene, round(minutes * 60 * FPS), lambda index: noise[index % len(noise)])
    return path


def extraction_options(model_dir: str) -> list[str]:
    """The model's extraction settings that decide the frames and the backbone's input, as `extract` options
    (the rest, e.g. precision and frame batch size, resolve alike on the same machine)."""
    from inference.model import read_model_info, resolve_model_dir
    from pipeline.options import flag

    features = read_model_info(resolve_model_dir(model_dir)).features
    return [item for name in ("max_seq_length", "image_size", "sampling") for item in (flag(name), str(getattr(features, name)))]


def infer(model_dir: str, videos: list[str], output_dir: str, log_path: str, *options: str) -> dict[str, Any]:
    command = [
        sys.executable,
        common.PIPELINE_RUNNER,
        "infer",
        "--videos",
        *videos,
        "--model-dir",
        model_dir,
        "--output-dir",
        output_dir,
        *options,
    ]
    process = common.run_subprocess(command, log_path, poll_rss=True)
    with open(os.path.join(output_dir, "inference_summary.json")) as summary_file:
        summary = json.load(summary_file)
    if summary["failed"]:
        raise common.fail(f"infer failed on {summary['failed']}")
    return {"summary": summary, "process": process}


def benchmark(args: argparse.Namespace, work_dir: str) -> dict[str, Any]:
    model_dir = args.model_dir or trained_model(work_dir)
    data_root = os.path.join(work_dir, "clips")
    logger.info("generating %d UCF101-like clips in %s", args.clips, data_root)
    clips = class_folder_dataset(data_root, args.clips)
    pairs = []
    for repeat in range(args.repeats):
        extract_dir = os.path.join(work_dir, f"extract_{repeat}")  # fresh: a rerun into the same folder is served from its cache
        extract = common.run_subprocess(
            common.runner_command("extract", data_root, extract_dir, *extraction_options(model_dir)),
            os.path.join(work_dir, f"extract_{repeat}.log"),
        )
        extract_summary = common.read_summary(extract_dir)
        extraction = extract_summary["feature_extraction"]
        if sum(extract_summary["splits"].values()) != len(clips):
            raise common.fail(f"extract read {extract_summary['splits']} of {len(clips)} clips")
        inferred = infer(model_dir, [data_root], os.path.join(work_dir, f"infer_{repeat}"), os.path.join(work_dir, f"infer_{repeat}.log"))
        pairs.append(
            {
                "extraction_clips_per_s": round(len(clips) / extraction["seconds"], 3),
                "infer_clips_per_s": round(inferred["summary"]["videos"] / inferred["summary"]["seconds"], 3),
                "extraction": {**extraction, "command_wall_seconds": extract["wall_seconds"]},
                "infer": {
                    "seconds": inferred["summary"]["seconds"],
                    "frames_per_second": inferred["summary"]["frames_per_second"],
                    "command_wall_seconds": inferred["process"]["wall_seconds"],
                },
            }
        )
        logger.info(
            "pair %d: extraction %.3f clips/s, infer %.3f clips/s",
            repeat + 1,
            pairs[-1]["extraction_clips_per_s"],
            pairs[-1]["infer_clips_per_s"],
        )
    extraction_clips_per_s = float(np.median([pair["extraction_clips_per_s"] for pair in pairs]))
    infer_clips_per_s = float(np.median([pair["infer_clips_per_s"] for pair in pairs]))
    result: dict[str, Any] = {
        "clips": len(clips),
        "repeats": args.repeats,
        "extraction_clips_per_s": round(extraction_clips_per_s, 3),
        "infer_clips_per_s": round(infer_clips_per_s, 3),
        "infer_vs_extraction": round(infer_clips_per_s / extraction_clips_per_s, 3),
        "pair_ratios": [round(pair["infer_clips_per_s"] / pair["extraction_clips_per_s"], 3) for pair in pairs],
        "pairs": pairs,
    }
    result["targets"] = {"infer_vs_extraction": TARGET_INFER_VS_EXTRACTION}
    result["targets_met"] = {"infer_vs_extraction": result["infer_vs_extraction"] >= TARGET_INFER_VS_EXTRACTION}
    if not args.skip_timeline:
        result["timeline"] = timeline_figures(args, model_dir, work_dir)
    return result


def timeline_figures(args: argparse.Namespace, model_dir: str, work_dir: str) -> dict[str, Any]:
    timelines = {}
    for label, minutes in (("tenth", args.long_video_minutes / 10), ("long", args.long_video_minutes)):
        logger.info("writing a %.1f-minute video", minutes)
        video = long_video(os.path.join(work_dir, f"{label}.avi"), minutes)
        run = infer(
            model_dir,
            [video],
            os.path.join(work_dir, f"timeline_{label}"),
            os.path.join(work_dir, f"timeline_{label}.log"),
            *TIMELINE_OPTIONS,
        )
        with open(os.path.join(work_dir, f"timeline_{label}", "predictions.jsonl")) as predictions_file:
            windows = len(json.loads(predictions_file.readline())["windows"])
        timelines[label] = {
            "minutes": round(minutes, 2),
            "frames": run["summary"]["frames"],
            "windows": windows,
            "seconds": run["summary"]["seconds"],
            "decoded_frames_per_second": run["summary"]["frames_per_second"],
            "tree_peak_rss_mb": run["process"]["tree_peak_rss_mb"],
        }
    return {**timelines, "peak_rss_long_vs_tenth": round(timelines["long"]["tree_peak_rss_mb"] / timelines["tenth"]["tree_peak_rss_mb"], 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--clips",
        type=common.at_least(16),
        default=48,
        help="UCF101-like clips for extract and infer, at least 16 (two training groups a class; default: %(default)s)",
    )
    parser.add_argument(
        "--repeats", type=common.at_least(1), default=3, help="extract/infer pairs, alternating; medians reported (default: %(default)s)"
    )
    parser.add_argument("--skip-timeline", action="store_true", help="only the clips/s of extract and infer")
    parser.add_argument("--long-video-minutes", type=float, default=10.0, help="length of the timeline's video (default: %(default)s)")
    parser.add_argument("--model-dir", help="a pushed model (serving dir or version); default: one trained on the demo data here")
    parser.add_argument("--work-dir", help="keep the clips, models and logs here (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    if args.long_video_minutes <= 0:
        raise common.fail("--long-video-minutes must be above 0")
    common.setup_logging()
    machine = common.machine_info()
    with common.work_dir(args.work_dir, "infer-benchmark-") as work_dir:
        result = benchmark(args, work_dir)
    common.print_json({**result, "machine": {**machine, "load_average_at_end": common.load_average()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
