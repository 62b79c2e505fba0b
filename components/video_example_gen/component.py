"""VideoExampleGen: a folder of labelled videos -> DenseNet121 frame-feature Examples."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

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

# TFX's driver fingerprints a data root for the cache through the patterns of its input config (the "splits" of
# example_gen_pb2.Input, which this executor never splits by: clips get their split from the manifest). Each pattern
# is one depth of files under the data root, named for what it covers: the listing files (CSVs, split lists) at '*',
# the clips of either layout at '*/*' (train/x.avi or Class/x.avi), anything a folder deeper at '*/*/*'. TFX's own
# FileBasedInputProcessor reads them for a remote data root (gs://) and on Kubeflow, whose driver is TFX's;
# VideoDriver fingerprints a local one by its manifest instead (input_fingerprint).
_FINGERPRINT_PATTERNS = {"listing_files": "*", "clips": "*/*", "files_a_folder_deeper": "*/*/*"}
# Under a span every pattern must match a file (TFX resolves the span by the files each pattern matches): both
# layouts have clips at '*/*'.
_SPAN_FINGERPRINT_PATTERNS = {"listing_files": "*", "clips": "*/*"}


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


class _ManifestInputProcessor(input_processor.InputProcessor):
    """The span of video_datasets/spans.py (the latest, or the one of range_config), fingerprinted by its manifest.

    TFX's InputProcessor interface, the driver's hook for span, version and fingerprint; nothing of
    FileBasedInputProcessor, whose span resolution matches files by pattern (a span folder of this project is a
    whole dataset, found by video_datasets/spans.py) and whose fingerprint covers every file the patterns match.
    """

    def __init__(
        self, input_base_uri: str, splits: Iterable[example_gen_pb2.Input.Split], range_config: range_config_pb2.RangeConfig | None = None
    ):
        splits = list(splits)
        super().__init__(splits, range_config)  # TFX's checks of the range config (one span)
        self._input_base = input_base_uri
        self._span_pattern = spans.span_folder_of(splits[0].pattern)  # every pattern starts with it
        static = range_config.static_range if range_config and range_config.HasField("static_range") else None
        self._requested_span = static.start_span_number if static else spans.LATEST
        self._span_folder = ""
        self._manifest_fingerprint: str | None = None

    def resolve_span_and_version(self) -> tuple[int, int | None]:
        if not self._span_pattern:
            self._manifest_fingerprint = input_fingerprint(self._input_base)
            return 0, None
        span, folder = spans.resolve_span(os.path.join(self._input_base, self._span_pattern), self._requested_span)
        self._span_folder = os.path.relpath(folder, self._input_base)
        self._manifest_fingerprint = input_fingerprint(folder)
        return span, None

    def get_latest_span(self) -> int:
        return spans.resolve_span(os.path.join(self._input_base, self._span_pattern))[0] if self._span_pattern else 0

    def get_input_fingerprint(self, span: int, version: int | None) -> str | None:
        return self._manifest_fingerprint

    def get_pattern_for_span_version(self, pattern: str, span: int, version: int | None) -> str:
        # The folder's own spelling of the number (span-01 stays span-01): the executor reads the folder from it.
        span_pattern = spans.span_folder_of(pattern)
        return pattern if not span_pattern else self._span_folder + pattern[len(span_pattern) :]


class VideoDriver(driver.FileBasedDriver):
    """FileBasedDriver whose input fingerprint covers the manifest's files only (see input_fingerprint).

    A remote data root (gs://) keeps TFX's FileBasedInputProcessor: the manifest is read from local folders only.
    """

    def get_input_processor(
        self,
        splits: Iterable[example_gen_pb2.Input.Split],
        range_config: range_config_pb2.RangeConfig | None = None,
        input_base_uri: str | None = None,
    ) -> input_processor.InputProcessor:
        if input_base_uri and "://" in input_base_uri:
            return super().get_input_processor(splits, range_config, input_base_uri)
        return _ManifestInputProcessor(input_base_uri, splits, range_config)


class VideoExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    # One execution parameter per setting of ExtractionConfig (FeatureConfig's among them), typed as the setting.
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

    # A FileBasedExampleGen with typed video parameters: Kubeflow's compiler (TFX 1.21's
    # kubeflow/v2/step_builder.py) runs the ExampleGen driver, which fingerprints the input for the cache, only
    # for an isinstance of FileBasedExampleGen. Its __init__ is the one step skipped: it builds a
    # FileBasedExampleGenSpec of its own, which has no place for the video parameters of VideoExampleGenSpec.
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
        # Past FileBasedExampleGen.__init__ (see above) to the base class, which takes this spec.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
