"""`PredictVideos`: video paths -> one result per video, on any Beam runner.

Why a DoFn of our own and not TFX's BulkInferrer or Beam's RunInference:
BulkInferrer reads an Examples artifact, so new videos would first need
VideoExampleGen, which wants labels and splits; RunInference's TensorFlow
handlers take tensors or Keras models, while here each element is a video file
whose decoding can fail on its own (an error line, not a failed bundle) before
the backbone and the SavedModel's serving_default run. The DoFn loads the
backbone and the model once per worker (setup) and runs the very code of
predict.py (inference.results.video_result), so both give the same numbers.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator, Optional

import apache_beam as beam

from inference.model import PushedModel, VideoClassifier
from inference.results import video_result
from inference.timeline import TimelineConfig

logger = logging.getLogger(__name__)


class _PredictVideoDoFn(beam.DoFn):
    def __init__(self, model: PushedModel, top_k: int, timeline_config: Optional[TimelineConfig]):
        self._model = model
        self._top_k = top_k
        self._timeline_config = timeline_config
        self._classifier: Optional[VideoClassifier] = None

    def setup(self) -> None:
        self._classifier = VideoClassifier(self._model)

    def process(self, video: str) -> Iterator[dict[str, Any]]:
        result = video_result(self._classifier, video, self._top_k, self._timeline_config)
        if "error" in result:
            logger.warning("%s: %s", video, result["error"])
        else:
            best = result["predictions"][0]
            logger.info("%s: %s (%.3f)", video, best["label"], best["probability"])
        yield result


@beam.ptransform_fn
def PredictVideos(  # noqa: N802 (Beam's style)
    videos: beam.PCollection, model: PushedModel, top_k: int, timeline_config: Optional[TimelineConfig] = None
) -> beam.PCollection:
    """Paths -> inference.results.video_result of each: {video, predictions, frames[, windows, segments]} or {video, error}."""
    return (
        videos
        | "Spread" >> beam.Reshuffle()  # one video a work item, so that every worker gets some
        | "Predict" >> beam.ParDo(_PredictVideoDoFn(model, top_k, timeline_config))
    )
