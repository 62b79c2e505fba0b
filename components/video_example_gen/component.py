"""VideoExampleGen: a folder of labelled videos -> DenseNet121 frame-feature Examples."""

from __future__ import annotations

import hashlib
import os

from tfx import types
from tfx.components.example_gen import driver, input_processor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.video_example_gen import executor
from frame_path import feature_store
from frame_path.config import ExtractionConfig
from typed_config import field_types
from video_datasets import manifest, spans

# The executor assigns clips to splits from the dataset manifest in one pass.
# The split patterns only feed the input fingerprint of TFX's own driver,
# which Kubeflow runs (VideoDriver replaces it elsewhere): together they cover
# the top-level CSVs / split lists ('*') and every clip of either layout
# ('*/*': train/x.avi or Class/x.avi).
_FINGERPRINT_PATTERNS = {"train": "*", "eval": "*/*", "test": "*/*/*"}
# Under a span, TFX's driver needs every pattern to match a file: both layouts have clips at '*/*'.
_SPAN_FINGERPRINT_PATTERNS = {"train": "*", "eval": "*/*", "test": "*/*"}


def input_fingerprint(data_root: str) -> str:
    """The cache key of a data root: every listed clip and listing file, by path, size, modification and change time.

    Only what the manifest lists counts, so an unlisted file (an editor's lock
    file, a dangling link) neither changes the key nor breaks it. The change
    time (ctime, which no copy tool can set) makes a clip replaced by one of the
    same size and modification time (`cp -p`, `rsync -t`) a new input.
    """
    data_root = os.path.abspath(data_root)
    paths = manifest.listing_files(data_root) + [clip.path for clip in manifest.read_manifest(data_root)]
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        try:
            state = feature_store.file_state(path)
        except OSError:
            state = "dangling link" if os.path.islink(path) else "missing"
        digest.update(f"{os.path.relpath(path, data_root)}\t{state}\n".encode())
    return f"files:{len(set(paths))},sha256:{digest.hexdigest()}"


class _ManifestInputProcessor(input_processor.FileBasedInputProcessor):
    """The span of video_datasets/spans.py (the latest, or the one of range_config), fingerprinted by its manifest."""

    def resolve_span_and_version(self) -> tuple[int, int | None]:
        span_pattern = spans.span_folder_of(self._splits[0].pattern)
        if not span_pattern:
            self._fingerprint = input_fingerprint(self._input_base_uri)
            return 0, None
        static = self._range_config.static_range if self._range_config and self._range_config.HasField("static_range") else None
        span, folder = spans.resolve_span(
            os.path.join(self._input_base_uri, span_pattern), static.start_span_number if static else spans.LATEST
        )
        self._span_folder = os.path.relpath(folder, self._input_base_uri)
        self._fingerprint = input_fingerprint(folder)
        return span, None

    def get_pattern_for_span_version(self, pattern: str, span: int, version: int | None) -> str:
        # The folder's own spelling of the number (span-01 stays span-01): the executor reads the folder from it.
        span_pattern = spans.span_folder_of(pattern)
        return pattern if not span_pattern else self._span_folder + pattern[len(span_pattern) :]


class VideoDriver(driver.FileBasedDriver):
    """FileBasedDriver whose input fingerprint covers the manifest's files only (see input_fingerprint)."""

    def get_input_processor(self, splits, range_config=None, input_base_uri=None) -> input_processor.InputProcessor:
        if input_base_uri and "://" in input_base_uri:
            return super().get_input_processor(splits, range_config, input_base_uri)
        return _ManifestInputProcessor(input_base_uri, splits, range_config)


class VideoExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    # One execution parameter per ExtractionConfig field, typed as the field.
    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        **{name: ExecutionParameter(type=field_type) for name, field_type in field_types(ExtractionConfig).items()},
    }
    OUTPUTS = {standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class VideoExampleGen(FileBasedExampleGen):
    """Decodes each clip, encodes sampled frames with DenseNet121, writes train/eval/test Examples.

    Each tf.train.Example holds the keys of frame_path/records.py:
    `frame_features` (max_seq_length * 1024 floats, zero-padded),
    `frame_mask`, `label`, `video_id` and `num_frames`. Clips that cannot be
    decoded are skipped and listed in `extraction_report.json` inside the
    artifact.
    """

    # A FileBasedExampleGen (with its driver, which fingerprints the input
    # files for the cache, also on Kubeflow), with typed video parameters.
    SPEC_CLASS = VideoExampleGenSpec
    DRIVER_CLASS = VideoDriver
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, data_root: str, config: ExtractionConfig = ExtractionConfig(), span: int = spans.LATEST):
        # With spans, every pattern starts with the span's ("span-{SPAN}/*"), as FileBasedExampleGen's.
        input_base, span_pattern = spans.span_layout(data_root)
        input_config = example_gen_pb2.Input(
            splits=[
                example_gen_pb2.Input.Split(name=name, pattern=f"{span_pattern}/{pattern}" if span_pattern else pattern)
                for name, pattern in (_SPAN_FINGERPRINT_PATTERNS if span_pattern else _FINGERPRINT_PATTERNS).items()
            ]
        )
        range_config = None
        if span != spans.LATEST:
            if span_pattern is None:
                spans.resolve_span(data_root, span)  # the one-line error of a span asked of a data root without spans
            range_config = range_config_pb2.RangeConfig(
                static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
            )
        spec = VideoExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            range_config=range_config,
            output_config=example_gen_pb2.Output(),
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            examples=types.Channel(type=standard_artifacts.Examples),
            **config.as_dict(),
        )
        # FileBasedExampleGen.__init__ builds its own spec; the base class takes ours.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
