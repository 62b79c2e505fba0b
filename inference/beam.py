"""`PredictVideos`: video paths -> one result per video, on any Beam runner.

Why a DoFn of our own and not TFX's BulkInferrer or Beam's RunInference:
BulkInferrer reads an Examples artifact, so new videos would first need
VideoExampleGen, which wants labels and splits; RunInference's TensorFlow
handlers take tensors or Keras models, while here each element is a video file
whose decoding can fail on its own (an error line, not a failed bundle) before
the backbone and the SavedModel's serving_default run. The DoFn loads the
backbone and the model once per worker (setup) and runs the very code of
predict.py (inference.results.video_results), so both give the same numbers.
Videos come in batches, so that VideoExampleGen's ClipEncoder decodes ahead
of the backbone and fills its forward passes across videos.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from inference.model import PushedModel, VideoClassifier
from inference.results import video_results
from inference.timeline import TimelineConfig

logger = logging.getLogger(__name__)


class _PredictVideoDoFn(beam.DoFn):
    def __init__(self, model: PushedModel, top_k: int, timeline_config: TimelineConfig | None, views: int):
        self._model = model
        self._views = views
        self._top_k = top_k
        self._timeline_config = timeline_config
        self._classifier: VideoClassifier | None = None

    def setup(self) -> None:
        self._classifier = VideoClassifier(self._model, self._views)

    def teardown(self) -> None:
        if self._classifier is not None:
            self._classifier.close()

    def process(self, videos: list[str]) -> Iterator[dict[str, Any]]:
        for result in video_results(self._classifier, videos, self._top_k, self._timeline_config):
            if "error" in result:
                logger.warning("%s: %s", result["video"], result["error"])
            else:
                best = result["predictions"][0]
                logger.info("%s: %s (%.3f)", result["video"], best["label"], best["probability"])
            yield result


@beam.ptransform_fn
def PredictVideos(  # noqa: N802 (Beam's style)
    videos: beam.PCollection, model: PushedModel, top_k: int, timeline_config: TimelineConfig | None = None, views: int = 1
) -> beam.PCollection:
    """Paths -> inference.results.video_results of each: {video, predictions, frames[, windows, segments]} or {video, error}."""
    return (
        videos
        | "Spread" >> beam.Reshuffle()  # before batching, so that every worker gets some
        # Batches of up to 32 videos, as VideoExampleGen's BatchClips on a CPU: decoders stay ahead across videos.
        | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=32)
        | "Predict" >> beam.ParDo(_PredictVideoDoFn(model, top_k, timeline_config, views))
    )
