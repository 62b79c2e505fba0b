"""frame_streams=auto: the Trainer's choice follows the data (tiny real Keras training, seconds)."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from trainer.hparams import DEFAULT_HPARAMS, STREAM_CANDIDATES, HParams  # noqa: E402
from trainer.model import build_model  # noqa: E402
from trainer.stream_selection import LOSS_MARGIN, candidates, select_streams  # noqa: E402
from trainer.training import TrainedModel, fit_and_keep  # noqa: E402

FRAMES, DIM, CLIPS_A_CLASS = 8, 16, 24
_CLASSES = np.random.default_rng(7)
PATTERNS = _CLASSES.normal(size=(2, DIM)).astype("float32")  # `look`: each class's static pattern
DIRECTION = _CLASSES.normal(size=DIM).astype("float32")  # `order`: rising or falling along it


def _clips(kind: str, rng: np.random.Generator, scenes: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Two classes in the given scenes (one per clip, a strong static offset). `look`: a class's own static
    pattern, no change over time; `order`: the same direction rising or falling through the clip."""
    features, labels = [], []
    for index in range(2 * CLIPS_A_CLASS):
        label = index % 2
        frame_noise = 0.3 * rng.normal(size=(FRAMES, DIM))
        if kind == "look":
            clip = 1.5 * PATTERNS[label] + frame_noise
        else:
            ramp = np.linspace(-1.0, 1.0, FRAMES)[:, None] * (1 if label else -1)
            clip = 1.5 * ramp * DIRECTION + frame_noise
        features.append(clip + scenes[index % len(scenes)])
        labels.append(label)
    return {"frame_features": np.array(features, "float32"), "frame_mask": np.ones((2 * CLIPS_A_CLASS, FRAMES), "int64")}, np.array(labels)


def _select(kind: str) -> dict:
    rng = np.random.default_rng(3 if kind == "look" else 4)
    train_x, train_y = _clips(kind, rng, 3.0 * rng.normal(size=(12, DIM)))  # training scenes ...
    eval_x, eval_y = _clips(kind, rng, 3.0 * rng.normal(size=(12, DIM)))  # ... and unseen ones
    hparams = HParams.from_config(
        {
            **DEFAULT_HPARAMS,
            "max_seq_length": FRAMES,
            "feature_dim": DIM,
            "projection_dim": 8,
            "dense_dim": 8,
            "epochs": 12,
            "warmup_epochs": 4,
            "early_stopping_patience": 12,
        }
    )

    def train(candidate: HParams) -> TrainedModel:
        keras.utils.set_random_seed(0)

        def fit(model, callbacks):
            return model.fit(
                train_x, train_y, validation_data=(eval_x, eval_y), epochs=candidate.epochs, batch_size=8, verbose=0, callbacks=callbacks
            )

        return fit_and_keep(build_model(2, candidate), candidate, fit)

    kept, record = select_streams(hparams, train)
    assert kept.hparams.frame_streams == record["chosen"]
    return record


def test_auto_tries_every_candidate_and_a_fixed_choice_only_itself():
    shape = {"max_seq_length": FRAMES, "feature_dim": DIM}
    assert [hparams.frame_streams for hparams in candidates(HParams.from_config(shape))] == list(STREAM_CANDIDATES)
    assert [hparams.frame_streams for hparams in candidates(HParams.from_config({**shape, "frame_streams": "all"}))] == ["all"]


@pytest.mark.parametrize("kind, wrong_choice", [("look", "change"), ("order", "appearance")])
def test_the_streams_kept_are_the_best_on_unseen_scenes(kind, wrong_choice):
    """Classes told apart by their look need the appearance stream (the change streams see nothing); classes
    told apart by order in varying scenes need the change streams (appearance memorises the scenes)."""
    record = _select(kind)
    figures = record["candidates"]
    assert list(figures) == list(STREAM_CANDIDATES) and record["configured"] == "auto"
    assert record["chosen"] != wrong_choice
    lowest = min(candidate["eval_loss"] for candidate in figures.values())
    assert figures[record["chosen"]]["eval_loss"] <= lowest * (1 + LOSS_MARGIN) + 1e-4
    assert figures[record["chosen"]]["eval_loss"] < figures[wrong_choice]["eval_loss"]


def _trained(streams: str, eval_accuracy: float, eval_loss: float) -> TrainedModel:
    hparams = HParams.from_config({"max_seq_length": FRAMES, "feature_dim": DIM, "frame_streams": streams})
    history = {"loss": [1.0], "val_loss": [eval_loss], "val_sparse_categorical_accuracy": [eval_accuracy]}
    return TrainedModel(hparams, None, history, kept_epoch=1, seconds=1.0)


def test_the_lowest_eval_loss_decides_and_the_accuracy_only_among_losses_too_close_to_tell():
    """The hard benchmark with 15 eval clips: `all` one lucky clip ahead in accuracy, `change` surer of every clip."""
    models = {
        "change": _trained("change", 0.9333, 0.0672),
        "appearance": _trained("appearance", 0.5333, 1.341),
        "all": _trained("all", 1.0, 0.111),
    }
    kept, record = select_streams(
        HParams.from_config({"max_seq_length": FRAMES, "feature_dim": DIM}), lambda candidate: models[candidate.frame_streams]
    )
    assert kept is models["change"] and record["chosen"] == "change" and record["fell_back_to_accuracy"] is False
    assert "lowest eval loss" in record["criterion"]
    # Losses within the margin: the eval accuracy decides, and the record says it fell back.
    models["all"] = _trained("all", 1.0, 0.0672 * (1 + LOSS_MARGIN / 2))
    kept, record = select_streams(
        HParams.from_config({"max_seq_length": FRAMES, "feature_dim": DIM}), lambda candidate: models[candidate.frame_streams]
    )
    assert record["chosen"] == "all" and record["fell_back_to_accuracy"] is True


def test_the_console_says_when_the_eval_accuracy_decided():
    from pipeline.reporting.console import stream_selection_lines

    figures = {"eval_accuracy": 1.0, "eval_loss": 0.1, "kept_epoch": 3, "epochs_run": 9, "train_seconds": 2.0}
    selection = {
        "chosen": "all",
        "criterion": "the lowest eval loss",
        "fell_back_to_accuracy": True,
        "candidates": {"change": figures, "all": figures},
    }
    assert "the eval accuracy decided" in stream_selection_lines(selection)[0]
    assert "decided" not in stream_selection_lines({**selection, "fell_back_to_accuracy": False})[0]
    assert "decided" not in stream_selection_lines({key: value for key, value in selection.items() if key != "fell_back_to_accuracy"})[0]
