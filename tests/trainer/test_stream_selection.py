"""frame_streams=auto: the Trainer's choice follows the data (tiny real Keras training, seconds)."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from trainer.hparams import DEFAULT_HPARAMS, STREAM_CANDIDATES, HParams  # noqa: E402
from trainer.model import (
    AveragedClassifiers,  # noqa: E402
    build_model,  # noqa: E402
)
from trainer.stream_selection import SECOND_LOSS_RATIO, candidates, combination_weights, select_streams  # noqa: E402
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

    kept, record = select_streams(hparams, train, len(eval_y))
    assert record["eval_clips"] == len(eval_y)
    if record["averaged"]:
        assert isinstance(kept.model, AveragedClassifiers) and kept.hparams.frame_streams == "auto"
    else:
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
    assert wrong_choice not in record["chosen"].split("+") and figures[wrong_choice]["weight"] == 0.0
    assert 1 <= len(record["chosen"].split("+")) <= 2 and record["averaged"] == ("+" in record["chosen"])
    assert figures[wrong_choice]["eval_loss"] == max(candidate["eval_loss"] for candidate in figures.values())


def _trained(streams: str, eval_accuracy: float, eval_loss: float) -> TrainedModel:
    hparams = HParams.from_config({"max_seq_length": FRAMES, "feature_dim": DIM, "frame_streams": streams})
    history = {"loss": [1.0], "val_loss": [eval_loss], "val_sparse_categorical_accuracy": [eval_accuracy]}
    model = build_model(2, hparams)
    return TrainedModel(hparams, model, history, kept_epoch=1, seconds=1.0)


def _select_from(models: dict, eval_clips: int):
    return select_streams(
        HParams.from_config({"max_seq_length": FRAMES, "feature_dim": DIM}), lambda candidate: models[candidate.frame_streams], eval_clips
    )


def test_the_two_lowest_eval_losses_are_averaged_unless_the_second_is_many_times_the_first():
    """Eval losses measured on the benchmarks (benchmarks/README.md): averaged where the split cannot tell the two
    best apart or the data needs both cues; the best alone where the second is many times worse."""
    assert combination_weights({"change": 0.0163, "appearance": 1.8073, "all": 0.0143}) == {
        "change": 0.5,
        "appearance": 0.0,
        "all": 0.5,
    }  # hard, 15 eval clips
    assert combination_weights({"change": 0.755, "appearance": 1.879, "all": 0.249}) == {
        "change": 0.5,
        "appearance": 0.0,
        "all": 0.5,
    }  # mixed: 3.0x
    assert combination_weights({"change": 1.102, "appearance": 0.269, "all": 0.194}) == {
        "change": 0.0,
        "appearance": 0.5,
        "all": 0.5,
    }  # appearance
    assert combination_weights({"change": 0.0431, "appearance": 1.5917, "all": 0.6326}) == {
        "change": 1.0,
        "appearance": 0.0,
        "all": 0.0,
    }  # hard, 24: 15x
    assert combination_weights({"change": 0.1, "all": 0.1 * SECOND_LOSS_RATIO}) == {"change": 0.5, "all": 0.5}  # at the bound
    assert combination_weights({"change": 0.3, "appearance": 0.3, "all": 0.3}) == {
        "change": 0.5,
        "appearance": 0.5,
        "all": 0.0,
    }  # ties: the earlier
    assert combination_weights({"change": 0.0, "all": 0.01}) == {"change": 1.0, "all": 0.0}
    assert combination_weights({"change": 0.3}) == {"change": 1.0}  # a configured candidate alone


def test_the_record_names_the_candidates_averaged_and_a_single_one_is_exported_alone():
    models = {
        "change": _trained("change", 1.0, 0.0163),
        "appearance": _trained("appearance", 0.3333, 1.8073),
        "all": _trained("all", 1.0, 0.0143),
    }
    kept, record = _select_from(models, 15)
    assert record["chosen"] == "change+all" and record["averaged"] is True and record["eval_clips"] == 15
    assert "lowest eval loss" in record["criterion"] and "second lowest" in record["criterion"]
    assert {name: figures["weight"] for name, figures in record["candidates"].items()} == {"change": 0.5, "appearance": 0.0, "all": 0.5}
    assert isinstance(kept.model, AveragedClassifiers)
    assert kept.model.members == [models["change"].model, models["all"].model] and kept.model.member_weights == [0.5, 0.5]
    assert kept.history is models["all"].history and kept.hparams.frame_streams == "auto"  # the lowest eval loss's curves
    # A second many times worse than the best: the best exported alone.
    models["all"] = _trained("all", 0.8667, 0.4377)
    kept, record = _select_from(models, 15)
    assert kept is models["change"] and record["chosen"] == "change" and record["averaged"] is False
    # A configured candidate: trained and exported alone, as before.
    only = {"change": models["change"]}
    kept, record = select_streams(
        HParams.from_config({"max_seq_length": FRAMES, "feature_dim": DIM, "frame_streams": "change"}),
        lambda candidate: only[candidate.frame_streams],
        15,
    )
    assert kept is models["change"] and record["chosen"] == "change" and record["averaged"] is False
    assert record["candidates"]["change"]["weight"] == 1.0


def test_the_console_says_which_candidates_were_kept_and_their_weights():
    from pipeline.reporting.console import stream_selection_lines

    figures = {"eval_accuracy": 1.0, "eval_loss": 0.1, "kept_epoch": 3, "epochs_run": 9, "train_seconds": 2.0}
    selection = {
        "chosen": "change+all",
        "criterion": "the evidence",
        "averaged": True,
        "eval_clips": 15,
        "candidates": {"change": {**figures, "weight": 0.49}, "appearance": {**figures, "weight": 0.0}, "all": {**figures, "weight": 0.51}},
    }
    lines = stream_selection_lines(selection)
    assert "change+all" in lines[0] and "averaged" in lines[0] and "15 eval clips" in lines[0]
    assert "weight 0.49" in lines[1] and "left out" in lines[2] and "weight 0.51" in lines[3]
    single = {
        **selection,
        "chosen": "change",
        "averaged": False,
        "candidates": {"change": {**figures, "weight": 1.0}, "all": {**figures, "weight": 0.0}},
    }
    assert "averaged" not in stream_selection_lines(single)[0] and "<- kept" in stream_selection_lines(single)[1]
    # A record of the pick before the weights (no weights) still reads.
    older = {
        "chosen": "all",
        "criterion": "the lowest eval loss",
        "fell_back_to_accuracy": True,
        "candidates": {"change": figures, "all": figures},
    }
    assert "the eval accuracy decided" in stream_selection_lines(older)[0] and "<- kept" in stream_selection_lines(older)[2]
