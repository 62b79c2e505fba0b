"""The Trainer's choice of what the model sees (`frame_streams=auto`): every candidate trained, the best on eval kept.

Whether the action shows in what is in view (a tool, a ball) or only in how
the frames change (growing, opening) is a property of the data, and each kind
of class defeats the other's streams: the change streams cancel everything
that stays the same through a clip, the appearance stream lets a model
memorise the training scenes. So the Trainer trains a model per candidate of
trainer/hparams.py's STREAM_CANDIDATES, the same way and with the same seed,
and keeps the one with the lowest eval loss at its kept epoch. The eval split holds groups
(scenes) that training never saw, so it scores what the test split asks for:
recognising the action in a new scene.

Why the loss and not the accuracy: on a small eval split the accuracy moves in whole clips, and one lucky
clip decides. With the hard benchmark's eval split cut to 15 clips (benchmarks/README.md), `all` reached eval
accuracy 1.000 against `change`'s 0.933 and was kept: test 0.771, where `change`, the lower eval loss
(0.067 against 0.111), scores 0.990. The loss weighs how sure the model is of every clip. Candidates whose
eval losses are within LOSS_MARGIN of the lowest are too close to tell apart by it; then the choice falls
back to the eval accuracy among them (the record says so). Plain Keras: the Trainer and
benchmarks/model_quality.py select with this one function.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from trainer.hparams import STREAM_CANDIDATES, HParams
from trainer.training import TrainedModel

ACCURACY, LOSS = "val_sparse_categorical_accuracy", "val_loss"
# Relative: losses within 5% of the lowest count as equal.
LOSS_MARGIN = 0.05
CRITERION = (
    f"the lowest eval loss at the kept epoch; among candidates within {LOSS_MARGIN:.0%} of it, "
    "the best eval accuracy, then the earlier candidate"
)

logger = logging.getLogger(__name__)


def candidates(hparams: HParams) -> list[HParams]:
    """The hyperparameters of each model to train: one per STREAM_CANDIDATES for 'auto', else `hparams` alone."""
    if hparams.frame_streams != "auto":
        return [hparams]
    return [dataclasses.replace(hparams, frame_streams=name) for name in STREAM_CANDIDATES]


def select_streams(hparams: HParams, train: Callable[[HParams], TrainedModel]) -> tuple[TrainedModel, dict[str, Any]]:
    """Trains each of candidates(hparams) with `train` and keeps the best by CRITERION.

    Returns the kept model and the record of the choice (what the Trainer writes to history.json):
    {configured, chosen, criterion, fell_back_to_accuracy, candidates: {name: {eval_accuracy, eval_loss, kept_epoch,
    epochs_run, train_seconds}}}.
    """
    trained = []
    for candidate in candidates(hparams):
        trained.append(train(candidate))
        logger.info(
            "frame_streams=%s: eval accuracy %.4f, eval loss %.4f (epoch %d of %d, %.0f s)",
            candidate.frame_streams,
            trained[-1].kept(ACCURACY),
            trained[-1].kept(LOSS),
            trained[-1].kept_epoch,
            len(trained[-1].history[LOSS]),
            trained[-1].seconds,
        )
    best, fell_back = _best(trained)
    record = {
        "configured": hparams.frame_streams,
        "chosen": best.hparams.frame_streams,
        "criterion": CRITERION,
        # Whether eval losses too close to tell apart left the choice to the eval accuracy.
        "fell_back_to_accuracy": fell_back,
        "candidates": {
            model.hparams.frame_streams: {
                "eval_accuracy": round(model.kept(ACCURACY), 4),
                "eval_loss": round(model.kept(LOSS), 4),
                "kept_epoch": model.kept_epoch,
                "epochs_run": len(model.history[LOSS]),
                "train_seconds": round(model.seconds, 1),
            }
            for model in trained
        },
    }
    if len(trained) > 1:
        logger.info(
            "Chose frame_streams=%s (%s%s)",
            best.hparams.frame_streams,
            CRITERION,
            "; the losses were too close, the eval accuracy decided" if fell_back else "",
        )
    return best, record


def _best(trained: list[TrainedModel]) -> tuple[TrainedModel, bool]:
    """The kept candidate by CRITERION, and whether the eval accuracy decided among losses within LOSS_MARGIN."""
    lowest = min(model.kept(LOSS) for model in trained)
    close = [model for model in trained if model.kept(LOSS) <= lowest * (1.0 + LOSS_MARGIN) + 1e-12]
    # max keeps the first of equals; the lower loss breaks ties in accuracy.
    best = max(close, key=lambda model: (model.kept(ACCURACY), -model.kept(LOSS)))
    by_loss = min(trained, key=lambda model: model.kept(LOSS))
    return best, len(close) > 1 and best is not by_loss
