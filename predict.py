"""Predicts the actions in video files with a model the pipeline pushed.

    python predict.py --model-dir outputs/demo/serving VIDEO [VIDEO ...] [--top-k 5] [--json]
    python predict.py --model-dir outputs/demo/serving LONG_VIDEO --timeline [--window-seconds 4 --stride-seconds 2]
    python predict.py --model-dir outputs/demo/serving VIDEO --views 3

Each video is decoded, sampled and encoded exactly as in the pipeline (the same
frames and backbone modules), then classified by the model's serving_default
signature. With --timeline, overlapping windows of each video are also
classified, each sampled as a training clip, and neighbouring windows of one
label merged into segments (a table, or `windows` and `segments` with --json). With --views N, each clip
(and window) is sampled N times at interleaved frames and the probabilities averaged.
One bad video never stops the others; the exit code is 1 if any
video failed, 2 for a bad model directory or mismatched backbone weights.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from frame_path.errors import BackboneWeightsError
from inference.model import ModelDirError, PushedModel, VideoClassifier, add_views_option, check_views
from inference.results import timeline_table, video_results
from inference.timeline import add_timeline_options, timeline_config_of
from pipeline.options import option_strings, unknown_option_message


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files to classify")
    parser.add_argument("--model-dir", required=True, help="a serving directory (its newest version is used) or one version folder")
    parser.add_argument("--top-k", type=int, default=5, help="how many actions to show per video (default: %(default)s)")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per video and line: video, predictions [{label, probability}] or error"
    )
    parser.add_argument("--weights", help="backbone weights, as for the pipeline (default: the ones the model was trained with)")
    add_views_option(parser)
    add_timeline_options(parser)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(unknown_option_message(unknown[0], option_strings(parser)))
    if args.top_k < 1:
        parser.error("--top-k must be at least 1")
    try:
        check_views(args.views)
        timeline_config = timeline_config_of(args)
    except ValueError as error:
        parser.error(str(error))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        classifier = VideoClassifier(PushedModel.open(args.model_dir, args.weights, args.views), args.views)
    except (ModelDirError, BackboneWeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    failures = 0
    with classifier:
        try:
            for result in video_results(classifier, args.videos, args.top_k, timeline_config):
                failures += "error" in result
                _print_result(result, args.json)
        except ModelDirError as error:  # the model, not a video: no other video can succeed
            print(f"error: {error}", file=sys.stderr)
            return 2
    return 1 if failures else 0


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    video = result["video"]
    if as_json:
        print(json.dumps(result), flush=True)
    elif "error" in result:
        print(f"{video}: error: {result['error']}", flush=True)
    else:
        print(video)
        for prediction in result["predictions"]:
            print(f"  {prediction['label']:<24} {prediction['probability']:.3f}", flush=True)
        if "segments" in result:
            print(timeline_table(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
