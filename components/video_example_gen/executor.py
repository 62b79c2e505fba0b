"""Beam executor of VideoExampleGen: clips -> frame-feature tf.train.Examples.

As TFX's avro_executor: one Beam transform (`EncodeClips`) from the dataset
manifest's clips to (split, Example) pairs; `Do` keeps the artifact's
bookkeeping, the writes and the report. Each worker takes what it can from
the feature store (frame_path/feature_store.py), builds DenseNet121 once, at
the first clip the store lacks, decodes those clips on a pool of decode
workers while the backbone encodes the previous clip's frames, and tags every
clip with its split. The splits are written as clips stream through, with
`extraction_report.json` (split counts, skipped clips with their reasons,
throughput, the store's hits and misses) beside them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from frame_path import backbone, encoding, feature_store, frames
from frame_path.config import ExtractionConfig, resolve_auto_settings
from frame_path.errors import ExtractionError
from frame_path.records import EXTRACTION_REPORT_FILE, make_example
from video_datasets import manifest, spans
from video_datasets.listing import ignored_files_report

_CLIP_LOG_DIR = "_clip_log"  # per-clip outcomes, folded into the report, then removed
_METRICS_NAMESPACE = "VideoExampleGen"
_PROGRESS_EVERY_SECONDS = 10.0

logger = logging.getLogger(__name__)


class _ClipsDoFn(beam.DoFn):
    """What both steps share: the outcome of each clip (its Example and log line, or why it was skipped), progress."""

    CLIP_LOG = "clip_log"
    DONE = "written"  # what the progress line says of the clips; each step names its own

    def __init__(self, config: ExtractionConfig, weights_id: str):
        self._config = config
        self._weights_id = weights_id
        self._clips_done = beam.metrics.Metrics.counter(_METRICS_NAMESPACE, "clips_encoded")
        self._clips_skipped = beam.metrics.Metrics.counter(_METRICS_NAMESPACE, "clips_skipped")
        self._frames_encoded = beam.metrics.Metrics.counter(_METRICS_NAMESPACE, "frames_encoded")

    def setup(self) -> None:
        config = self._config
        self._store = feature_store.FeatureStore(config.feature_store, config.features, self._weights_id) if config.feature_store else None
        self._started = time.monotonic()
        self._last_progress = self._started
        self._clip_count = 0

    def _written(
        self, clip: manifest.Clip, stored: feature_store.StoredClip, from_store: bool, not_stored: str | None = None
    ) -> Iterator[Any]:
        """The clip's (split, Example) and its outcome; the label, id and split are the manifest's, never stored."""
        self._clips_done.inc()
        yield clip.split, make_example(stored.frame_features, stored.frame_mask, clip.label, clip.video_id, stored.num_frames)
        frames_encoded = 0 if from_store else stored.frames_encoded
        outcome = {**_outcome(clip, not_stored), "frames_encoded": frames_encoded, "seconds": stored.seconds, "from_store": from_store}
        yield beam.pvalue.TaggedOutput(self.CLIP_LOG, outcome)
        self._log_progress()

    def _skipped(self, clip: manifest.Clip, reason: str, not_stored: str | None = None) -> beam.pvalue.TaggedOutput:
        logger.warning("Skipping %s: %s", clip.path, reason)
        self._clips_skipped.inc()
        return beam.pvalue.TaggedOutput(self.CLIP_LOG, {**_outcome(clip, not_stored), "skipped": reason})

    def _log_progress(self) -> None:
        self._clip_count += 1
        now = time.monotonic()
        if now - self._last_progress >= _PROGRESS_EVERY_SECONDS:
            self._last_progress = now
            logger.info(
                "VideoExampleGen: %d clips %s by this worker, %.2f clips/s",
                self._clip_count,
                self.DONE,
                self._clip_count / (now - self._started),
            )


class _ReadStoreDoFn(_ClipsDoFn):
    """Manifest clips -> the Examples of those in the feature store; the others (MISSES) go on to be decoded."""

    MISSES = "misses"
    DONE = "read from the feature store"

    def process(self, clip: manifest.Clip) -> Iterator[Any]:
        # Files the manifest found to be no videos (a link out of the data root among them) are never opened.
        if clip.problem is not None:
            yield self._skipped(clip, clip.problem)
            return
        stored = self._store.get(clip.path) if self._store else None
        if stored is None:
            yield beam.pvalue.TaggedOutput(self.MISSES, clip)
        elif isinstance(stored, frames.VideoDecodeError):  # this very file failed before
            yield self._skipped(clip, str(stored))
        else:  # features of this very file with these settings: no decoding
            yield from self._written(clip, stored, from_store=True)


class _EncodeClipsDoFn(_ClipsDoFn):
    """Batches of clips the store lacks -> (split, Example) and one log line per clip; one backbone per worker."""

    DONE = "encoded"

    def setup(self) -> None:
        super().setup()
        # Built at the first batch: a runner may set up this step even when the store had every clip.
        self._encoder: encoding.ClipEncoder | None = None

    def teardown(self) -> None:
        if self._encoder is not None:
            self._encoder.close()

    def process(self, clips: list[manifest.Clip]) -> Iterator[Any]:
        if self._encoder is None:
            config = self._config
            self._encoder = encoding.ClipEncoder.for_config(
                config.features.build_backbone(),
                config,
                clip_aligned_passes=True,  # a clip's features must not depend on the clips beside it: the store mixes runs
            )
        for clip, encoded in self._encoder.encode((clip, clip.path) for clip in clips):
            if isinstance(encoded, frames.VideoDecodeError):
                not_stored = self._store.put(clip.path, encoded) if self._store else None
                yield self._skipped(clip, str(encoded), not_stored)
                continue
            stored = feature_store.StoredClip(
                encoded.frame_features, encoded.frame_mask, encoded.num_frames, encoded.frames_encoded, encoded.seconds
            )
            not_stored = self._store.put(clip.path, stored) if self._store else None
            self._frames_encoded.inc(encoded.frames_encoded)
            yield from self._written(clip, stored, from_store=False, not_stored=not_stored)


def _outcome(clip: manifest.Clip, not_stored: str | None = None) -> dict[str, str]:
    """What the per-clip log records of every clip, written or skipped (and why the store lacks it, where it does)."""
    outcome = {"video_id": clip.video_id, "path": clip.path, "split": clip.split, "label": clip.label}
    return {**outcome, "not_stored": not_stored} if not_stored else outcome


def _split_index(split_and_example: tuple[str, tf.train.Example], num_splits: int) -> int:
    return manifest.SPLIT_NAMES.index(split_and_example[0])


@beam.ptransform_fn
def EncodeClips(root: beam.pvalue.PBegin, clips: list[manifest.Clip], config: ExtractionConfig, weights_id: str) -> EncodedClips:
    """The component's one transform: manifest clips -> (split, Example) pairs (`.examples`) and one outcome per clip (`.clip_log`).

    Clips in the feature store are written from it; only the others are batched and decoded, so that a
    rerun's few new clips fill whole batches of their own and the decoders stay ahead of the backbone.
    """
    looked_up = (
        root
        | "ListClips" >> beam.Create(clips)
        # Spread clips over workers before the expensive steps.
        | "Reshuffle" >> beam.Reshuffle()
        | "ReadStore"
        >> beam.ParDo(_ReadStoreDoFn(config, weights_id)).with_outputs(_ReadStoreDoFn.MISSES, _ClipsDoFn.CLIP_LOG, main="examples")
    )
    # Batches of clips keep the decoders ahead of the backbone across clips; at
    # least 4 full forward passes a batch (a GPU's 1024-frame passes: 205 clips).
    # Full batches from the start: grown from 1 clip, as BatchElements does by
    # itself, the 26 new clips of a rerun went one by one, decoded then encoded
    # (0.8 clips/s; 1.4 in full batches, and the first run 1.65 -> 1.79).
    clips_a_batch = max(32, -(-4 * config.frame_batch_size // config.features.max_seq_length))
    encoded = (
        looked_up[_ReadStoreDoFn.MISSES]
        | "BatchClips" >> beam.BatchElements(min_batch_size=clips_a_batch, max_batch_size=clips_a_batch)
        | "EncodeClips" >> beam.ParDo(_EncodeClipsDoFn(config, weights_id)).with_outputs(_ClipsDoFn.CLIP_LOG, main="examples")
    )
    return EncodedClips(
        examples=(looked_up.examples, encoded.examples) | "AllExamples" >> beam.Flatten(),
        clip_log=(looked_up[_ClipsDoFn.CLIP_LOG], encoded[_ClipsDoFn.CLIP_LOG]) | "AllClipLogs" >> beam.Flatten(),
    )


class EncodedClips(NamedTuple):
    examples: beam.PCollection  # (split, tf.train.Example)
    clip_log: beam.PCollection  # one outcome (dict) per clip


def _write_splits(split_examples: beam.PCollection, examples_artifact: Any) -> None:
    """(split, Example) pairs -> the artifact's Split-* folders of gzipped TFRecords.

    Written here rather than by the base class: its WriteSplit puts a Reshuffle
    before the write, which on Beam's in-process runner holds every Example of
    the dataset in memory (~320 KB a clip, measured by
    benchmarks/pipeline_scaling.py). Written as they are encoded, clips stream
    through and extraction memory stays flat.
    """
    by_split = split_examples | "SplitBySplitName" >> beam.Partition(_split_index, len(manifest.SPLIT_NAMES))
    for index, split in enumerate(manifest.SPLIT_NAMES):
        (
            by_split[index]
            | f"Serialize[{split}]" >> beam.Map(lambda split_and_example: split_and_example[1].SerializeToString())
            | f"WriteSplit[{split}]"
            >> beam.io.WriteToTFRecord(
                os.path.join(artifact_utils.get_split_uri([examples_artifact], split), "data_tfrecord"),
                file_name_suffix=".gz",  # gzip, chosen by the suffix
            )
        )


class Executor(BaseExampleGenExecutor):
    """Writes the splits of frame-feature Examples and the extraction report."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        raise NotImplementedError("splits come from the manifest in one pass: see EncodeClips")

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        requested = ExtractionConfig.from_mapping(exec_properties)
        device = backbone.compute_device()
        config = resolve_auto_settings(requested, device)
        data_root = _data_root(exec_properties)
        clips = manifest.read_manifest(data_root, config.eval_group_fraction)
        logger.info(
            "VideoExampleGen: %d clips to encode %s, weights=%s", len(clips), manifest.count_per_split(clips), config.features.weights
        )
        warnings = manifest.data_warnings(clips)
        for warning in warnings:
            logger.warning("VideoExampleGen: %s", warning)
        examples_artifact = output_dict[standard_component_specs.EXAMPLES_KEY][0]
        examples_artifact.split_names = artifact_utils.encode_split_names(list(manifest.SPLIT_NAMES))
        # The driver records them as custom properties; TFX's span resolvers (rolling_range) read the properties.
        examples_artifact.span = exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME) or 0
        if exec_properties.get(example_gen_utils.VERSION_PROPERTY_NAME) is not None:
            examples_artifact.version = exec_properties[example_gen_utils.VERSION_PROPERTY_NAME]
        clip_log_dir = os.path.join(examples_artifact.uri, _CLIP_LOG_DIR)
        started = time.monotonic()
        with self._make_beam_pipeline() as pipeline:
            encoded = pipeline | "EncodeClips" >> EncodeClips(clips, config, config.features.weights_id())
            _write_splits(encoded.examples, examples_artifact)
            (
                encoded.clip_log
                | "ClipLogToJson" >> beam.Map(json.dumps)
                | "WriteClipLog" >> beam.io.WriteToText(os.path.join(clip_log_dir, "clips"), file_name_suffix=".jsonl")
            )
        examples_utils.set_payload_format(examples_artifact, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples_artifact, "tfrecords_gzip")
        seconds = time.monotonic() - started

        report = _fold_clip_log(_read_clip_log(clip_log_dir))
        fileio.rmtree(clip_log_dir)
        hits, misses, not_stored = (report.pop(f"feature_store_{name}") for name in ("hits", "misses", "not_stored"))
        report.update(
            # The settings above keep the store's uri under "feature_store"; this says what it served.
            feature_store_use={"hits": hits, "misses": misses, "not_stored": not_stored, **feature_store.store_size(config.feature_store)}
            if config.feature_store
            else None,
            data_root=data_root,
            span=examples_artifact.span,
            groups_in_train_and_test=manifest.groups_in_train_and_test(clips),
            ignored_files=ignored_files_report(manifest.ignored_files(data_root)),
            data_warnings=warnings,
            **_settings_report(requested, config, device),
            feature_extraction=_throughput(report.pop("frames_encoded"), seconds),
        )
        report_path = os.path.join(examples_artifact.uri, EXTRACTION_REPORT_FILE)
        with fileio.open(report_path, "w") as report_file:
            json.dump(report, report_file, indent=2)
        examples_artifact.set_string_custom_property("backbone_weights_id", report["weights_id"])
        _check_written(report, report_path)


def _data_root(exec_properties: dict[str, Any]) -> str:
    """The dataset folder: the input base, or the span folder that the driver filled into the split patterns."""
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    span_folder = spans.span_folder_of(input_config.splits[0].pattern)
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    return os.path.join(input_base, span_folder) if span_folder else input_base


def _settings_report(requested: ExtractionConfig, config: ExtractionConfig, device: str) -> dict[str, Any]:
    """The settings the features were made with ('auto' ones as resolved), the choices made, and the weights' id."""
    settings, asked = config.as_dict(), requested.as_dict()
    return {
        **settings,
        "auto_settings": {"device": device, **{name: value for name, value in settings.items() if value != asked[name]}},
        "weights_id": config.features.weights_id(),
    }


def _throughput(frames_encoded: int, seconds: float) -> dict[str, Any]:
    return {"frames": frames_encoded, "seconds": round(seconds, 3), "frames_per_second": round(frames_encoded / seconds, 2)}


def _check_written(report: dict[str, Any], report_path: str) -> None:
    """ExtractionError when a split ended empty; warnings and the closing log line otherwise."""
    empty_splits = [split for split, count in report["splits"].items() if count == 0]
    if empty_splits:
        raise ExtractionError(
            f"no clip of split(s) {', '.join(empty_splits)} could be decoded "
            f"({len(report['skipped_videos'])} clips skipped, see {report_path})"
        )
    if report["labels_without_eval"]:
        logger.warning("VideoExampleGen: no eval Example written for the classes %s", ", ".join(report["labels_without_eval"]))
    extraction = report["feature_extraction"]
    logger.info(
        "VideoExampleGen: %s clips per split, %d skipped, %d frames in %.1f s (%.1f frames/s)",
        report["splits"],
        len(report["skipped_videos"]),
        extraction["frames"],
        extraction["seconds"],
        extraction["frames_per_second"],
    )


def _read_clip_log(clip_log_dir: str) -> Iterable[dict[str, Any]]:
    for file_name in sorted(fileio.listdir(clip_log_dir)):
        with fileio.open(os.path.join(clip_log_dir, file_name)) as clip_log:
            yield from (json.loads(line) for line in clip_log)


def _fold_clip_log(outcomes: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Examples written per split and per label, the classes left without eval Examples, skipped clips (sorted) and total frames.

    Counted from what was written, not from the manifest's plan: a class whose
    eval clips were all skipped has no eval Example, and is named.
    """
    written: dict[str, dict[str, int]] = {split: {} for split in manifest.SPLIT_NAMES}
    skipped = []
    not_stored: list[str] = []  # why the feature store could not keep a clip, one reason a clip
    frames_encoded = 0
    from_store = {True: 0, False: 0}
    train_seconds = []
    for outcome in outcomes:
        per_label = written[outcome["split"]]
        per_label.setdefault(outcome["label"], 0)
        if "not_stored" in outcome:
            not_stored.append(outcome["not_stored"])
        if "skipped" in outcome:
            skipped.append({"path": outcome["path"], "split": outcome["split"], "reason": outcome["skipped"]})
        else:
            per_label[outcome["label"]] += 1
            frames_encoded += outcome["frames_encoded"]
            from_store[outcome["from_store"]] += 1
            if outcome["split"] == "train":
                train_seconds.append(outcome["seconds"])
    labels = sorted(set().union(*written.values()))
    clips_per_label = {split: {label: per_label.get(label, 0) for label in labels} for split, per_label in written.items()}
    return {
        "splits": {split: sum(per_label.values()) for split, per_label in clips_per_label.items()},
        "clips_per_label": clips_per_label,
        "labels_without_eval": [label for label in labels if clips_per_label["train"][label] and not clips_per_label["eval"][label]],
        "skipped_videos": sorted(skipped, key=lambda item: item["path"]),
        "frames_encoded": frames_encoded,
        "feature_store_hits": from_store[True],
        "feature_store_misses": from_store[False],
        "feature_store_not_stored": {"clips": len(not_stored), "first_reason": min(not_stored)} if not_stored else None,
        # How long the training clips last: a timeline's default window (inference/timeline.py).
        "train_clip_seconds": _quartiles(train_seconds),
    }


def _quartiles(values: list[float]) -> dict[str, float] | None:
    """min, quartiles and max of `values` (seconds); None for none."""
    if not values:
        return None
    ordered = sorted(values)
    shares = {"min": 0.0, "quartile_1": 0.25, "median": 0.5, "quartile_3": 0.75}
    return {**{name: ordered[int(share * len(ordered))] for name, share in shares.items()}, "max": ordered[-1]}
