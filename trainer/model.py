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

# Model defaults, chosen on the built-in demo data (random-init DenseNet121
# features, 40 training clips). Learning frame order there takes 50-100
# epochs after a plateau near 0.5 accuracy (pairs told apart, direction not),
# hence the long patience; batch 8 gave the best test accuracy (0.94).
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

    def __post_init__(self) -> None:
        positive = ("max_seq_length", "feature_dim", "dense_dim", "num_heads",
                    "num_layers", "epochs", "batch_size", "early_stopping_patience")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"HParams.{name} must be a positive integer, got {value!r}.")
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
        if not self.learning_rate > 0.0:
            raise ValueError(f"HParams.learning_rate must be > 0, got {self.learning_rate!r}.")

    @property
    def embed_dim(self) -> int:
        """Width of the frame vectors inside the transformer."""
        return self.projection_dim or self.feature_dim

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
        valid = ops.expand_dims(_valid_frames(frame_mask), axis=-1)
        total = ops.sum(ops.where(valid, frame_vectors, ops.zeros_like(frame_vectors)), axis=1)
        count = ops.sum(ops.cast(valid, frame_vectors.dtype), axis=1)
        # An all-padding clip has no valid frame: divide by 1, giving zeros.
        return total / ops.maximum(count, 1.0)


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
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=hparams.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="sparse_categorical_accuracy")],
    )
    return model
