"""The Trainer's choice of what the model sees (`frame_streams=auto`): every candidate trained, the best two on eval averaged.

Whether the action shows in what is in view (a tool, a ball) or only in how
the frames change (growing, opening) is a property of the data, and each kind
of class defeats the other's streams: the change streams cancel everything
that stays the same through a clip, the appearance stream lets a model
memorise the training scenes. So the Trainer trains a model per candidate of
trainer/hparams.py's STREAM_CANDIDATES, the same way and with the same seed,
and ranks them by their eval loss at the kept epoch (the eval split holds
groups, scenes, that training never saw: what the test split asks for). The
exported model averages the probabilities of the best and the second best
with equal weights (trainer/model.py's AveragedClassifiers: one SavedModel,
one serving_default as before), unless the second's eval loss is more than
SECOND_LOSS_RATIO times the best's: then the best is exported alone. The
record says which were kept.

Why. The three candidates are two specialists and `all`, which sees both cues but also the scenes. On any
data one specialist is blind to what tells the classes apart (`change` to what is in view, `appearance` to
the order, as it memorises scenes), and its eval loss shows it even on 15 eval clips: the highest of the
three on every seed of every benchmark measured. Which of the other two is better a small split cannot
tell (hard benchmark, 15 eval clips, seed 2: eval loss 0.016 and 0.014, both eval accuracy 1.000; a pick
by loss kept `all`, test 0.792, where `change` scores 0.969), and where the data needs both cues their
errors differ, so their average beats either (mixed set: `all` alone 0.858 on test, 0.817 on held-out
scenes; averaged with `change` 0.921 and 0.894). Where the eval split does tell them apart, the second is
many times worse (hard benchmark, its 24 eval clips: `all`'s loss 15-68 times `change`'s) and averaging
it in costs (held-out 0.903 -> 0.868); where averaging helped or was even, the second's loss was 1.1-3.0
times the best's. SECOND_LOSS_RATIO lies between. Mean of 3 seeds (benchmarks/README.md, 2026-12-07; the map's
maximum alone, the random-init default then), test / held-out scenes: hard with 15 eval clips 0.962 /
0.868-0.944 against 0.917 / 0.847-0.896 by the pick by loss; mixed 0.921 / 0.894 against 0.858 / 0.817;
appearance 0.958 / 0.922 and hard with its whole eval split 0.976 / 0.903-0.986 as by the pick. Weights
exp(-eval clips x loss) (Bayesian model averaging) follow the pick on the mixed set (15 clips leave `change`
under 2%); the plain mean of all three carries the blind one along (hard 0.920 / 0.785-0.819). The three
candidates are trained either way: training time does not change; serving runs at most two transformers (small
beside serving_frames' DenseNet121 pass).
Plain Keras: the Trainer and benchmarks/model_quality.py combine with this one function.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from trainer.hparams import STREAM_CANDIDATES, HParams
from trainer.model import AveragedClassifiers
from trainer.training import TrainedModel

ACCURACY, LOSS = "val_sparse_categorical_accuracy", "val_loss"
# The second lowest eval loss joins the lowest only when it is at most this many times it (measured: 1.1-3.0
# where averaging helped or was even, 15-68 where it cost; see the module docstring).
SECOND_LOSS_RATIO = 5.0
CRITERION = (
    f"the lowest eval loss at the kept epoch, averaged with the second lowest when that is at most {SECOND_LOSS_RATIO:g} "
    "times it (equal weights; ties: the earlier candidate)"
)

logger = logging.getLogger(__name__)


def candidates(hparams: HParams) -> list[HParams]:
    """The hyperparameters of each model to train: one per STREAM_CANDIDATES for 'auto', else `hparams` alone."""
    if hparams.frame_streams != "auto":
        return [hparams]
    return [dataclasses.replace(hparams, frame_streams=name) for name in STREAM_CANDIDATES]


def combination_weights(eval_losses: dict[str, float]) -> dict[str, float]:
    """name -> weight in the exported model: equal for the lowest eval loss and, when it is within
    SECOND_LOSS_RATIO of it, the second lowest; 0 for the rest."""
    ranked = sorted(eval_losses, key=lambda name: (eval_losses[name], list(eval_losses).index(name)))
    lowest = eval_losses[ranked[0]]
    kept = [ranked[0], *(name for name in ranked[1:2] if eval_losses[name] <= SECOND_LOSS_RATIO * lowest)]
    return {name: (1.0 / len(kept) if name in kept else 0.0) for name in eval_losses}


def select_streams(hparams: HParams, train: Callable[[HParams], TrainedModel], eval_clips: int) -> tuple[TrainedModel, dict[str, Any]]:
    """Trains each of candidates(hparams) with `train` and combines them by CRITERION; `eval_clips` (the eval split's
    size) goes to the record.

    Returns the model to export and the record of the choice (what the Trainer writes to history.json):
    {configured, chosen, criterion, eval_clips, averaged, candidates: {name: {weight, eval_accuracy, eval_loss,
    kept_epoch, epochs_run, train_seconds}}}. `chosen` names the candidates kept ("change", or "change+all"
    when their probabilities are averaged); `averaged` says whether more than one was kept. The model
    returned is the kept candidate itself, or an AveragedClassifiers of those kept; its history and kept
    epoch are those of the candidate with the lowest eval loss, its hparams that candidate's with the configured
    frame_streams.
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
    weights = combination_weights({model.hparams.frame_streams: model.kept(LOSS) for model in trained})
    kept = [model for model in trained if weights[model.hparams.frame_streams] > 0]
    best = min(kept, key=lambda model: model.kept(LOSS))  # min keeps the first of equals
    if len(kept) == 1:
        exported = best
    else:
        exported = TrainedModel(
            dataclasses.replace(best.hparams, frame_streams=hparams.frame_streams),
            AveragedClassifiers(
                [model.model for model in kept], [weights[model.hparams.frame_streams] for model in kept], name="averaged_candidates"
            ),
            best.history,
            best.kept_epoch,
            sum(model.seconds for model in trained),
        )
    record = _record(hparams, trained, kept, weights, eval_clips)
    if len(trained) > 1:
        logger.info(
            "Kept frame_streams=%s (%s): weights %s",
            record["chosen"],
            CRITERION,
            ", ".join(f"{name} {figures['weight']:.3f}" for name, figures in record["candidates"].items()),
        )
    return exported, record


def _record(
    hparams: HParams, trained: list[TrainedModel], kept: list[TrainedModel], weights: dict[str, float], eval_clips: int
) -> dict[str, Any]:
    """The record of the choice, as select_streams says."""
    return {
        "configured": hparams.frame_streams,
        "chosen": "+".join(model.hparams.frame_streams for model in kept),
        "criterion": CRITERION,
        "eval_clips": int(eval_clips),
        # Whether the exported model averages several candidates' probabilities.
        "averaged": len(kept) > 1,
        "candidates": {
            model.hparams.frame_streams: {
                "weight": round(weights[model.hparams.frame_streams], 4),
                "eval_accuracy": round(model.kept(ACCURACY), 4),
                "eval_loss": round(model.kept(LOSS), 4),
                "kept_epoch": model.kept_epoch,
                "epochs_run": len(model.history[LOSS]),
                "train_seconds": round(model.seconds, 1),
            }
            for model in trained
        },
    }
