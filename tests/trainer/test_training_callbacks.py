"""The Trainer's model selection: the eval loss may pick the weights only after the warm-up."""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from trainer.model import DEFAULT_HPARAMS, HParams  # noqa: E402
from trainer.run_fn import training_callbacks  # noqa: E402


def _fit_with_worsening_eval_loss(warmup_epochs: int) -> tuple[list[list[np.ndarray]], list[np.ndarray]]:
    """Eval labels are the training labels flipped, so the eval loss rises every epoch."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 4)).astype("float32")
    labels = (features[:, 0] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="sparse_categorical_crossentropy")
    hparams = HParams.from_config({**DEFAULT_HPARAMS, "max_seq_length": 1, "feature_dim": 4, "epochs": 6,
                                   "early_stopping_patience": 10, "warmup_epochs": warmup_epochs})
    weights_by_epoch: list[list[np.ndarray]] = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: weights_by_epoch.append(model.get_weights()))
    model.fit(features, labels, validation_data=(features, 1 - labels), epochs=hparams.epochs, batch_size=64, verbose=0,
              callbacks=[record, *training_callbacks(hparams)])
    return weights_by_epoch, model.get_weights()


@pytest.mark.parametrize("warmup_epochs", [0, 3])
def test_eval_loss_picks_the_weights_only_after_the_warmup(warmup_epochs):
    weights_by_epoch, kept = _fit_with_worsening_eval_loss(warmup_epochs)
    # The eval loss only rises, so the best eligible epoch is the first one after the warm-up.
    for expected, actual in zip(weights_by_epoch[warmup_epochs], kept):
        np.testing.assert_array_equal(expected, actual)
    assert not np.array_equal(weights_by_epoch[0][0], weights_by_epoch[warmup_epochs + 1][0])


def test_warmup_longer_than_training_keeps_the_last_weights():
    weights_by_epoch, kept = _fit_with_worsening_eval_loss(warmup_epochs=50)
    for expected, actual in zip(weights_by_epoch[-1], kept):
        np.testing.assert_array_equal(expected, actual)
