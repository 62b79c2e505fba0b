"""TFX Tuner: a small KerasTuner search over the video transformer's hyperparameters (`run --tune`).

As in TFX's penguin example, the Tuner runs in front of the Trainer when tuning
is enabled, and its best hyperparameters override the Trainer's. The search is
kept small enough for a 2-core machine: a random search of TRIALS points of
SEARCH_SPACE, each trained like the Trainer trains (same datasets, same early
stopping, same choice of the epoch kept), selected on that epoch's eval
loss, which moves less than accuracy on a few dozen eval clips. The frame
streams are one of its dimensions (change, appearance, all), so a tuned
Trainer trains the streams the Tuner chose rather than choosing again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import keras_tuner
import tensorflow_transform as tft
from tfx import v1 as tfx

from trainer import model as video_model
from trainer.data import TRAINING_SEED, dataset
from trainer.hparams import HParams, search_space
from trainer.preprocessing import LABEL_VOCABULARY
from trainer.training import SELECTION_METRIC, training_callbacks

# HParams field -> the values tried: the `search` values of trainer/hparams.py's fields.
SEARCH_SPACE: dict[str, list[Any]] = search_space()
TRIALS = 4


def search_hyperparameters() -> keras_tuner.HyperParameters:
    hyperparameters = keras_tuner.HyperParameters()
    for name, values in SEARCH_SPACE.items():
        hyperparameters.Choice(name, values)
    return hyperparameters


def tuner_fn(fn_args: tfx.components.FnArgs) -> tfx.components.TunerFnResult:
    """A RandomSearch over SEARCH_SPACE around the hyperparameters the pipeline configured (custom_config)."""
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    num_classes = len(tf_transform_output.vocabulary_by_name(LABEL_VOCABULARY))
    configured = HParams.from_config(fn_args.custom_config)

    def build(hyperparameters: keras_tuner.HyperParameters) -> keras.Model:
        tried = {name: hyperparameters.get(name) for name in SEARCH_SPACE}
        return video_model.build_model(num_classes, dataclasses.replace(configured, **tried))

    tuner = keras_tuner.RandomSearch(
        build,
        hyperparameters=search_hyperparameters(),
        allow_new_entries=False,
        tune_new_entries=False,
        # The eval loss of the epoch the Trainer would keep (after the warm-up), not the minimum over every epoch.
        objective=keras_tuner.Objective(SELECTION_METRIC, "min"),
        max_trials=TRIALS,
        seed=TRAINING_SEED,
        directory=fn_args.working_dir,
        project_name="video_transformer",
    )
    keras.utils.set_random_seed(TRAINING_SEED)
    return tfx.components.TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": dataset(fn_args, fn_args.train_files, tf_transform_output, configured.batch_size, shuffle=True),
            "validation_data": dataset(fn_args, fn_args.eval_files, tf_transform_output, configured.batch_size, shuffle=False),
            "epochs": configured.epochs,
            "shuffle": False,
            "verbose": 2,
            "callbacks": training_callbacks(configured, score_selection=True),
        },
    )
