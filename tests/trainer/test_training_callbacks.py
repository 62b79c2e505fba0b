"""The Trainer's model selection: the eval loss picks the weights only after the warm-up; the kept epoch is recorded; NaN stops."""

import math
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from trainer.errors import TrainingDiverged  # noqa: E402
from trainer.hparams import DEFAULT_HPARAMS, HParams  # noqa: E402
from trainer.training import SELECTION_METRIC, kept_epoch, training_callbacks  # noqa: E402


def _fit_with_worsening_eval_loss(warmup_epochs: int, learning_rate: float = 0.1, score_selection: bool = False):
    """Eval labels are the training labels flipped, so the eval loss rises every epoch."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 4)).astype("float32")
    labels = (features[:, 0] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
    hparams = HParams.from_config(
        {
            **DEFAULT_HPARAMS,
            "max_seq_length": 1,
            "feature_dim": 4,
            "epochs": 6,
            "early_stopping_patience": 10,
            "warmup_epochs": warmup_epochs,
        }
    )
    weights_by_epoch: list[list[np.ndarray]] = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: weights_by_epoch.append(model.get_weights()))
    callbacks = training_callbacks(hparams, score_selection=score_selection)
    history = model.fit(
        features,
        labels,
        validation_data=(features, 1 - labels),
        epochs=hparams.epochs,
        batch_size=64,
        verbose=0,
        callbacks=[record, *callbacks],
    )
    return weights_by_epoch, model.get_weights(), kept_epoch(callbacks, len(history.epoch)), history.history


@pytest.mark.parametrize("warmup_epochs", [0, 3])
def test_eval_loss_picks_the_weights_only_after_the_warmup_and_the_kept_epoch_says_which(warmup_epochs):
    weights_by_epoch, kept, kept_at, history = _fit_with_worsening_eval_loss(warmup_epochs)
    # The eval loss only rises, so the best eligible epoch is the first one after the warm-up.
    for expected, actual in zip(weights_by_epoch[warmup_epochs], kept):
        np.testing.assert_array_equal(expected, actual)
    assert not np.array_equal(weights_by_epoch[0][0], weights_by_epoch[warmup_epochs + 1][0])
    assert kept_at == warmup_epochs + 1  # 1-based
    # The lowest val_loss of all epochs is the first (inside the warm-up): not what was kept when warming up.
    assert int(np.argmin(history["val_loss"])) + 1 == 1


def test_warmup_longer_than_training_keeps_the_last_weights():
    weights_by_epoch, kept, kept_at, _ = _fit_with_worsening_eval_loss(warmup_epochs=50)
    for expected, actual in zip(weights_by_epoch[-1], kept):
        np.testing.assert_array_equal(expected, actual)
    assert kept_at == 6


@pytest.mark.parametrize("warmup_epochs, best_scored_epoch", [(3, 4), (50, 6)])
def test_the_tuners_score_is_the_eval_loss_of_the_epoch_the_trainer_keeps(warmup_epochs, best_scored_epoch):
    _, _, kept_at, history = _fit_with_worsening_eval_loss(warmup_epochs, score_selection=True)
    scores = history[SELECTION_METRIC]
    assert all(math.isinf(score) for epoch, score in enumerate(scores, 1) if epoch != best_scored_epoch and epoch <= warmup_epochs)
    assert int(np.argmin(scores)) + 1 == best_scored_epoch == kept_at
    assert scores[kept_at - 1] == history["val_loss"][kept_at - 1]


def test_a_nan_loss_stops_training_with_one_clear_line():
    with pytest.raises(TrainingDiverged, match=r"^training diverged: (val_)?loss is nan at epoch 1; lower the learning rate") as raised:
        _fit_with_worsening_eval_loss(warmup_epochs=0, learning_rate=math.inf)
    assert "\n" not in str(raised.value)
