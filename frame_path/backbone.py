"""The DenseNet121 frame encoder, as backend-agnostic Keras 3.

The backbone takes RGB frames with values 0..255 and includes DenseNet's own
preprocessing, so every caller (Beam extractor, predict.py, the serving
signature) feeds it the same thing and cannot forget to normalize.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import random
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from frame_path.errors import BackboneWeightsError

if TYPE_CHECKING:
    import keras

# DenseNet's 'torch'-mode preprocessing: x / 255, then ImageNet mean and std.
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
_IMAGENET_STD = np.array([0.229, 0.224, 0.225])

FEATURE_DIM = 1024  # DenseNet121's channels: features a frame per pooling
PRECISIONS = ("float32", "bfloat16")
# How a frame's DenseNet121 feature map (4x4 at 128 px) becomes its vector: "avg" (the map's mean, the Keras
# example's), "max" (the map's maximum: each of the 1024 channels' strongest response anywhere in the frame) or
# both side by side. The mean mixes a small object with the scene around it; the maximum keeps its look wherever
# it sits. Measured on random-init weights, unseen scenes (benchmarks/README.md section 3): a linear probe on the
# appearance benchmark reads 0.74 from the mean, 0.96 from the maximum; the Trainer's model gets 0.779 (avg),
# 0.958 (max), 0.888 (avg+max) there, and 0.976 / 0.976 / 0.958 on the order-only hard benchmark.
# "max+min" adds each channel's minimum over the map: a dark object growing on a brighter background, which the
# maximum alone reads like the whole frame darkening (held-out whole clips 0.924 -> 0.979; benchmarks/README.md).
POOLINGS = ("avg", "max", "avg+max", "max+min")


def feature_dim(pooling: str) -> int:
    """Features a frame: FEATURE_DIM for each of the pooling's statistics."""
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}: use one of {', '.join(POOLINGS)}")
    return FEATURE_DIM * len(pooling.split("+"))


def appearance_feature_dim(pooling: str) -> int:
    """The leading features a frame that the model's appearance stream sees: every statistic but the minimum (last).

    The map's darkest cell is mostly the scene's, so beside what is in view it lets a model memorise the training
    scenes (appearance benchmark, held-out scenes: 0.894 with it, 0.911 without); in the change streams the scene
    cancels and the minimum shows a dark object growing (benchmarks/README.md section 3).
    """
    return feature_dim(pooling) - FEATURE_DIM * pooling.split("+").count("min")


logger = logging.getLogger(__name__)


def weights_id(weights: str, seed: int) -> str:
    """A stable name of the weights that produced features.

    Stored with the features and in the exported model, so that a model is
    never fed features of another backbone. A weights file is named by its
    content hash, not its path.
    """
    if weights == "imagenet":
        return "imagenet"
    if weights == "none":
        return f"none(random-init,seed={seed})"
    if not os.path.isfile(weights):
        raise BackboneWeightsError(
            f"backbone weights file {weights!r} does not exist "
            "(--weights takes 'imagenet', 'none' or the path of a DenseNet121 notop weights file)"
        )
    stat = os.stat(weights)
    return f"file:sha256:{_file_sha256(os.path.abspath(weights), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)[:16]}"


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, size: int, mtime_ns: int, ctime_ns: int) -> str:
    """Hashed once per process and file state: a run asks for the id in its input checks, the extractor and the Trainer."""
    digest = hashlib.sha256()
    with open(path, "rb") as weights_file:
        for chunk in iter(lambda: weights_file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def share_gpu_memory() -> list[str]:
    """Makes this process take GPU memory as it needs it, not all of it at start.

    Several Beam SDK worker processes (--direct_num_workers, a worker pool,
    Flink/Spark task slots) may share one GPU; by default TensorFlow and JAX each
    reserve (nearly) all of its memory in the first process, and the others fail
    with out-of-memory. Must run before the backend first touches the GPU; later
    it changes nothing and says so. An explicit XLA_PYTHON_CLIENT_PREALLOCATE /
    XLA_PYTHON_CLIENT_MEM_FRACTION set by the user is kept. Harmless without a
    GPU. Returns the GPUs given memory growth (TensorFlow backend).
    """
    # JAX backend: read when JAX's GPU client starts (PyTorch allocates on demand already).
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import keras

    if keras.backend.backend() != "tensorflow":
        return []
    import tensorflow as tf

    grown = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
            grown.append(gpu.name)
        except RuntimeError as error:  # TensorFlow has set up its GPUs already
            logger.warning("cannot set memory growth on %s: %s", gpu.name, error)
    return grown


def compute_device() -> str:
    """ "gpu", "tpu" or "cpu": where the Keras backend runs models by default.

    For TensorFlow only the physical devices are listed: that leaves the GPUs
    uninitialized, so memory growth can still be set afterwards.
    """
    share_gpu_memory()  # before the backend first touches a GPU (JAX reads its switch at start-up)
    import keras

    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        kinds = {device.device_type.lower() for device in tf.config.list_physical_devices()}
    elif name == "jax":
        import jax

        kinds = {jax.default_backend().lower()}
    elif name == "torch":
        import torch

        kinds = {"gpu"} if torch.cuda.is_available() else {"cpu"}
    else:
        kinds = {device.split(":")[0].lower() for device in keras.distribution.list_devices()}
    kinds = {"gpu" if kind in ("cuda", "rocm") else kind for kind in kinds}
    return next((kind for kind in ("gpu", "tpu") if kind in kinds), "cpu")


def _draw_random_weights(network: keras.Model, seed: int) -> None:
    """Draws `network`'s random weights again from `seed` alone, as `keras.utils.set_random_seed(seed)` before
    building it would have (bitwise), without touching any process-wide random state.

    Keras seeds each initializer from Python's process-wide `random` when the layer is made; in an SDK worker
    other threads draw from that stream meanwhile (on one Flink TaskManager the features differed from the local
    engine's), and seeding it globally would reset every caller's stream. Only convolution kernels are random
    in DenseNet121; their seeds are replayed in the order the layers were made.
    """
    import keras

    seeds = random.Random(seed)
    for layer in network.layers:
        initializer = getattr(layer, "kernel_initializer", None)
        if isinstance(initializer, keras.initializers.Initializer) and hasattr(initializer, "seed"):
            seeded = initializer.__class__.from_config({**initializer.get_config(), "seed": seeds.randint(1, int(1e9))})
            layer.kernel.assign(seeded(layer.kernel.shape, layer.kernel.dtype))


def _densenet121(weights: str, image_size: int, precision: str) -> keras.Model:
    """Keras' DenseNet121 without its top, in `precision`; BackboneWeightsError when its weights cannot be had."""
    import keras

    keras_weights = None if weights == "none" else weights
    previous_policy = keras.config.dtype_policy() if precision == "bfloat16" else None
    try:
        if previous_policy is not None:
            keras.config.set_dtype_policy("mixed_bfloat16")
        densenet = keras.applications.DenseNet121(
            include_top=False,
            weights=keras_weights,
            input_shape=(image_size, image_size, 3),
        )
    except Exception as error:  # Keras raises plain Exception for a failed download.
        if weights != "imagenet":
            raise BackboneWeightsError(f"cannot load backbone weights from {weights!r}: {error}") from error
        raise BackboneWeightsError(
            f"cannot download the DenseNet121 ImageNet weights ({str(error).splitlines()[0]}); "
            "offline, pass --weights /path/to/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5 "
            "or --weights none (random features, for tests only)"
        ) from error
    finally:
        if previous_policy is not None:
            keras.config.set_dtype_policy(previous_policy)
    return densenet


def build_backbone(weights: str, image_size: int, seed: int, precision: str = "float32", pooling: str = "avg") -> keras.Model:
    """DenseNet121 (no top) with its preprocessing in front and `pooling` (POOLINGS) over its last feature map.

    `pooling` defaults to DenseNet121's own ("avg"); the pipeline's default is FeatureConfig's, whose
    `build_backbone()` every extraction, training and inference path calls.

    Input: float32 RGB frames [batch, image_size, image_size, 3], values 0..255.
    Output: [batch, feature_dim(pooling)] float32 frame features: the map's mean and/or its maximum (1024 each).

    precision "bfloat16" runs the DenseNet121 layers under Keras' "mixed_bfloat16"
    dtype policy (bfloat16 compute, float32 variables); the preprocessing and the
    output features stay float32. The global dtype policy is restored afterwards.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    feature_dim(pooling)  # a ValueError for an unknown one, before Keras starts
    share_gpu_memory()
    # Imported here so that option checks (weights_id) answer before Keras and
    # TensorFlow start up.
    import keras

    if weights == "none":
        logger.warning(
            "DenseNet121 runs with RANDOM weights (--weights none): the frame features are "
            "not pretrained, fine for tests and the offline demo, not for real accuracy."
        )
    densenet = _densenet121(weights, image_size, precision)
    if weights == "none":
        _draw_random_weights(densenet, seed)
    frames = keras.Input((image_size, image_size, 3), name="frames")
    normalized = keras.layers.Normalization(
        mean=255.0 * _IMAGENET_MEAN, variance=(255.0 * _IMAGENET_STD) ** 2, name="densenet_preprocessing"
    )(frames)
    feature_map = densenet(normalized)
    # "avg" is the layer DenseNet121(pooling="avg") itself ends with, in its precision: the same features, bitwise.
    pooling_layers = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}

    def pool(statistic: str):
        if statistic == "min":  # the maximum of the negated map, negated back: stock layers only
            negated = keras.layers.Rescaling(-1.0, name="min_negate", dtype=densenet.dtype_policy)(feature_map)
            maximum = keras.layers.GlobalMaxPooling2D(name="min_pool", dtype=densenet.dtype_policy)(negated)
            return keras.layers.Rescaling(-1.0, name="min_restore", dtype=densenet.dtype_policy)(maximum)
        return pooling_layers[statistic](name=f"{statistic}_pool", dtype=densenet.dtype_policy)(feature_map)

    pooled = [pool(statistic) for statistic in pooling.split("+")]
    features = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="pooled_features")(pooled)
    if precision == "bfloat16":
        # A float32 layer casts the bfloat16 pooled features back: callers always get float32.
        features = keras.layers.Activation("linear", dtype="float32", name="features_float32")(features)
    return keras.Model(frames, features, name="densenet121_frame_encoder")


def encode_frames(backbone: keras.Model, frames: np.ndarray, batch_size: int) -> np.ndarray:
    """Frame features [num_frames, feature_dim] for uint8 RGB frames, batch_size frames per forward pass.

    The frames go in as they are: the model casts them to its float32 input
    (same features, checked on TensorFlow and JAX), so a GPU receives a
    quarter of the bytes and the host makes no float copy.
    """
    forward = _forward_pass(backbone, frames.dtype)
    features = [forward(frames[start : start + batch_size]) for start in range(0, len(frames), batch_size)]
    return np.concatenate(features).astype(np.float32)


# backbone -> {frames dtype: its forward pass}; an entry goes with its backbone.
_FORWARD_PASSES: weakref.WeakKeyDictionary[Any, dict[str, Callable[[np.ndarray], np.ndarray]]] = weakref.WeakKeyDictionary()


def _forward_pass(backbone: keras.Model, dtype: np.dtype) -> Callable[[np.ndarray], np.ndarray]:
    """The backbone's forward pass on a batch of frames of `dtype`.

    On TensorFlow one tf.function for every batch size: Keras' predict_on_batch traces DenseNet121 for the
    first batch's size, then again for any size, 3.5-4.4 s each on 2 cores at 128 px, in every process that
    encodes (an extraction with new clips, predict.py, each Beam worker). The same graph, so the same
    features, bitwise. Other backends keep predict_on_batch (JAX compiles per shape whatever the caller does).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return lambda batch: np.asarray(backbone.predict_on_batch(batch))
    passes = _FORWARD_PASSES.setdefault(backbone, {})
    if dtype.name not in passes:
        import tensorflow as tf

        model = weakref.ref(backbone)  # the pass must not keep its backbone (the key) alive
        function = tf.function(
            lambda batch: model()(batch, training=False),
            input_signature=[tf.TensorSpec([None, *backbone.input_shape[1:]], tf.as_dtype(dtype))],
        )
        passes[dtype.name] = lambda batch: function(batch).numpy()
    return passes[dtype.name]
