"""The Trainer's choice of what the model sees (`frame_streams=auto`): every candidate trained, the best on eval kept.

Whether the action shows in what is in view (a tool, a ball) or only in how
the frames change (growing, opening) is a property of the data, and each kind
of class defeats the other's streams: the change streams cancel everything
that stays the same through a clip, the appearance stream lets a model
memorise the training scenes. So the Trainer trains a model per candidate of
trainer/hparams.py's STREAM_CANDIDATES, the same way and with the same seed,
and keeps the one with the best eval accuracy at its kept epoch (ties: the
lower eval loss, then the earlier candidate). The eval split holds groups
(scenes) that training never saw, so it scores what the test split asks for:
recognising the action in a new scene. Plain Keras: the Trainer and
benchmarks/model_quality.py select with this one function.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

from trainer.hparams import STREAM_CANDIDATES, HParams
from trainer.training import TrainedModel

ACCURACY, LOSS = "val_sparse_categorical_accuracy", "val_loss"
CRITERION = "eval accuracy at the kept epoch, then the lower eval loss, then the earlier candidate"

logger = logging.getLogger(__name__)


def candidates(hparams: HParams) -> list[HParams]:
    """The hyperparameters of each model to train: one per STREAM_CANDIDATES for 'auto', else `hparams` alone."""
    if hparams.frame_streams != "auto":
        return [hparams]
    return [dataclasses.replace(hparams, frame_streams=name) for name in STREAM_CANDIDATES]


def select_streams(hparams: HParams, train: Callable[[HParams], TrainedModel]) -> tuple[TrainedModel, dict[str, Any]]:
    """Trains each of candidates(hparams) with `train` and keeps the best by CRITERION.

    Returns the kept model and the record of the choice (what the Trainer writes to history.json):
    {configured, chosen, criterion, candidates: {name: {eval_accuracy, eval_loss, kept_epoch, epochs_run, train_seconds}}}.
    """
    trained = []
    for candidate in candidates(hparams):
        trained.append(train(candidate))
        logger.info("frame_streams=%s: eval accuracy %.4f, eval loss %.4f (epoch %d of %d, %.0f s)",
                    candidate.frame_streams, trained[-1].kept(ACCURACY), trained[-1].kept(LOSS),
                    trained[-1].kept_epoch, len(trained[-1].history[LOSS]), trained[-1].seconds)
    best = max(trained, key=lambda model: (model.kept(ACCURACY), -model.kept(LOSS)))  # max keeps the first of equals
    record = {
        "configured": hparams.frame_streams,
        "chosen": best.hparams.frame_streams,
        "criterion": CRITERION,
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
        logger.info("Chose frame_streams=%s (%s)", best.hparams.frame_streams, CRITERION)
    return best, record
