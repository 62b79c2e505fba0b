"""VideoExampleGen: a folder of labelled videos -> DenseNet121 frame-feature Examples."""
from __future__ import annotations

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx import types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.video_example_gen import executor
from frame_path.config import ExtractionConfig, field_types

# The executor assigns clips to splits from the dataset manifest in one pass.
# The split patterns only feed the driver's input fingerprint, which is the
# cache key: together they cover the top-level CSVs / split lists ('*') and
# every clip of either layout ('*/*': train/x.avi or Class/x.avi).
_FINGERPRINT_PATTERNS = {"train": "*", "eval": "*/*", "test": "*/*/*"}


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
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, data_root: str, config: ExtractionConfig = ExtractionConfig()):
        input_config = example_gen_pb2.Input(
            splits=[
                example_gen_pb2.Input.Split(name=name, pattern=pattern)
                for name, pattern in _FINGERPRINT_PATTERNS.items()
            ]
        )
        spec = VideoExampleGenSpec(
            input_base=data_root,
            input_config=input_config,
            output_config=example_gen_pb2.Output(),
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            examples=types.Channel(type=standard_artifacts.Examples),
            **config.as_dict(),
        )
        # FileBasedExampleGen.__init__ builds its own spec; the base class takes ours.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
