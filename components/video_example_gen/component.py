"""VideoExampleGen: a folder of labelled videos -> DenseNet121 frame-feature Examples."""
from __future__ import annotations

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx import types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.video_example_gen import executor
from pipeline import configs

# The executor assigns clips to splits from the dataset manifest in one pass.
# The split patterns only feed the driver's input fingerprint, which is the
# cache key: together they cover the top-level CSVs / split lists ('*') and
# every clip of either layout ('*/*': train/x.avi or Class/x.avi).
_FINGERPRINT_PATTERNS = {"train": "*", "eval": "*/*", "test": "*/*/*"}


class VideoExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        "max_seq_length": ExecutionParameter(type=int),
        "image_size": ExecutionParameter(type=int),
        "weights": ExecutionParameter(type=str),
        "sampling": ExecutionParameter(type=str),
        "frame_batch_size": ExecutionParameter(type=int),
        "precision": ExecutionParameter(type=str),
        "eval_group_fraction": ExecutionParameter(type=float),
        "random_init_seed": ExecutionParameter(type=int),
    }
    OUTPUTS = {standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class VideoExampleGen(FileBasedExampleGen):
    """Decodes each clip, encodes sampled frames with DenseNet121, writes train/eval/test Examples.

    Each tf.train.Example holds `frame_features` (max_seq_length * 1024 floats,
    zero-padded), `frame_mask`, `label`, `video_id` and `num_frames`. Clips that
    cannot be decoded are skipped and listed in `extraction_report.json` inside
    the artifact.
    """

    # A FileBasedExampleGen (with its driver, which fingerprints the input
    # files for the cache, also on Kubeflow), with typed video parameters.
    SPEC_CLASS = VideoExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        data_root: str,
        max_seq_length: int = configs.MAX_SEQ_LENGTH,
        image_size: int = configs.IMAGE_SIZE,
        weights: str = configs.WEIGHTS,
        sampling: str = configs.SAMPLING,
        frame_batch_size: int = configs.FRAME_BATCH_SIZE,
        precision: str = configs.PRECISION,
        eval_group_fraction: float = configs.EVAL_GROUP_FRACTION,
        random_init_seed: int = configs.RANDOM_INIT_SEED,
    ):
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
            max_seq_length=max_seq_length,
            image_size=image_size,
            weights=weights,
            sampling=sampling,
            frame_batch_size=frame_batch_size,
            precision=precision,
            eval_group_fraction=eval_group_fraction,
            random_init_seed=random_init_seed,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # FileBasedExampleGen.__init__ builds its own spec; the base class takes ours.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
