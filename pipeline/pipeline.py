"""The TFX pipeline, as one function (like TFX's penguin example)."""
from __future__ import annotations

from typing import Optional

from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.video_example_gen.component import VideoExampleGen
from pipeline import configs


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    max_seq_length: int = configs.MAX_SEQ_LENGTH,
    image_size: int = configs.IMAGE_SIZE,
    weights: str = configs.WEIGHTS,
    sampling: str = configs.SAMPLING,
    frame_batch_size: int = configs.FRAME_BATCH_SIZE,
    eval_group_fraction: float = configs.EVAL_GROUP_FRACTION,
    extract_only: bool = False,
    enable_cache: bool = True,
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
    beam_pipeline_args: Optional[list[str]] = None,
) -> tfx.dsl.Pipeline:
    """Videos -> frame-feature Examples (-> the rest of the pipeline unless extract_only)."""
    example_gen = VideoExampleGen(
        data_root=data_root,
        max_seq_length=max_seq_length,
        image_size=image_size,
        weights=weights,
        sampling=sampling,
        frame_batch_size=frame_batch_size,
        eval_group_fraction=eval_group_fraction,
        random_init_seed=configs.RANDOM_INIT_SEED,
    )
    components = [example_gen]
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
