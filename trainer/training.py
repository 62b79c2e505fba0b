"""How the video transformer is trained, in plain Keras: shared by the Trainer, every Tuner trial and the benchmarks.

`training_callbacks()` gives the model selection (the eval loss picks the
weights, but only after `warmup_epochs`) and the stop on a non-finite loss.
`kept_epoch()` says which epoch's weights the model ended with; the Tuner
scores a trial by the same rule (`SELECTION_METRIC`). `fit_and_keep()` trains
with them and records what was kept.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import keras

from trainer.errors import TrainingDiverged
from trainer.hparams import HParams

# The value the Tuner minimises: val_loss where model selection may pick the epoch, +inf elsewhere.
SELECTION_METRIC = "val_loss_after_warmup"


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training with TrainingDiverged as soon as an epoch's loss is NaN or infinite (Keras would go on)."""

    def __init__(self, hparams: HParams):
        super().__init__()
        self._hparams = hparams

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for name in ("loss", "val_loss"):
            value = (logs or {}).get(name)
            if value is not None and not math.isfinite(float(value)):
                raise TrainingDiverged(
                    f"training diverged: {name} is {float(value)} at epoch {epoch + 1}; lower the learning rate "
                    f"(--hparam learning_rate, now {self._hparams.learning_rate:g}) or check the features"
                )


class _SelectionScore(keras.callbacks.Callback):
    """Logs SELECTION_METRIC: the epochs model selection may keep get their val_loss, the warm-up +inf.

    A run shorter than the warm-up keeps its last epoch, so that one is scored too.
    """

    def __init__(self, warmup_epochs: int):
        super().__init__()
        self._warmup_epochs = warmup_epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None or "val_loss" not in logs:
            return
        eligible = epoch >= self._warmup_epochs or epoch == self.params.get("epochs", 0) - 1
        logs[SELECTION_METRIC] = float(logs["val_loss"]) if eligible else math.inf


def training_callbacks(hparams: HParams, score_selection: bool = False) -> list[keras.callbacks.Callback]:
    """What the Trainer and every Tuner trial train with; the first is the model selection (see kept_epoch).

    `score_selection` adds SELECTION_METRIC to the logs (the Tuner's objective).
    """
    # Keeps the weights of the epoch with the best eval loss after the warm-up.
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=hparams.early_stopping_patience,
            restore_best_weights=True,
            start_from_epoch=hparams.warmup_epochs,
        ),
        _StopOnNonFiniteLoss(hparams),
    ]
    if score_selection:
        callbacks.insert(0, _SelectionScore(hparams.warmup_epochs))
    return callbacks


def kept_epoch(callbacks: list[keras.callbacks.Callback], epochs_run: int) -> int:
    """The 1-based epoch whose weights the model has after `fit` with `callbacks` (from training_callbacks)."""
    [selection] = [callback for callback in callbacks if isinstance(callback, keras.callbacks.EarlyStopping)]
    # No eligible epoch (a warm-up as long as training): nothing was restored, the last weights stay.
    return selection.best_epoch + 1 if selection.best_weights is not None else epochs_run


@dataclasses.dataclass
class TrainedModel:
    """A model trained by `fit_and_keep`: its hyperparameters, history and the epoch whose weights it kept."""

    hparams: HParams
    model: keras.Model
    history: dict[str, list[float]]
    kept_epoch: int  # 1-based
    seconds: float

    def kept(self, metric: str) -> float:
        """`metric` (e.g. val_loss) of the kept epoch."""
        return float(self.history[metric][self.kept_epoch - 1])


def fit_and_keep(
    classifier: keras.Model, hparams: HParams, fit: Callable[[keras.Model, list[keras.callbacks.Callback]], keras.callbacks.History]
) -> TrainedModel:
    """`fit(classifier, callbacks)` with training_callbacks(hparams); the model keeps its selected epoch's weights."""
    callbacks = training_callbacks(hparams)
    started = time.perf_counter()
    history = fit(classifier, callbacks)
    kept = kept_epoch(callbacks, len(history.epoch))
    return TrainedModel(
        hparams,
        classifier,
        {name: [float(value) for value in values] for name, values in history.history.items()},
        kept,
        time.perf_counter() - started,
    )
