"""What a linear probe reads from the frame features of each crop and pooling, on a benchmark's unseen scenes.

    .venv/bin/python benchmarks/crop_probe.py                                 # the appearance benchmark, ~6 min
    .venv/bin/python benchmarks/crop_probe.py --benchmark mixed --centre-fraction 0.5

For every clip of the benchmark (generated into --work-dir unless there) it samples `max_seq_length`
frames as VideoExampleGen does and encodes two crops of each with the same DenseNet121 (random init, 128 px):
the whole centre square (what the pipeline's Examples hold) and its centre, `--centre-fraction` of its side,
each pooled both ways of the pipeline's `--frame-pooling` (the feature map's mean and its maximum). A logistic regression on
the clip's mean features, trained on the training groups' clips, is scored on the test groups' (unseen
scenes), for each crop and pooling (`whole_avg`, `whole_max`, `centre_avg`, `centre_max`) and for both crops
side by side (`both_avg`, `both_max`), at several regularisation strengths. The mean over frames keeps what
is in view and drops the order: a probe of appearance only.
One JSON object goes to stdout.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

CROPS = ("whole", "centre")
POOLINGS = ("avg", "max")  # the halves of frame_path/backbone.py's "avg+max" features
INVERSE_REGULARISATION = (0.001, 0.01, 0.1, 1.0)  # sklearn's C


def clip_features(path: str, model: Any, config: Any, centre_fraction: float) -> dict[str, Any]:
    """The clip's mean frame features [1024] of each crop and pooling ("whole_avg", ...), from the avg+max `model`."""
    import cv2
    import numpy as np

    from frame_path import backbone, frames

    capture = cv2.VideoCapture(path)
    every_frame = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        every_frame.append(frame)
    capture.release()
    indices = frames.sample_frame_indices(len(every_frame), config.features.max_seq_length, config.features.sampling)
    crops: dict[str, list[Any]] = {crop: [] for crop in CROPS}
    for index in indices:
        square = frames.center_crop_square(every_frame[index])
        margin = round(square.shape[0] * (1 - centre_fraction) / 2)
        centre = square[margin : square.shape[0] - margin, margin : square.shape[1] - margin]
        # The pipeline's own crop and resize (the centre is square already, so only resized).
        crops["whole"].append(frames.crop_and_resize(square, config.features.image_size))
        crops["centre"].append(frames.crop_and_resize(centre, config.features.image_size))
    features = backbone.encode_frames(model, np.stack(crops["whole"] + crops["centre"]), config.frame_batch_size)
    per_crop = {"whole": features[: len(indices)].mean(axis=0), "centre": features[len(indices) :].mean(axis=0)}
    halves = {"avg": slice(0, backbone.FEATURE_DIM), "max": slice(backbone.FEATURE_DIM, None)}
    return {f"{crop}_{pooling}": per_crop[crop][halves[pooling]] for crop in CROPS for pooling in POOLINGS}


def probe(data_root: str, centre_fraction: float) -> dict[str, Any]:
    import numpy as np
    import tfx  # noqa: F401  (first: the TFDV stand-in)
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from frame_path.config import ExtractionConfig, resolve_auto_settings

    config = resolve_auto_settings(ExtractionConfig.of(weights="none", frame_pooling="avg+max"))
    model = config.features.build_backbone()
    started = time.monotonic()
    features, labels = {}, {}
    for split in ("train", "test"):
        with open(os.path.join(data_root, f"{split}.csv"), newline="") as listing:
            rows = list(csv.DictReader(listing))
        per_clip = [clip_features(os.path.join(data_root, split, row["video_name"]), model, config, centre_fraction) for row in rows]
        features[split] = {name: np.stack([clip[name] for clip in per_clip]) for name in per_clip[0]}
        for pooling in POOLINGS:
            features[split][f"both_{pooling}"] = np.hstack([features[split][f"{crop}_{pooling}"] for crop in CROPS])
        labels[split] = np.array([row["tag"] for row in rows])
    encode_seconds = time.monotonic() - started
    accuracy = {}
    for name in features["train"]:
        scaler = StandardScaler().fit(features["train"][name])
        train, test = scaler.transform(features["train"][name]), scaler.transform(features["test"][name])
        accuracy[name] = {
            f"C={strength:g}": round(
                float((LogisticRegression(C=strength, max_iter=3000).fit(train, labels["train"]).predict(test) == labels["test"]).mean()), 3
            )
            for strength in INVERSE_REGULARISATION
        }
    return {
        "clips": {split: len(split_labels) for split, split_labels in labels.items()},
        "centre_fraction": centre_fraction,
        "settings": {name: getattr(config.features, name) for name in ("max_seq_length", "image_size", "sampling", "weights")},
        "test_accuracy": accuracy,
        "encode_seconds": round(encode_seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", choices=("appearance", "mixed"), default="appearance", help="(default: %(default)s)")
    parser.add_argument(
        "--centre-fraction", type=float, default=0.5, help="side of the centre crop, a share of the square's (default: %(default)s)"
    )
    parser.add_argument(
        "--work-dir", default="/tmp/crop_probe", help="where the benchmark is generated, unless there (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if not 0.1 <= args.centre_fraction <= 1:
        raise common.fail(f"--centre-fraction must be in 0.1..1, got {args.centre_fraction}")
    common.setup_logging()
    from video_datasets import appearance_benchmark

    classes = appearance_benchmark.CLASSES if args.benchmark == "appearance" else appearance_benchmark.MIXED_CLASSES
    data_root = appearance_benchmark.ensure_appearance_benchmark(os.path.join(args.work_dir, args.benchmark), classes=classes)
    common.print_json({"benchmark": args.benchmark, **probe(data_root, args.centre_fraction), "machine": common.machine_info()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
