"""Test accuracy on the hard benchmark: the Keras example's configuration, the previous default, the new default.

    .venv/bin/python benchmarks/model_quality.py                       # data and features under /tmp/model_quality
    .venv/bin/python benchmarks/model_quality.py --work-dir DIR --seeds 0,1,2

1. Generates the hard benchmark (video_datasets/hard_benchmark.py) into
   WORK_DIR/data unless it is there.
2. Extracts the frame features once per sampling mode with the real pipeline,
   `pipeline_runner.py extract --data-root WORK_DIR/data --output-dir
   WORK_DIR/features_<sampling> --weights none --sampling <sampling>`, unless
   that folder already holds the Examples (fresh TMPDIR per subprocess).
3. Loads the Examples (train, eval, test), z-scores the features with the
   train split's statistics over real frames (as trainer/preprocessing.py)
   and trains trainer/model.py's model per configuration and seed the way
   trainer/run_fn.py does: `fit` with the eval split as validation data and
   trainer/training.py training_callbacks() (the Trainer's and the Tuner's callbacks:
   EarlyStopping on val_loss after `warmup_epochs`, best weights kept), then
   test accuracy.

One JSON object goes to stdout; progress to stderr.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402

from video_datasets import hard_benchmark  # noqa: E402

SPLITS = ("train", "eval", "test")
_VARIANCE_EPSILON = 1e-6  # as trainer/preprocessing.py
# trainer/model.py's DEFAULT_HPARAMS before issue 13 (appearance only).
PREVIOUS_DEFAULT_HPARAMS: dict[str, Any] = {
    "projection_dim": 64, "dense_dim": 64, "num_heads": 2, "num_layers": 1, "dropout": 0.1,
    "learning_rate": 1e-3, "epochs": 100, "batch_size": 8, "early_stopping_patience": 30, "warmup_epochs": 0,
    "appearance_stream": True, "clip_centering": False, "motion_stream": False,
    "feature_noise": 0.0, "label_smoothing": 0.0, "weight_decay": 0.0,
}

logger = logging.getLogger("model_quality")


def _configurations() -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (sampling, hyperparameter overrides of model.DEFAULT_HPARAMS)."""
    from trainer import model

    return {
        "keras_example": ("first", dict(model.SEED_HPARAMS)),
        "previous_default": ("uniform", {**model.DEFAULT_HPARAMS, **PREVIOUS_DEFAULT_HPARAMS}),
        "new_default": ("uniform", dict(model.DEFAULT_HPARAMS)),
    }


def examples_dir(features_dir: str) -> str | None:
    """The newest VideoExampleGen Examples folder under an `extract` output folder, if any."""
    candidates = glob.glob(os.path.join(features_dir, "pipeline_root", "VideoExampleGen", "examples", "*", "Split-test"))
    if not candidates:
        return None
    return os.path.dirname(max(candidates, key=lambda path: int(os.path.basename(os.path.dirname(path)))))


def extract_features(data_root: str, features_dir: str, sampling: str) -> str:
    """Runs the pipeline's extract command unless `features_dir` has the Examples; returns the Examples folder."""
    found = examples_dir(features_dir)
    if found:
        return found
    tmp_dir = tempfile.mkdtemp(prefix="model-quality-")
    try:
        command = [sys.executable, os.path.join(REPO_ROOT, "pipeline_runner.py"), "extract", "--data-root", data_root,
                   "--output-dir", features_dir, "--weights", "none", "--sampling", sampling]
        logger.info("extracting: %s", " ".join(command))
        subprocess.run(command, check=True, cwd=REPO_ROOT, env={**os.environ, "TMPDIR": tmp_dir},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    found = examples_dir(features_dir)
    if not found:
        raise RuntimeError(f"no Examples under {features_dir} after extraction")
    return found


def load_split(split_dir: str) -> dict[str, np.ndarray]:
    """A Split-* folder of GZIP TFRecords -> {frame_features [N, T, D], frame_mask [N, T], label [N], video_id [N]}."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(split_dir, "*.gz")))
    features, masks, labels, video_ids = [], [], [], []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy()).features.feature
        mask = np.array(example["frame_mask"].int64_list.value, dtype=np.int64)
        masks.append(mask)
        features.append(np.array(example["frame_features"].float_list.value, dtype=np.float32).reshape(len(mask), -1))
        labels.append(example["label"].bytes_list.value[0].decode())
        video_ids.append(example["video_id"].bytes_list.value[0].decode())
    order = np.argsort(video_ids)  # record order depends on Beam; the data set does not
    return {
        "frame_features": np.stack(features)[order],
        "frame_mask": np.stack(masks)[order],
        "label": np.array(labels)[order],
        "video_id": np.array(video_ids)[order],
    }


def load_examples(examples: str) -> dict[str, dict[str, np.ndarray]]:
    return {split: load_split(os.path.join(examples, f"Split-{split}")) for split in SPLITS}


def normalize(splits: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """Per-dimension z-score with the train split's mean and variance over real frames; padding stays zero."""
    train = splits["train"]
    real = train["frame_features"][train["frame_mask"].astype(bool)]
    mean, variance = real.mean(axis=0), real.var(axis=0)
    normalized = {}
    for split, data in splits.items():
        features = (data["frame_features"] - mean) / np.sqrt(variance + _VARIANCE_EPSILON)
        features = np.where(data["frame_mask"][..., None].astype(bool), features, 0.0).astype(np.float32)
        normalized[split] = {**data, "frame_features": features}
    return normalized


def train_and_test(splits: dict[str, dict[str, np.ndarray]], hparams_config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Trains as trainer/run_fn.py does (eval split as validation, EarlyStopping on val_loss) and tests."""
    import keras

    from trainer import model
    # The Trainer's and the Tuner's own callbacks, so the benchmark trains exactly as they do.
    from trainer.training import training_callbacks

    labels = sorted(set(splits["train"]["label"]))
    label_ids = {split: np.array([labels.index(label) for label in data["label"]]) for split, data in splits.items()}
    inputs = {split: {key: data[key] for key in ("frame_features", "frame_mask")} for split, data in splits.items()}
    max_seq_length, feature_dim = splits["train"]["frame_features"].shape[1:]
    hparams = model.HParams.from_config({**hparams_config, "max_seq_length": int(max_seq_length), "feature_dim": int(feature_dim)})
    keras.utils.set_random_seed(seed)
    classifier = model.build_model(len(labels), hparams)
    started = time.perf_counter()
    history = classifier.fit(
        inputs["train"], label_ids["train"],
        validation_data=(inputs["eval"], label_ids["eval"]),
        epochs=hparams.epochs, batch_size=hparams.batch_size, verbose=0,
        callbacks=training_callbacks(hparams),
    )
    seconds = time.perf_counter() - started
    probabilities = keras.ops.convert_to_numpy(classifier.predict(inputs["test"], batch_size=256, verbose=0))
    return {
        "test_accuracy": float(np.mean(probabilities.argmax(axis=1) == label_ids["test"])),
        "epochs_run": len(history.history["loss"]),
        "train_seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default="/tmp/model_quality", help="benchmark data and features (default: %(default)s)")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds (default: %(default)s)")
    parser.add_argument("--configs", default="keras_example,previous_default,new_default", help="which configurations (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    configurations = _configurations()
    chosen = args.configs.split(",")

    data_root = os.path.join(args.work_dir, "data")
    started = time.perf_counter()
    hard_benchmark.ensure_hard_benchmark(data_root)
    generation_seconds = time.perf_counter() - started
    splits_by_sampling: dict[str, Any] = {}
    extraction_seconds: dict[str, float] = {}
    for sampling in sorted({configurations[name][0] for name in chosen}):
        started = time.perf_counter()
        examples = extract_features(data_root, os.path.join(args.work_dir, f"features_{sampling}"), sampling)
        extraction_seconds[sampling] = round(time.perf_counter() - started, 1)
        splits_by_sampling[sampling] = normalize(load_examples(examples))

    results: dict[str, Any] = {}
    for name in chosen:
        sampling, hparams_config = configurations[name]
        runs = []
        for seed in seeds:
            runs.append(train_and_test(splits_by_sampling[sampling], hparams_config, seed))
            logger.info("%s seed %d: %s", name, seed, runs[-1])
        accuracies = [run["test_accuracy"] for run in runs]
        results[name] = {
            "sampling": sampling,
            "test_accuracy_mean": round(float(np.mean(accuracies)), 4),
            "test_accuracy_min": round(float(np.min(accuracies)), 4),
            "test_accuracies": accuracies,
            "epochs_run": [run["epochs_run"] for run in runs],
            "train_seconds": [run["train_seconds"] for run in runs],
        }
    train = splits_by_sampling[configurations[chosen[0]][0]]
    print(json.dumps({
        "benchmark": "hard_benchmark (video_datasets/hard_benchmark.py, seed 0), --weights none",
        "clips": {split: int(len(data["label"])) for split, data in train.items()},
        "seeds": seeds,
        "results": results,
        "generation_seconds": round(generation_seconds, 1),
        "extraction_seconds": extraction_seconds,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
