"""Every default of the pipeline, in one place.

Other modules receive these values as parameters (pipeline arguments,
`custom_config`, command-line flags); none of them re-types a number.
Environment variables override the defaults, so that `tfx pipeline create`
(which imports `pipeline_runner.py` without flags) can be configured too.
"""
import os

PIPELINE_NAME = os.environ.get("VIDEO_PIPELINE_NAME", "video-action-recognition")

# Frames and features.
IMAGE_SIZE = 128  # frames are center-cropped and resized to IMAGE_SIZE x IMAGE_SIZE
MAX_SEQ_LENGTH = 20  # frames sampled per clip; shorter clips are zero-padded
FEATURE_DIM = 1024  # DenseNet121 with average pooling
SAMPLING_MODES = ("uniform", "first")
SAMPLING = "uniform"
WEIGHTS = "imagenet"  # 'imagenet', 'none' (random init) or a path to a weights file
FRAME_BATCH_SIZE = 32  # frames per DenseNet121 forward pass
PRECISIONS = ("float32", "bfloat16")
PRECISION = "float32"  # DenseNet121 compute precision; bfloat16 is faster where the hardware has it
RANDOM_INIT_SEED = 0  # makes 'none' weights identical on every worker

# Splits: `eval` is carved out of the training split by UCF101 group.
EVAL_GROUP_FRACTION = 0.15
SPLIT_NAMES = ("train", "eval", "test")

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg")

# The Evaluator's gate on the test split.
MIN_TEST_ACCURACY = float(os.environ.get("VIDEO_MIN_TEST_ACCURACY", "0.5"))
# How much worse than the last blessed model a new model may be (0: never worse).
MAX_ACCURACY_REGRESSION = 0.0
