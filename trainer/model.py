"""Transformer classifier over per-frame video features.

A re-implementation of the Keras example "Video Classification with
Transformers": every clip arrives as `frame_features` (one DenseNet121 vector
per sampled frame, zero-padded to `max_seq_length`) plus `frame_mask` (1 for a
real frame, 0 for padding). The model turns each frame into its streams
(`FrameStreams`: the features themselves, the frame minus its clip's mean and
the change to the next frame, as `frame_streams` says), adds a
learned position embedding, runs transformer encoder blocks over the frames,
averages the valid frames and classifies the clip.

Unlike the example, padding never reaches the prediction: padded frames are
excluded as attention keys, set to zero after every block and left out of the
pooling, so a clip gets the same probabilities whatever its padding contains.

This module is pure Keras 3 (`keras`, `keras.ops`, `keras.layers` only), so the
same model runs on every Keras backend (e.g. `KERAS_BACKEND=jax`). It imports
nothing from the pipeline: the caller passes `max_seq_length` and
`feature_dim`.
"""

import keras
from keras import layers, ops

from trainer.hparams import HParams

_SERIALIZATION_PACKAGE = "video_transformer"


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
    Padded frames are exact zeros in every stream. `appearance_features` > 0:
    the appearance stream holds only that many leading features of a frame (the
    change streams all of them; frame_path/backbone.py's appearance_feature_dim).
    """

    def __init__(self, clip_centering: bool, motion_stream: bool, appearance_stream: bool = True, appearance_features: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.appearance_stream = appearance_stream
        self.appearance_features = appearance_features
        self.clip_centering = clip_centering
        self.motion_stream = motion_stream

    def call(self, frame_features, frame_mask):
        appearance = _zero_padded_frames(frame_features, frame_mask)
        streams = [appearance[..., : self.appearance_features or None]] if self.appearance_stream else []
        if self.clip_centering:
            centred = appearance - ops.expand_dims(_masked_mean(appearance, frame_mask), axis=1)
            streams.append(_zero_padded_frames(centred, frame_mask))
        if self.motion_stream:
            streams.append(next_frame_differences(appearance, frame_mask))
        return streams[0] if len(streams) == 1 else ops.concatenate(streams, axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            appearance_stream=self.appearance_stream,
            appearance_features=self.appearance_features,
            clip_centering=self.clip_centering,
            motion_stream=self.motion_stream,
        )
        return config


CROP_ANCHORS = ("frames", "change")


def _cumulative_change(frame_features, frame_mask):
    """[batch, time]: each valid frame's share of its clip's change so far (0 at the first frame, 1 at the last).

    A step's change is the norm of the difference to the next frame, less the clip's smallest step: still
    frames (noise, a slow pan) add next to nothing, so the curve rises where the action runs. A clip
    without change (one frame, or all steps equal) gets the frame index's share instead.
    """
    valid = _valid_frames(frame_mask)
    successor_valid = ops.concatenate([valid[:, 1:], ops.zeros_like(valid[:, :1])], axis=1)
    steps_valid = ops.logical_and(valid, successor_valid)
    step = ops.sqrt(ops.sum(ops.square(next_frame_differences(frame_features, frame_mask)), axis=-1) + 1e-12)
    smallest = ops.min(ops.where(steps_valid, step, ops.full_like(step, 1e30)), axis=1, keepdims=True)
    step = ops.where(steps_valid, ops.maximum(step - smallest, 0.0), ops.zeros_like(step))
    # Position t holds the change of the steps before it.
    before = ops.cumsum(step, axis=1) - step
    total = ops.sum(step, axis=1, keepdims=True)
    last = ops.maximum(ops.sum(ops.cast(valid, "float32"), axis=1, keepdims=True) - 1.0, 1.0)
    index_share = ops.expand_dims(ops.arange(valid.shape[1], dtype="float32"), 0) / last
    share = ops.where(total > 1e-6, before / ops.maximum(total, 1e-6), index_share)
    return ops.where(valid, ops.minimum(share, 1.0), ops.ones_like(share))


def _position_at_share(shares, target, last, latest: bool):
    """The (fractional) frame position where a clip's cumulative change `shares` [batch, time] reaches `target` [batch].

    Still frames share one value; `latest` takes the last frame still at it (a crop's start: the still frames
    before the action cut away), else the first to reach it (a crop's end: those after the action cut away).
    """
    reached = shares <= ops.expand_dims(target, 1) if latest else shares < ops.expand_dims(target, 1)
    below = ops.sum(ops.cast(reached, "int32"), axis=1) - 1
    below = ops.clip(below, 0, ops.maximum(ops.cast(last, "int32") - 1, 0))
    share_below = ops.take_along_axis(shares, ops.expand_dims(below, 1), axis=1)[:, 0]
    share_above = ops.take_along_axis(shares, ops.expand_dims(ops.minimum(below + 1, ops.cast(last, "int32")), 1), axis=1)[:, 0]
    fraction = ops.clip((target - share_below) / ops.maximum(share_above - share_below, 1e-6), 0.0, 1.0)
    return ops.clip(ops.cast(below, "float32") + fraction, 0.0, last)


@keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)
class TemporalCrops(layers.Layer):
    """Training only: a share of the clips replaced by a random stretch of themselves, stretched to their length.

    Training clips show an action over part of the clip; a clip whose action fills it all (or a window
    inside one action of a long video) then looks unlike anything seen in training. A crop keeps a random
    stretch of a clip's valid frames and resamples it, by linear interpolation between neighbouring frame
    features, to the clip's own number of frames (a slower, zoomed-in clip); the mask is unchanged,
    padding stays zero. At inference the layer passes the features through.

    `anchor` says what the stretch is a share of. 'frames': `min_fraction`..100% of the clip's frames,
    anywhere in it; a crop may then hold only the still frames before or after the action (a clip
    labelled with an action it does not show). 'change': `min_fraction`..100% of the clip's change
    (_cumulative_change), so a crop starts and stops inside the action or at its very ends, and cuts
    away the still frames around it: the views a window cut at an action's boundaries gives.
    """

    def __init__(self, probability: float, min_fraction: float, seed=None, anchor: str = "frames", **kwargs):
        super().__init__(**kwargs)
        if anchor not in CROP_ANCHORS:
            raise ValueError(f"anchor must be one of {CROP_ANCHORS}, got {anchor!r}")
        self.probability = probability
        self.min_fraction = min_fraction
        self.seed = seed
        self.anchor = anchor
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, frame_features, frame_mask, training=None):
        if not training or not self.probability:
            return frame_features
        valid = _valid_frames(frame_mask)
        batch, seq_length = ops.shape(frame_features)[0], frame_features.shape[1]
        frames = ops.sum(ops.cast(valid, "float32"), axis=1)  # valid frames are a prefix (frames.pad_to_length)
        last = ops.maximum(frames - 1.0, 0.0)
        cropped = keras.random.uniform((batch,), seed=self.seed_generator) < self.probability
        fraction = keras.random.uniform((batch,), minval=self.min_fraction, maxval=1.0, seed=self.seed_generator)
        offset = keras.random.uniform((batch,), seed=self.seed_generator)
        if self.anchor == "frames":
            span = ops.where(cropped, last * fraction, last)  # in frame steps: the stretch covers frames [start, start + span]
            start = offset * (last - span)
        else:
            shares = _cumulative_change(frame_features, frame_mask)
            first_share = offset * (1.0 - fraction)
            start = _position_at_share(shares, first_share, last, latest=True)
            end = _position_at_share(shares, first_share + fraction, last, latest=False)
            start = ops.where(cropped, start, ops.zeros_like(start))
            span = ops.where(cropped, ops.maximum(end - start, 0.0), last)
        steps = ops.expand_dims(ops.arange(seq_length, dtype="float32"), axis=0)
        positions = ops.clip(
            ops.expand_dims(start, 1) + steps * ops.expand_dims(span / ops.maximum(last, 1.0), 1), 0.0, ops.expand_dims(last, 1)
        )
        below = ops.floor(positions)
        weight = ops.expand_dims(positions - below, axis=-1)
        below = ops.cast(below, "int32")
        above = ops.minimum(below + 1, ops.expand_dims(ops.cast(last, "int32"), 1))
        feature_shape = ops.shape(frame_features)

        def gather(indices):
            return ops.take_along_axis(frame_features, ops.broadcast_to(ops.expand_dims(indices, -1), feature_shape), axis=1)

        resampled = (1.0 - weight) * gather(below) + weight * gather(above)
        return _zero_padded_frames(resampled, frame_mask)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(probability=self.probability, min_fraction=self.min_fraction, seed=self.seed, anchor=self.anchor)
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
        self.position_embeddings = layers.Embedding(input_dim=sequence_length, output_dim=output_dim, name="position_embeddings")

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

    def __init__(self, embed_dim: int, dense_dim: int, num_heads: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.dense_dim = dense_dim
        self.num_heads = num_heads
        self.dropout = dropout
        # key_dim=embed_dim per head, as in the Keras example.
        self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim, name="attention")
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


class AveragedClassifiers(keras.Model):
    """Trained classifiers of the same inputs and classes as one model: their probabilities averaged with fixed weights.

    What the Trainer exports when it keeps several frame-stream candidates (trainer/stream_selection.py): the
    same inputs and output as one classifier, so every signature built on it stays as it is. Inference only
    (it is never compiled or trained); its members keep their own variables, so the TF SavedModel holds them all.
    """

    def __init__(self, members: list, weights: list[float], **kwargs):
        super().__init__(**kwargs)
        if not members or len(members) != len(weights) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"need one non-negative weight per member and a positive sum, got {weights} for {len(members)} members")
        self.members = list(members)
        total = float(sum(weights))
        self.member_weights = [float(weight) / total for weight in weights]

    def call(self, inputs, training=None):
        weighted = [weight * member(inputs, training=training) for weight, member in zip(self.member_weights, self.members)]
        return weighted[0] if len(weighted) == 1 else ops.sum(ops.stack(weighted, axis=0), axis=0)


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
    if hparams.temporal_crops:
        frame_vectors = TemporalCrops(hparams.temporal_crops, hparams.min_crop_fraction, anchor=hparams.crop_anchor, name="temporal_crops")(
            frame_vectors, frame_mask
        )
    if hparams.feature_noise:
        # Training only; noise on padded frames is zeroed by every later layer.
        frame_vectors = layers.GaussianNoise(hparams.feature_noise, name="feature_noise")(frame_vectors)
    streams = hparams.streams
    if streams != ("appearance",) or hparams.appearance_features < hparams.feature_dim:
        frame_vectors = FrameStreams(
            "clip_centering" in streams, "motion" in streams, "appearance" in streams, hparams.appearance_features, name="frame_streams"
        )(frame_vectors, frame_mask)
    if hparams.projection_dim:
        frame_vectors = layers.Dense(hparams.projection_dim, name="frame_projection")(frame_vectors)
    frame_vectors = PositionalEmbedding(hparams.max_seq_length, hparams.embed_dim, name="frame_position_embedding")(
        frame_vectors, frame_mask
    )
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
    _compile(model, num_classes, hparams)
    return model


def _compile(model: keras.Model, num_classes: int, hparams: HParams) -> None:
    """Adam (AdamW with weight decay), cross-entropy (label-smoothed if asked), accuracy."""
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
