"""Test accuracy on the hard benchmark (order) and the appearance benchmark (what is in view), per configuration.

    .venv/bin/python benchmarks/model_quality.py                       # data and features under /tmp/model_quality
    .venv/bin/python benchmarks/model_quality.py --work-dir DIR --seeds 0,1,2 --benchmarks appearance --configs new_default

Configurations: the Keras example's, the previous default (appearance only), the change streams (the default
before the Trainer chose streams), the Trainer's choice on the eval split (`frame_streams=auto`) over the feature map's mean
(`auto_avg_pooling`) and over the map's maximum alone (`max_pooling`, the default before its minimum joined), and
today's default (that choice over the default `frame_pooling`).

1. Generates each benchmark unless it is there: the hard one (video_datasets/hard_benchmark.py: only frame order
   tells its class pairs apart) into WORK_DIR/data, the appearance one (video_datasets/appearance_benchmark.py:
   only the look of the object in view, identical motion) into WORK_DIR/appearance/data.
2. Extracts the frame features once per sampling mode and frame pooling with the real pipeline,
   `pipeline_runner.py extract --data-root .../data --output-dir
   .../features_<sampling>[_<pooling>] --weights none --sampling <sampling> --frame-pooling <pooling>`
   (log: .../features_<sampling>[_<pooling>].log; a fresh TMPDIR), unless that folder
   already holds the command's run_summary.json.
3. Loads the Examples (train, eval, test), z-scores the features with the
   train split's statistics over real frames (as trainer/preprocessing.py)
   and trains trainer/model.py's model per configuration and seed the way
   trainer/run_fn.py does: `fit` with the eval split as validation data,
   trainer/training.py's callbacks (EarlyStopping on val_loss after `warmup_epochs`,
   best weights kept) and trainer/stream_selection.py's choice of frame streams (each
   candidate's eval and test accuracy in `stream_selection`), then test accuracy: on the
   test split (`test_accuracy`, unseen scenes). For the hard benchmark also on
   the shifted test set (`shifted_accuracy`: the same unseen scenes, the action
   filling the whole clip, 40-100% of its course, 8-600 frames; hard_benchmark.SHIFTED, generated into
   WORK_DIR/data_shifted) and, for `uniform` sampling, on the windows centred in
   each action of 12 videos of three actions in a row (`sequences_accuracy`:
   hard_benchmark.write_action_sequence, test scenes; windows as long as the
   median training clip, as a timeline's default) and on each action's own frames, the window cut exactly at
   its first and last frame (`aligned_accuracy`). Held out, never tuned on (other scenes, timings and a constant
   speed; hard_benchmark.HELDOUT_SEED): `heldout_test_accuracy` (hard_benchmark.HELDOUT_TEST, WORK_DIR/data_heldout_test),
   `heldout_whole_accuracy` (HELDOUT_WHOLE: the action's whole course filling the clip) and
   `heldout_aligned_accuracy` (16 three-action videos of 40-160 frames an action, windows cut at the actions).
   The appearance benchmark and the mixed set have a held-out test set too (`heldout_test_accuracy`:
   appearance_benchmark.HELDOUT, another seed's scenes and objects, 12-250 frames; WORK_DIR/<name>/data_heldout_test).
   With `--eval-clips N` the eval split is cut to N clips; where the frame streams are chosen, `alternatives`
   holds the test figures of other rules on the same candidates: the pick of the Trainer before the average
   (`previous_pick`), the lowest eval loss, the best eval accuracy, all candidates averaged with equal weights
   (`equal_mean`) and with weights exp(-eval clips x eval loss) (`evidence_weighted`). With `--views N` (N > 1), the test
   split and the shifted set are also tested with multi-view testing as predict.py's
   `--views N` does it (`test_views_accuracy`, `shifted_views_accuracy`): features of
   N x max_seq_length frames a clip (extracted into WORK_DIR/features_uniform_views<N>[_shifted]),
   N interleaved samplings of them (frames.view_positions), the probabilities averaged.
   With `--kfold K`, today's default also records the frame streams that K-fold over the
   training groups would choose (`kfold_selection`) and, per seed, the test accuracy of
   each choice against the candidate best on test (`selection_test_accuracy`).

One JSON object goes to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import sys
import time
from typing import Any, NamedTuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402
from frame_path.backbone import appearance_feature_dim  # noqa: E402
from frame_path.config import FeatureConfig  # noqa: E402
from frame_path.records import FRAME_FEATURES_KEY, FRAME_MASK_KEY, LABEL_KEY, NUM_FRAMES_KEY, VIDEO_ID_KEY  # noqa: E402
from trainer.hparams import DEFAULT_HPARAMS, SEED_HPARAMS, HParams  # noqa: E402
from video_datasets import appearance_benchmark, hard_benchmark  # noqa: E402

SPLITS = ("train", "eval", "test")
# What a model is tested on: the test split, the shifted test set, the windows centred in the actions of three-action videos.
# Tuned on: the test split, the shifted test set, the windows centred in or cut exactly at the actions of
# three-action videos (all in the test scenes). Held out (never tuned on; HELDOUT_SETS, SEQUENCE_SETS):
# other scenes, timings and easing.
EVALUATED_SPLITS = ("test", "shifted", "sequences", "aligned", "heldout_test", "heldout_whole", "heldout_aligned")
# split -> the hard benchmark's test set it is extracted from (WORK_DIR/data_<split>, its Split-test).
HELDOUT_SETS = {"heldout_test": hard_benchmark.HELDOUT_TEST, "heldout_whole": hard_benchmark.HELDOUT_WHOLE}
# The same clips with multi-view testing: split -> the split of dense features (frames.view_positions) its views come from.
VIEW_SPLITS = {"test_views": "test_dense", "shifted_views": "shifted_dense"}
# The z-score of trainer/preprocessing.py, in NumPy: Transform's mean and variance are tf.Transform
# analyzers, computed only by a Beam pass, while this benchmark trains many models from arrays in memory;
# tests/test_benchmarks.py checks that both give the same features.
_VARIANCE_EPSILON = 1e-6
# The default before the change streams, as an overlay of today's: the appearance stream alone, no warm-up.
PREVIOUS_DEFAULT_HPARAMS: dict[str, Any] = {"warmup_epochs": 0, "frame_streams": "appearance"}


class Features(NamedTuple):
    """The extraction settings a configuration's features are made with (the rest are the pipeline's defaults)."""

    sampling: str
    frame_pooling: str

    def folder(self, parent: str, suffix: str = "") -> str:
        """Where `extract` puts them: features_<sampling>[_<pooling>]<suffix>."""
        return os.path.join(parent, f"features_{self.sampling}{pooling_suffix(self.frame_pooling)}{suffix}")

    def options(self) -> tuple[str, ...]:
        return ("--sampling", self.sampling, "--frame-pooling", self.frame_pooling)


def pooling_suffix(frame_pooling: str) -> str:
    """'_max', '_avgmax' in the names of cached features; none for 'avg', whose folders kept their names."""
    return "" if frame_pooling == "avg" else "_" + frame_pooling.replace("+", "")


# The pipeline's default pooling as it resolves for the random-init weights every benchmark here runs on.
DEFAULT_FEATURES = Features("uniform", FeatureConfig(weights="none").resolved_frame_pooling)
# name -> (features, hyperparameters)
CONFIGURATIONS: dict[str, tuple[Features, dict[str, Any]]] = {
    "keras_example": (Features("first", "avg"), SEED_HPARAMS),
    "previous_default": (Features("uniform", "avg"), {**DEFAULT_HPARAMS, **PREVIOUS_DEFAULT_HPARAMS}),
    # The default before the Trainer chose streams: the change streams, whatever the data.
    "change_streams": (Features("uniform", "avg"), {**DEFAULT_HPARAMS, "frame_streams": "change"}),
    # The default before max pooling: the Trainer's choice of streams over the feature map's mean.
    "auto_avg_pooling": (Features("uniform", "avg"), DEFAULT_HPARAMS),
    # Today's: the Trainer chooses the streams on the eval split (trainer/stream_selection.py), over the default pooling.
    "new_default": (DEFAULT_FEATURES, DEFAULT_HPARAMS),
    # The default before the map's minimum joined its maximum: the maximum alone (1024 features).
    "max_pooling": (Features("uniform", "max"), DEFAULT_HPARAMS),
}
# name -> (generator of the data into a folder, whether the shifted set, the sequences and the views belong to it)
BENCHMARKS: dict[str, tuple[Any, bool]] = {
    "hard": (hard_benchmark.ensure_hard_benchmark, True),
    "appearance": (appearance_benchmark.ensure_appearance_benchmark, False),
    "mixed": (lambda folder: appearance_benchmark.ensure_appearance_benchmark(folder, classes=appearance_benchmark.MIXED_CLASSES), False),
}
# name -> the generator of its held-out test set (`heldout_test`, WORK_DIR/<name>/data_heldout_test: other
# scenes, objects and clip lengths, appearance_benchmark.HELDOUT), for the benchmarks whose held-out sets are not the hard one's.
HELDOUT_GENERATORS: dict[str, Any] = {
    "appearance": lambda folder: appearance_benchmark.ensure_appearance_benchmark(folder, appearance_benchmark.HELDOUT),
    "mixed": lambda folder: appearance_benchmark.ensure_appearance_benchmark(
        folder, appearance_benchmark.HELDOUT, appearance_benchmark.MIXED_CLASSES
    ),
}

logger = logging.getLogger("model_quality")


def extract_features(data_root: str, features_dir: str, *options: str) -> str:
    """Runs the pipeline's extract command unless `features_dir` has its output; returns the Examples folder."""
    if not os.path.exists(os.path.join(features_dir, "run_summary.json")):
        command = common.runner_command("extract", data_root, features_dir, *options)
        common.run_subprocess(command, f"{features_dir}.log")
    return common.read_summary(features_dir)["examples_uri"]


def load_split(split_dir: str) -> dict[str, np.ndarray]:
    """A Split-* folder of GZIP TFRecords -> {frame_features [N, T, D], frame_mask [N, T], label [N], video_id [N]}."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(split_dir, "*.gz")))
    features, masks, labels, video_ids, num_frames = [], [], [], [], []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy()).features.feature
        mask = np.array(example[FRAME_MASK_KEY].int64_list.value, dtype=np.int64)
        masks.append(mask)
        num_frames.append(example[NUM_FRAMES_KEY].int64_list.value[0])
        features.append(np.array(example[FRAME_FEATURES_KEY].float_list.value, dtype=np.float32).reshape(len(mask), -1))
        labels.append(example[LABEL_KEY].bytes_list.value[0].decode())
        video_ids.append(example[VIDEO_ID_KEY].bytes_list.value[0].decode())
    order = np.argsort(video_ids)  # record order depends on Beam; the data set does not
    return {
        FRAME_FEATURES_KEY: np.stack(features)[order],
        FRAME_MASK_KEY: np.stack(masks)[order],
        LABEL_KEY: np.array(labels)[order],
        VIDEO_ID_KEY: np.array(video_ids)[order],
        NUM_FRAMES_KEY: np.array(num_frames)[order],
    }


def load_examples(examples: str, shifted_examples: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """train, eval, test and, given the shifted set's Examples, its test split as `shifted`."""
    splits = {split: load_split(os.path.join(examples, f"Split-{split}")) for split in SPLITS}
    if shifted_examples:
        splits["shifted"] = load_split(os.path.join(shifted_examples, "Split-test"))
    return splits


class SequenceSet(NamedTuple):
    """Windows of videos of three actions in a row (hard_benchmark.write_action_sequence), each naming one action."""

    videos: int
    seed: int  # of the scenes (hard_benchmark._scene) and of the videos' draws
    frames_per_action: tuple[int, int]
    easing: str
    # 'centred': a window as long as the median training clip, centred in each action (inside it);
    # 'aligned': each action's own frames, first to last (a window that starts and stops where the action does).
    windows: str


# name -> the set; 'sequences' and 'aligned' show the test scenes (tuned on), 'heldout_aligned' new scenes,
# timings and easing (hard_benchmark.HELDOUT_SEED), never tuned on.
SEQUENCE_SETS: dict[str, SequenceSet] = {
    "sequences": SequenceSet(12, 0, (60, 120), "smoothstep", "centred"),
    "aligned": SequenceSet(12, 0, (60, 120), "smoothstep", "aligned"),
    "heldout_aligned": SequenceSet(16, hard_benchmark.HELDOUT_SEED, (40, 160), "linear", "aligned"),
}


def sequence_windows(
    work_dir: str, window_frames: int, max_seq_length: int, frame_pooling: str, name: str = "sequences"
) -> dict[str, np.ndarray]:
    """The windows of SEQUENCE_SETS[name]: `videos` videos of three different actions in a row
    (hard_benchmark.write_action_sequence), one window an action, sampled and encoded as `extract --weights none`
    encodes a clip (the frame path's sampling, crop and random-init DenseNet121): {frame_features, frame_mask, label}.
    Centred windows are `window_frames` long. Cached in WORK_DIR/<name>/windows_<window_frames>[_<pooling>].npz."""
    from frame_path import backbone, frames
    from frame_path.windows import Window, WindowedVideo, decode_windows

    spec = SEQUENCE_SETS[name]
    folder = os.path.join(work_dir, name)
    cache = os.path.join(folder, f"windows_{window_frames if spec.windows == 'centred' else 'aligned'}{pooling_suffix(frame_pooling)}.npz")
    if os.path.exists(cache):
        with np.load(cache) as cached:
            return {key: cached[key] for key in (FRAME_FEATURES_KEY, FRAME_MASK_KEY, LABEL_KEY)}
    os.makedirs(folder, exist_ok=True)
    settings = FeatureConfig(weights="none", precision="float32", frame_pooling=frame_pooling)
    encoder = settings.build_backbone()
    rng = np.random.default_rng(5 + spec.seed)
    features, masks, labels = [], [], []
    for index in range(spec.videos):
        classes = tuple(str(name) for name in rng.choice(hard_benchmark.CLASSES, size=3, replace=False))
        path = os.path.join(folder, f"sequence_{index:02d}.avi")
        group = 1 + index % (4 if spec.seed == 0 else 7)
        actions = hard_benchmark.write_action_sequence(path, classes, group, spec.seed, spec.frames_per_action, spec.easing)
        # The timeline's own one-pass decoder (frame_path/windows.py), given the windows.
        windows = []
        for action in actions:
            first, last = int(action["start_frame"]), int(action["end_frame"])
            if spec.windows == "centred":
                first = max(0, (first + last) // 2 - window_frames // 2)
                last = first + window_frames
            windows.append(Window(first, last, first + frames.sample_frame_indices(last - first, max_seq_length, "uniform")))
        num_frames = int(actions[-1]["end_frame"])
        whole = Window(0, num_frames, frames.sample_frame_indices(num_frames, max_seq_length, "uniform"))
        video = WindowedVideo(frames.DEFAULT_FPS, num_frames, windows, whole)
        for window, sampled in decode_windows(path, video, settings.image_size):
            if window is not whole:
                padded, mask = frames.pad_to_length(backbone.encode_frames(encoder, sampled, 32), max_seq_length)
                features.append(padded)
                masks.append(mask)
        labels += [action["label"] for action in actions]
    windows = {FRAME_FEATURES_KEY: np.stack(features), FRAME_MASK_KEY: np.stack(masks), LABEL_KEY: np.array(labels)}
    np.savez(cache, **windows)
    return windows


def normalize(splits: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """Per-dimension z-score with the train split's mean and variance over real frames; padding stays zero."""
    train = splits["train"]
    real = train[FRAME_FEATURES_KEY][train[FRAME_MASK_KEY].astype(bool)]
    mean, variance = real.mean(axis=0), real.var(axis=0)
    normalized = {}
    for split, data in splits.items():
        features = (data[FRAME_FEATURES_KEY] - mean) / np.sqrt(variance + _VARIANCE_EPSILON)
        features = np.where(data[FRAME_MASK_KEY][..., None].astype(bool), features, 0.0).astype(np.float32)
        normalized[split] = {**data, FRAME_FEATURES_KEY: features}
    return normalized


def view_probabilities(classifier: Any, dense: dict[str, np.ndarray], max_seq_length: int, views: int) -> np.ndarray:
    """Each clip's probabilities averaged over its views, as inference/model.py's VideoClassifier averages them."""
    import keras

    from frame_path.frames import clip_views

    features, masks, owners = [], [], []
    for clip, (clip_features, clip_mask) in enumerate(zip(dense[FRAME_FEATURES_KEY], dense[FRAME_MASK_KEY])):
        for padded, mask in clip_views(clip_features[: int(clip_mask.sum())], max_seq_length, views):
            features.append(padded)
            masks.append(mask)
            owners.append(clip)
    inputs = {FRAME_FEATURES_KEY: np.stack(features), FRAME_MASK_KEY: np.stack(masks)}
    probabilities = keras.ops.convert_to_numpy(classifier.predict(inputs, batch_size=256, verbose=0))
    owners_array = np.array(owners)
    return np.stack([probabilities[owners_array == clip].mean(axis=0) for clip in range(len(dense[LABEL_KEY]))])


def kfold_selection(train: dict[str, np.ndarray], hparams: Any, labels: list[str], seed: int, folds: int) -> dict[str, Any]:
    """The frame streams that K-fold over the training groups would choose, instead of the eval split.

    Each candidate of trainer/stream_selection.py is trained `folds` times, each time validated on the
    clips of every `folds`-th training group (UCF101 group numbers: one scene each) and trained on the
    others with the Trainer's callbacks; the chosen one has the best mean held-out accuracy at the kept
    epoch (ties: the lower mean loss), the eval split's rule before the eval loss decided.
    """
    import keras

    from trainer import model
    from trainer.stream_selection import ACCURACY, LOSS, candidates
    from trainer.training import fit_and_keep
    from video_datasets.listing import group_of

    groups = [group_of(video_id) for video_id in train[VIDEO_ID_KEY]]
    fold_of_group = {group: index % folds for index, group in enumerate(sorted(set(groups)))}
    fold = np.array([fold_of_group[group] for group in groups])
    label_ids = np.array([labels.index(label) for label in train[LABEL_KEY]])
    scores = {}
    for candidate in candidates(hparams):
        accuracies, losses = [], []
        for held_out in range(folds):
            fit_mask, held_mask = fold != held_out, fold == held_out
            inputs = {
                name: {key: train[key][mask] for key in (FRAME_FEATURES_KEY, FRAME_MASK_KEY)}
                for name, mask in (("fit", fit_mask), ("held", held_mask))
            }
            keras.utils.set_random_seed(seed)

            def fit(classifier: keras.Model, callbacks: list[keras.callbacks.Callback]) -> keras.callbacks.History:
                return classifier.fit(
                    inputs["fit"],
                    label_ids[fit_mask],
                    validation_data=(inputs["held"], label_ids[held_mask]),
                    epochs=candidate.epochs,
                    batch_size=candidate.batch_size,
                    verbose=0,
                    callbacks=callbacks,
                )

            trained = fit_and_keep(model.build_model(len(labels), candidate), candidate, fit)
            accuracies.append(trained.kept(ACCURACY))
            losses.append(trained.kept(LOSS))
        scores[candidate.frame_streams] = {"accuracy": round(float(np.mean(accuracies)), 4), "loss": round(float(np.mean(losses)), 4)}
    chosen = max(scores, key=lambda name: (scores[name]["accuracy"], -scores[name]["loss"]))
    return {"folds": folds, "chosen": chosen, "candidates": scores}


def train_and_test(
    splits: dict[str, dict[str, np.ndarray]],
    hparams_config: dict[str, Any],
    seed: int,
    views: int = 1,
    folds: int = 0,
    probabilities_file: str | None = None,
) -> dict[str, Any]:
    """Trains as trainer/run_fn.py does (eval split as validation, its callbacks, its choice of frame streams) and tests.

    Beside the kept model's figures, `stream_selection` holds every candidate's eval and test accuracy, so
    that the choice can be judged against the candidate that was best on test. Given `probabilities_file`,
    every candidate's probabilities on every split go there (.npz: `<candidate>/<split>`, `label_ids/<split>`),
    so that other ways of combining the candidates can be scored later without training again.
    """
    import keras

    from trainer.stream_selection import select_streams
    from trainer.training import TrainedModel

    labels = sorted(set(splits["train"][LABEL_KEY]))
    label_ids = {split: np.array([labels.index(label) for label in data[LABEL_KEY]]) for split, data in splits.items()}
    inputs = {split: {key: data[key] for key in (FRAME_FEATURES_KEY, FRAME_MASK_KEY)} for split, data in splits.items()}
    max_seq_length, feature_dim = splits["train"][FRAME_FEATURES_KEY].shape[1:]
    hparams = HParams.from_config({**hparams_config, "max_seq_length": int(max_seq_length), "feature_dim": int(feature_dim)})
    candidate_models: dict[str, keras.Model] = {}

    def probabilities_of(classifier: keras.Model, split: str) -> np.ndarray:
        return keras.ops.convert_to_numpy(classifier.predict(inputs[split], batch_size=256, verbose=0))

    def accuracy(classifier: keras.Model, split: str) -> float:
        return _accuracy(probabilities_of(classifier, split), label_ids[split])

    def train(candidate: HParams) -> TrainedModel:
        trained = _fit_candidate(candidate, inputs, label_ids, len(labels), seed)
        candidate_models[candidate.frame_streams] = trained.model
        return trained

    trained, selection = select_streams(hparams, train, len(label_ids["eval"]))
    # Each candidate's probabilities, predicted once: its test figure, the other rules and the saved file read them.
    scored = [split for split in (*EVALUATED_SPLITS, "eval") if split in inputs]
    candidate_probabilities = {
        name: {split: probabilities_of(model, split) for split in scored} for name, model in candidate_models.items()
    }
    for name, figures in selection["candidates"].items():
        figures["test_accuracy"] = round(_accuracy(candidate_probabilities[name]["test"], label_ids["test"]), 4)
    accuracies = {f"{split}_accuracy": accuracy(trained.model, split) for split in EVALUATED_SPLITS if split in inputs}
    for split, dense_split in VIEW_SPLITS.items():
        if dense_split in splits:
            probabilities = view_probabilities(trained.model, splits[dense_split], int(max_seq_length), views)
            accuracies[f"{split}_accuracy"] = float(np.mean(probabilities.argmax(axis=1) == label_ids[dense_split]))
    alternatives = _alternatives(selection["candidates"], candidate_probabilities, label_ids)
    if probabilities_file:
        _save_probabilities(probabilities_file, candidate_probabilities, label_ids)
    kfold = kfold_selection(splits["train"], hparams, labels, seed, folds) if folds > 1 and len(selection["candidates"]) > 1 else None
    return {
        **accuracies,
        "frame_streams": selection["chosen"],
        "stream_selection": selection["candidates"],
        **({"alternatives": alternatives} if alternatives else {}),
        **({"kfold_selection": kfold} if kfold else {}),
        "epochs_run": len(trained.history["loss"]),
        "train_seconds": round(sum(figures["train_seconds"] for figures in selection["candidates"].values()), 1),
    }


def _fit_candidate(candidate: HParams, inputs: dict[str, Any], label_ids: dict[str, np.ndarray], num_classes: int, seed: int) -> Any:
    """One candidate trained with the Trainer's callbacks and choice of epoch (trainer/training.py), from `seed`."""
    import keras

    from trainer import model
    from trainer.training import fit_and_keep  # the Trainer's: the benchmark trains as it does

    keras.utils.set_random_seed(seed)
    classifier = model.build_model(num_classes, candidate)

    def fit(classifier: keras.Model, callbacks: list[keras.callbacks.Callback]) -> keras.callbacks.History:
        return classifier.fit(
            inputs["train"],
            label_ids["train"],
            validation_data=(inputs["eval"], label_ids["eval"]),
            epochs=candidate.epochs,
            batch_size=candidate.batch_size,
            verbose=0,
            callbacks=callbacks,
        )

    return fit_and_keep(classifier, candidate, fit)


def _accuracy(probabilities: np.ndarray, label_ids: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == label_ids))


def _alternatives(
    figures: dict[str, dict[str, Any]], candidate_probabilities: dict[str, dict[str, np.ndarray]], label_ids: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Other ways to turn the candidates into one model, scored on the splits of `candidate_probabilities`
    (name -> split -> probabilities); none for a single candidate."""
    alternatives: dict[str, Any] = {}
    if len(candidate_probabilities) < 2:
        return alternatives
    # The Trainer's pick before the average (the lowest eval loss; among losses within 5% of it the best eval
    # accuracy), the lowest eval loss alone, the best eval accuracy (ties: the lower loss), all candidates'
    # probabilities averaged with equal weights, and averaged with weights exp(-eval clips x eval loss), normalised,
    # those under 1% left out (Bayesian model averaging with the eval split as the evidence).
    losses = np.array([figures[name]["eval_loss"] for name in candidate_probabilities])
    evidence = np.exp(-len(label_ids["eval"]) * (losses - losses.min()))
    evidence = np.where(evidence / evidence.sum() >= 0.01, evidence, 0.0)
    evidence /= evidence.sum()
    by_loss = min(figures, key=lambda name: figures[name]["eval_loss"])
    close = [name for name in figures if figures[name]["eval_loss"] <= figures[by_loss]["eval_loss"] * 1.05 + 1e-12]
    previous = max(close, key=lambda name: (figures[name]["eval_accuracy"], -figures[name]["eval_loss"]))
    by_accuracy = max(figures, key=lambda name: (figures[name]["eval_accuracy"], -figures[name]["eval_loss"]))
    alternatives["equal_mean"] = {}
    alternatives["evidence_weighted"] = {"weights": [round(float(weight), 3) for weight in evidence]}
    picks = {"previous_pick": previous, "eval_loss_pick": by_loss, "eval_accuracy_pick": by_accuracy}
    alternatives.update({rule: {"chosen": name} for rule, name in picks.items()})
    for split in next(iter(candidate_probabilities.values())):
        per_candidate = [probabilities[split] for probabilities in candidate_probabilities.values()]
        alternatives["equal_mean"][f"{split}_accuracy"] = round(_accuracy(np.mean(per_candidate, axis=0), label_ids[split]), 4)
        weighted = sum(weight * probabilities for weight, probabilities in zip(evidence, per_candidate))
        alternatives["evidence_weighted"][f"{split}_accuracy"] = round(_accuracy(weighted, label_ids[split]), 4)
        for rule, name in picks.items():
            alternatives[rule][f"{split}_accuracy"] = round(_accuracy(candidate_probabilities[name][split], label_ids[split]), 4)
    return alternatives


def _save_probabilities(path: str, candidate_probabilities: dict[str, dict[str, np.ndarray]], label_ids: dict[str, np.ndarray]) -> None:
    """Every candidate's probabilities on every split (.npz: `<candidate>/<split>`, `label_ids/<split>`)."""
    saved = {f"label_ids/{split}": label_ids[split] for split in next(iter(candidate_probabilities.values()))}
    for name, probabilities in candidate_probabilities.items():
        saved.update({f"{name}/{split}": values for split, values in probabilities.items()})
    np.savez(path, **saved)


def configuration_result(
    name: str,
    splits: dict[str, dict[str, np.ndarray]],
    seeds: list[int],
    overlay: dict[str, Any],
    views: int = 1,
    folds: int = 0,
    probabilities_prefix: str | None = None,
) -> dict[str, Any]:
    """One configuration (with `overlay`) trained once per seed: test accuracies (mean, min) and epochs.

    With `probabilities_prefix`, each seed's candidate probabilities go to <prefix>_<name>_s<seed>.npz."""
    features, hparams_config = CONFIGURATIONS[name]
    runs = []
    shape = {"appearance_feature_dim": appearance_feature_dim(features.frame_pooling)}  # the rest from the arrays
    for seed in seeds:
        probabilities_file = f"{probabilities_prefix}_{name}_s{seed}.npz" if probabilities_prefix else None
        runs.append(train_and_test(splits, {**hparams_config, **overlay, **shape}, seed, views, folds, probabilities_file))
        logger.info("%s seed %d: %s", name, seed, {key: value for key, value in runs[-1].items() if key != "stream_selection"})
    figures: dict[str, Any] = {}
    for split in (*EVALUATED_SPLITS, *VIEW_SPLITS):
        accuracies = [run[f"{split}_accuracy"] for run in runs if f"{split}_accuracy" in run]
        if accuracies:
            figures.update(
                {
                    f"{split}_accuracy_mean": round(float(np.mean(accuracies)), 4),
                    f"{split}_accuracy_min": round(float(np.min(accuracies)), 4),
                    f"{split}_accuracies": accuracies,
                }
            )
    return {
        **features._asdict(),
        **figures,
        "frame_streams": [run["frame_streams"] for run in runs],
        "epochs_run": [run["epochs_run"] for run in runs],
        "train_seconds": [run["train_seconds"] for run in runs],
        **({"stream_selection": [run["stream_selection"] for run in runs]} if len(runs[0]["stream_selection"]) > 1 else {}),
        **({"alternatives": [run["alternatives"] for run in runs]} if "alternatives" in runs[0] else {}),
        **(_selection_verdict(runs) if "kfold_selection" in runs[0] else {}),
    }


def _selection_verdict(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per seed: the test accuracy of the eval split's choice, of K-fold's choice, and of the best candidate on test."""
    test_of = [{name: figures["test_accuracy"] for name, figures in run["stream_selection"].items()} for run in runs]
    return {
        "kfold_selection": [run["kfold_selection"] for run in runs],
        "selection_test_accuracy": {
            "eval_split_choice": [tests[run["frame_streams"]] for run, tests in zip(runs, test_of)],
            "kfold_choice": [tests[run["kfold_selection"]["chosen"]] for run, tests in zip(runs, test_of)],
            "best_on_test": [max(tests.values()) for tests in test_of],
        },
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default="/tmp/model_quality", help="benchmark data and features (default: %(default)s)")
    parser.add_argument("--seeds", type=common.int_list(), default=[0, 1, 2], metavar="N,N", help="training seeds (default: 0,1,2)")
    for flag, names in (("--configs", CONFIGURATIONS), ("--benchmarks", BENCHMARKS)):
        parser.add_argument(
            flag, type=common.name_list(tuple(names)), default=list(names), metavar="NAME,NAME", help=f"default: {','.join(names)}"
        )
    parser.add_argument(
        "--hparam",
        action="append",
        default=[],
        type=common.name_value(),
        metavar="NAME=VALUE",
        help="overlay on every configuration (VALUE read as JSON), e.g. temporal_crops=0; repeatable",
    )
    parser.add_argument(
        "--kfold",
        type=int,
        default=0,
        metavar="K",
        help=(
            "also choose today's default's frame streams by K-fold over the training groups, against the eval split's "
            "choice (default: 0, off)"
        ),
    )
    parser.add_argument(
        "--eval-clips",
        type=common.at_least(0),
        default=0,
        metavar="N",
        help=(
            "cut the eval split (the Trainer's validation and stream choice) to N clips, classes in turn, to see how a "
            "choice holds on a small one (default: 0, all)"
        ),
    )
    parser.add_argument(
        "--probabilities-dir", metavar="DIR", help="save each candidate's probabilities to DIR/<benchmark>_<config>_s<seed>.npz"
    )
    parser.add_argument("--views", type=common.at_least(1), default=1, help="also test N views a clip, uniform sampling (default: 1, off)")
    args = parser.parse_args(argv)
    if args.kfold == 1 or args.kfold < 0:
        parser.error("--kfold must be 0 (off) or at least 2")
    return args


def benchmark_splits(name: str, work_dir: str, feature_kinds: set[Features], views: int) -> tuple[dict[Features, Any], dict[str, float]]:
    """Generates one benchmark under `work_dir` (WORK_DIR/data for the hard one, WORK_DIR/<name>/data for others),
    extracts its features of each kind and loads them normalized: ({features: splits}, seconds)."""
    generate, issue_21_sets = BENCHMARKS[name]
    folder = work_dir if name == "hard" else os.path.join(work_dir, name)  # the hard benchmark's features stay where they were
    data_root, shifted_root = os.path.join(folder, "data"), os.path.join(folder, "data_shifted")
    started = time.perf_counter()
    generate(data_root)
    if issue_21_sets:
        hard_benchmark.ensure_hard_benchmark(shifted_root, hard_benchmark.SHIFTED)
        for split, config in HELDOUT_SETS.items():
            hard_benchmark.ensure_hard_benchmark(os.path.join(folder, f"data_{split}"), config)
    elif name in HELDOUT_GENERATORS:
        HELDOUT_GENERATORS[name](os.path.join(folder, "data_heldout_test"))
    seconds = {"generation": round(time.perf_counter() - started, 1)}
    splits_by_features: dict[Features, Any] = {}
    for features in sorted(feature_kinds):
        started = time.perf_counter()
        examples = extract_features(data_root, features.folder(folder), *features.options())
        shifted = extract_features(shifted_root, features.folder(folder, "_shifted"), *features.options()) if issue_21_sets else None
        splits = load_examples(examples, shifted)
        if features.sampling == "uniform" and issue_21_sets:  # a timeline samples its windows uniformly
            # Windows as long as the median training clip, as a timeline's default (inference/timeline.py).
            window_frames = int(np.median(splits["train"][NUM_FRAMES_KEY]))
            max_seq_length = splits["train"][FRAME_FEATURES_KEY].shape[1]
            for sequence_set in SEQUENCE_SETS:
                splits[sequence_set] = sequence_windows(folder, window_frames, max_seq_length, features.frame_pooling, sequence_set)
        if name in HELDOUT_GENERATORS:
            heldout = extract_features(
                os.path.join(folder, "data_heldout_test"), features.folder(folder, "_heldout_test"), *features.options()
            )
            splits["heldout_test"] = load_split(os.path.join(heldout, "Split-test"))
        if issue_21_sets:
            for split in HELDOUT_SETS:
                heldout = extract_features(os.path.join(folder, f"data_{split}"), features.folder(folder, f"_{split}"), *features.options())
                splits[split] = load_split(os.path.join(heldout, "Split-test"))
        if features.sampling == "uniform" and issue_21_sets:
            if views > 1:
                dense_options = ("--max-seq-length", str(max_seq_length * views))
                dense_dir = features.folder(folder, f"_views{views}")
                splits["test_dense"] = load_split(
                    os.path.join(extract_features(data_root, dense_dir, *features.options(), *dense_options), "Split-test")
                )
                dense_shifted = extract_features(shifted_root, f"{dense_dir}_shifted", *features.options(), *dense_options)
                splits["shifted_dense"] = load_split(os.path.join(dense_shifted, "Split-test"))
        seconds[f"extraction_{os.path.basename(features.folder(''))}"] = round(time.perf_counter() - started, 1)
        splits_by_features[features] = normalize(splits)
    return splits_by_features, seconds


def smaller_eval_split(splits: dict[str, dict[str, np.ndarray]], clips: int) -> dict[str, dict[str, np.ndarray]]:
    """The splits with the eval split cut to `clips` clips, taken from each class in turn (in video-id order)."""
    evaluation = splits["eval"]
    by_class: dict[str, list[int]] = {}
    for index in np.argsort(evaluation[VIDEO_ID_KEY], kind="stable"):
        by_class.setdefault(str(evaluation[LABEL_KEY][index]), []).append(int(index))
    kept: list[int] = []
    while len(kept) < min(clips, len(evaluation[LABEL_KEY])):
        for indices in by_class.values():
            if indices and len(kept) < clips:
                kept.append(indices.pop(0))
    return {**splits, "eval": {key: values[np.sort(kept)] for key, values in evaluation.items()}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.setup_logging()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    machine = common.machine_info()
    overlay = dict(args.hparam)
    feature_kinds = {CONFIGURATIONS[name][0] for name in args.configs}
    benchmarks = {}
    if args.probabilities_dir:
        os.makedirs(args.probabilities_dir, exist_ok=True)
    for benchmark in args.benchmarks:
        splits_by_features, seconds = benchmark_splits(benchmark, args.work_dir, feature_kinds, args.views)
        if args.eval_clips:
            splits_by_features = {features: smaller_eval_split(splits, args.eval_clips) for features, splits in splits_by_features.items()}
        first = splits_by_features[CONFIGURATIONS[args.configs[0]][0]]
        benchmarks[benchmark] = {
            "clips": {split: int(len(data[LABEL_KEY])) for split, data in first.items()},
            "seconds": seconds,
            "results": {
                name: configuration_result(
                    name,
                    splits_by_features[CONFIGURATIONS[name][0]],
                    args.seeds,
                    overlay,
                    args.views,
                    args.kfold,
                    os.path.join(args.probabilities_dir, benchmark) if args.probabilities_dir else None,
                )
                for name in args.configs
            },
        }
    common.print_json(
        {
            "benchmarks": "hard (video_datasets/hard_benchmark.py), appearance "
            "(video_datasets/appearance_benchmark.py); seed 0, --weights none",
            "seeds": args.seeds,
            "hparam_overlay": overlay,
            "views": args.views,
            **benchmarks,
            "machine": {**machine, "load_average_at_end": common.load_average()},
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
