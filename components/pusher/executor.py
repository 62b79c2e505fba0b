"""TFX's Pusher, except that it pushes nothing when the destination's newest version already is this very model.

A rerun whose Trainer comes from the cache hands the Evaluator the model it blessed before, now as its own
baseline; TFX's Pusher would then copy the identical files again as a new version, and a model server would
reload the same weights under a new number. Here the model's files are compared with the newest version's.
"""

from __future__ import annotations

import filecmp
import logging
import os
from typing import Any

from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

ALREADY_PUSHED_AS = "already_pushed_as"  # custom property of the PushedModel artifact: the version that holds the model

logger = logging.getLogger(__name__)


class Executor(tfx_pusher.Executor):
    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict[str, Any]) -> None:
        if self.CheckBlessing(input_dict):
            existing = _newest_version_holding(self.GetModelPath(input_dict), _base_directory(exec_properties))
            if existing:
                model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
                self._MarkNotPushed(model_push)
                model_push.set_string_custom_property(ALREADY_PUSHED_AS, existing)
                logger.info("Pusher: the blessed model is already %s; nothing new pushed", existing)
                return
        super().Do(input_dict, output_dict, exec_properties)


def _base_directory(exec_properties: dict[str, Any]) -> str | None:
    push_destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], push_destination)
    return push_destination.filesystem.base_directory or None


def _newest_version_holding(model_path: str, base_directory: str | None) -> str | None:
    """The destination's newest version folder when it holds exactly the files of `model_path`, else None."""
    if not base_directory or not fileio.isdir(base_directory):
        return None
    versions = sorted(
        (name for name in fileio.listdir(base_directory) if name.rstrip("/").isdigit()), key=lambda name: int(name.rstrip("/"))
    )
    if not versions:
        return None
    newest = os.path.join(base_directory, versions[-1].rstrip("/"))
    return newest if _same_files(model_path, newest) else None


def _same_files(left: str, right: str) -> bool:
    """Whether two local folders hold the same files with the same bytes (a remote one is never taken for the same)."""
    if "://" in left or "://" in right:
        return False
    comparison = filecmp.dircmp(left, right)
    if comparison.left_only or comparison.right_only or comparison.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(left, right, comparison.common_files, shallow=False)
    return (
        not mismatch
        and not errors
        and all(_same_files(os.path.join(left, name), os.path.join(right, name)) for name in comparison.common_dirs)
    )
