"""The runners' core: what `pipeline_runner.py` and the `tfx` CLI configuration share.

One output folder per pipeline: OUTPUT_DIR/pipeline_root, OUTPUT_DIR/metadata.sqlite,
OUTPUT_DIR/serving (blessed models), OUTPUT_DIR/demo_data (the demo dataset,
when used), OUTPUT_DIR/run_summary.json and OUTPUT_DIR/report/; OUTPUT_DIR/.lock
is held by the run under way. Front ends
build a `RunSettings` and call `check_inputs`, `build_pipeline` or `run`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import time
from typing import IO, Any

import run_files
from frame_path import backbone
from frame_path.config import SPAN_MISMATCH_HINT, ExtractionConfig, span_feature_mismatch
from frame_path.feature_store import STORE_DIR as FEATURE_STORE_DIR
from pipeline import configs, flink
from pipeline.options import OptionError
from video_datasets import keras_layout, manifest, spans

logger = logging.getLogger(__name__)

DEMO_WEIGHTS = "none"  # the demo runs offline
# "flink": LocalDagRunner, with every component's Beam pipeline a job of a Flink cluster (pipeline/flink.py).
ORCHESTRATORS = ("local", "beam", "flink")
# Output dirs this process holds, for the rest of its life: a front end called again in
# the same process (the tests do) takes its own lock again; a flock would refuse it.
_held_output_dirs: dict[str, IO[str]] = {}


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """One run of the pipeline, whole: what it does (PipelineConfig), where its outputs go, how it is orchestrated."""

    output_dir: str
    pipeline: configs.PipelineConfig
    serving_dir: str | None = None  # default OUTPUT_DIR/serving
    enable_cache: bool = True
    beam_args: tuple[str, ...] = ()
    orchestrator: str = "local"  # LocalDagRunner, BeamDagRunner, or LocalDagRunner with Beam steps on Flink
    flink_master: str | None = None  # the Flink JobManager's REST address, with orchestrator "flink" (default localhost:8081)
    pipeline_name: str = configs.PIPELINE_NAME

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_dir, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata.sqlite")

    @property
    def serving_model_dir(self) -> str:
        return self.serving_dir or os.path.join(self.output_dir, "serving")

    @property
    def component_beam_args(self) -> tuple[str, ...]:
        """The Beam arguments of the components: the user's, after Flink's with orchestrator "flink"."""
        return flink.beam_args_for(self.orchestrator, self.flink_master, self.beam_args)

    @property
    def extraction(self) -> ExtractionConfig:
        """The pipeline's extraction settings with the feature store this run uses: the one given, else
        OUTPUT_DIR/feature_store; none without the cache (`--no-cache` decodes every clip)."""
        extraction = self.pipeline.extraction
        store = (extraction.feature_store or os.path.join(self.output_dir, FEATURE_STORE_DIR)) if self.enable_cache else ""
        return dataclasses.replace(extraction, feature_store=store)


def absolute(path: str) -> str:
    """Local paths made absolute (front ends run from any folder); URLs (gs://...) kept."""
    return path if "://" in path else os.path.abspath(path)


def prepare_output_dir(output_dir: str, option_name: str) -> str:
    """Creates `output_dir`, checks that it can be written and locks it for this process's run, before any work starts.

    OptionError naming the option otherwise, also when another run holds it:
    two runs into one output dir would run every component twice.
    """
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise OptionError(f"{option_name} {output_dir} is a file, not a folder")
    try:
        os.makedirs(output_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
        key = os.path.realpath(output_dir)
        if key not in _held_output_dirs:
            lock_path = os.path.join(output_dir, run_files.LOCK_FILE)
            lock = run_files.take_lock(lock_path)
            if lock is None:
                raise OptionError(f"{option_name} {output_dir} is in use by another run (pid {run_files.lock_holder(lock_path)})")
            _held_output_dirs[key] = lock
    except OSError as error:
        raise OptionError(f"{option_name} {output_dir} cannot be used: {error.strerror or error}") from None
    return output_dir


def demo_data_root(output_dir: str, generate: bool = True) -> str:
    """The demo dataset under `output_dir`, generated once: regenerating would change file times and defeat the cache."""
    data_root = os.path.join(output_dir, "demo_data")
    if generate and not all(os.path.exists(os.path.join(data_root, name)) for name in keras_layout.CSV_FILES.values()):
        from video_datasets import demo

        demo.generate_demo_dataset(data_root)
    return data_root


def check_inputs(settings: RunSettings) -> list[str]:
    """Fails fast, before any component runs, on data and weights that cannot work (one-line errors); returns what
    works but is probably not what the user meant (warnings, also logged)."""
    extraction = settings.pipeline.extraction
    span, data_root = spans.resolve_span(settings.pipeline.data_root, settings.pipeline.spans.span)
    clips = manifest.read_manifest(data_root, extraction.eval_group_fraction)
    weights, seed = extraction.features.weights, extraction.features.random_init_seed
    weights_id = extraction.features.weights_id()  # a missing weights file fails here
    if weights == "imagenet":
        # Fetches the weights into the Keras cache before any worker needs them,
        # so that offline the run stops here with one line, not in a Beam worker.
        backbone.build_backbone(weights, 32, seed)
    warnings = check_span_features(settings, span, weights_id)
    for warning in warnings:
        logger.warning("%s", warning)
    in_span = f" (span {span})" if data_root != settings.pipeline.data_root else ""
    logger.info("Dataset %s%s: %d clips %s", data_root, in_span, len(clips), manifest.count_per_split(clips))
    if weights == "none":
        logger.warning("Backbone weights: NONE (random init). Features are not pretrained; accuracy will not mean much.")
    return warnings


def check_span_features(settings: RunSettings, span: int, weights_id: str) -> list[str]:
    """With --train-spans N: OptionError unless the other spans Transform and the Trainer will read are spans of this
    run's data root holding features made as this run's span will be. Transform would otherwise fail on the first
    Example of another length, with a traceback from inside Beam, or train on another data root's clips. ('auto'
    settings resolve per device: the Trainer checks those as they were resolved.) Returns a warning when fewer spans
    than asked are extracted.
    """
    train_spans = settings.pipeline.spans.train_spans
    if train_spans <= 1:
        return []
    newest = _newest_examples_by_span(settings) if os.path.exists(settings.metadata_path) else {}
    chosen = sorted({*newest, span}, reverse=True)[:train_spans]
    features = settings.pipeline.extraction.features
    extraction = {**features.compared(), "frame_pooling": features.resolved_frame_pooling, "weights_id": weights_id}
    for other_span in chosen:
        if other_span == span:  # extracted by this run, with its settings
            continue
        report = _extraction_report(newest[other_span].uri)
        if report is None:
            continue
        _check_span_source(train_spans, other_span, report.get("data_root"), settings.pipeline.data_root)
        mismatch = span_feature_mismatch(other_span, report, span, extraction)
        if mismatch:
            raise OptionError(
                f"--train-spans {train_spans}: the spans to train on would hold features made differently: {mismatch} "
                f"({SPAN_MISMATCH_HINT})"
            )
    if len(chosen) < train_spans:
        return [
            f"--train-spans {train_spans}: only spans {', '.join(map(str, sorted(chosen)))} are extracted, so the "
            f"Trainer reads those {len(chosen)}"
        ]
    return []


def _newest_examples_by_span(settings: RunSettings) -> dict[int, Any]:
    """Span -> the newest live Examples this pipeline's VideoExampleGen wrote of it, as the rolling range picks them."""
    from ml_metadata.proto import metadata_store_pb2

    extracted_by_this_pipeline = os.path.join(settings.pipeline_root, "VideoExampleGen", "")
    newest: dict[int, Any] = {}
    for artifact in run_files.read_metadata_store(settings.metadata_path).get_artifacts_by_type("Examples"):
        if artifact.state == metadata_store_pb2.Artifact.LIVE and artifact.uri.startswith(extracted_by_this_pipeline):
            other_span = artifact.properties["span"].int_value
            if other_span not in newest or artifact.id > newest[other_span].id:
                newest[other_span] = artifact
    return newest


def _extraction_report(examples_uri: str) -> dict[str, Any] | None:
    from frame_path.records import EXTRACTION_REPORT_FILE

    report_path = os.path.join(examples_uri, EXTRACTION_REPORT_FILE)
    if not os.path.exists(report_path):
        return None
    with open(report_path) as report_file:
        return json.load(report_file)


def _check_span_source(train_spans: int, span: int, extracted_from: str | None, data_root: str) -> None:
    """OptionError unless `span` was extracted from that span of `data_root` (a span is its data root's own)."""
    if extracted_from is None:  # an extraction report older than the record
        return
    try:
        expected = spans.resolve_span(data_root, span)[1]
    except manifest.DatasetError as error:
        problem = str(error)
    else:
        if extracted_from == expected:
            return
        problem = f"not from {expected}"
    raise OptionError(
        f"--train-spans {train_spans}: span {span} was extracted from {extracted_from}, {problem}; train on fewer spans, "
        "or extract that span from this data root"
    )


def build_pipeline(settings: RunSettings, last_component: str | None = None):
    """The TFX pipeline of `settings`, with its metadata store; the Pusher only when the pipeline goes that far."""
    from tfx.orchestration import metadata

    from pipeline.pipeline import create_pipeline

    os.makedirs(settings.output_dir, exist_ok=True)
    return create_pipeline(
        dataclasses.replace(settings.pipeline, extraction=settings.extraction),
        pipeline_name=settings.pipeline_name,
        pipeline_root=settings.pipeline_root,
        serving_model_dir=settings.serving_model_dir,
        last_component=last_component,
        enable_cache=settings.enable_cache,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(settings.metadata_path),
        beam_pipeline_args=list(settings.component_beam_args),
    )


def run(settings: RunSettings, last_component: str | None = None) -> dict[str, Any]:
    """Checks the inputs, runs the pipeline (up to `last_component`), writes its summary and report; returns the summary."""
    warnings = check_inputs(settings)
    pipeline = build_pipeline(settings, last_component)
    from pipeline import reporting  # ML Metadata and TensorFlow start only after the checks: their noise would hide a one-line error

    reporting.mark_in_progress(settings.output_dir)
    started = time.time()
    if settings.orchestrator == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

        from pipeline import beam_engine

        with beam_engine.local_default_runner():  # its orchestrating Beam pipeline, too, never on Prism
            BeamDagRunner().run(pipeline)
    else:
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # not tfx.v1: see pipeline/pipeline.py

        # "flink" too: TFX orchestrates locally and each Beam component submits its own pipeline to Flink.

        LocalDagRunner().run(pipeline)
    summary = reporting.summarize_run(settings.metadata_path, settings.pipeline_name, since_ms=int(started * 1000))
    summary["seconds"]["total"] = round(time.time() - started, 2)
    summary["run_warnings"] = warnings
    reporting.publish(summary, settings.output_dir)
    return summary


def print_summary(summary: dict[str, Any], output_dir: str) -> None:
    """The run's summary on the console, as every front end shows it."""
    from pipeline import reporting

    print(reporting.console_summary(summary, reporting.summary_path(output_dir)))
