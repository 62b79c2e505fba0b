"""Pipeline-level settings: the pipeline's name and the Evaluator's gate.

Everything else has its home with the code that uses it: extraction settings
in frame_path/config.py (ExtractionConfig), model hyperparameters in
trainer/model.py (HParams), split names and video extensions in
video_datasets/manifest.py.
"""
PIPELINE_NAME = "video-action-recognition"

# The Evaluator blesses a model at this test accuracy or above ...
MIN_TEST_ACCURACY = 0.5
# ... and when it is at most this much worse than the last blessed model (0: never worse).
MAX_ACCURACY_REGRESSION = 0.0
