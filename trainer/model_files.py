"""The files the Trainer writes beside the model, and the model's record of itself; no TensorFlow here, so reports and
predict.py can read them cheaply."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

from frame_path.config import FeatureConfig

# In the serving model directory: labels, backbone weights and frame settings the model was trained with.
MODEL_INFO_FILE = os.path.join("assets.extra", "model_info.json")
# In the serving model directory: serving_default alone, without serving_frames' DenseNet121, for this project's
# own front ends (predict.py, infer), which encode the frames themselves: it loads in ~1 s, the whole model in 7 s.
# Its saved_model.pb is stored as EXAMPLES_MODEL_GRAPH (trainer/export.py says why).
EXAMPLES_MODEL_DIR = os.path.join("assets.extra", "serving_default")
EXAMPLES_MODEL_GRAPH = "serving_default_graph.pb"
# In the model run directory: loss and accuracy per epoch, train and eval, and the epoch kept.
HISTORY_FILE = "history.json"
# Where model_info.json kept the feature settings before they were a config of their own, with the machine's beside them.
_OLDER_FEATURES_KEY = "extraction"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a trained model needs to be applied to new videos: its labels and how its features were made.

    `features` is the FeatureConfig of the training features ('auto' settings as
    resolved), so a consumer builds the same frame path from it and never picks
    fields by name; the training machine's batch size, decode workers and store
    are no part of it. Models written before it record the whole extraction
    config under "extraction": read the same, the machine's settings left out.
    """

    labels: list[str]
    features: FeatureConfig
    backbone_weights_id: str
    hparams: dict[str, Any]
    # min, quartiles, max of the training clips' durations (VideoExampleGen's report); None in older models
    train_clip_seconds: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "features": self.features.as_dict()}

    @classmethod
    def from_dict(cls, values: Any) -> ModelInfo:
        """ValueError saying what is missing or wrong (a damaged or older model_info.json)."""
        if not isinstance(values, Mapping):
            raise ValueError("is not a JSON object")
        if "features" not in values and _OLDER_FEATURES_KEY in values:
            values = {**values, "features": values[_OLDER_FEATURES_KEY]}
        missing = [field.name for field in dataclasses.fields(cls) if field.name not in values and field.default is dataclasses.MISSING]
        if missing:
            raise ValueError(f"lacks {', '.join(missing)}")
        labels, features = values["labels"], values["features"]
        if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
            raise ValueError("has no list of labels")
        if not isinstance(features, Mapping):
            raise ValueError("has no feature settings")
        try:
            config = FeatureConfig.from_mapping(features)
        except KeyError as error:
            raise ValueError(f"lacks the feature setting {error.args[0]}") from None
        except ValueError as error:  # typed_config.InvalidOption
            raise ValueError(f"has an unusable feature setting: {error}") from None
        return cls(labels, config, str(values["backbone_weights_id"]), dict(values["hparams"]), values.get("train_clip_seconds"))

    def feature_record(self) -> str:
        """What the SavedModel itself records of how its inputs are made (JSON): the feature settings, the backbone
        weights and the labels' order, which a consumer compares with model_info.json (`record_mismatch`)."""
        return json.dumps(self._recorded())

    def record_mismatch(self, feature_record: str) -> str | None:
        """ "says frame_pooling 'avg', but the model itself records 'max'" for the first setting of this model_info
        that differs from the model's own `feature_record`; None when all agree."""
        recorded = json.loads(feature_record)
        for name, value in self._recorded().items():
            if name in recorded and recorded[name] != value:
                return f"says {name} {value!r}, but the model itself records {recorded[name]!r}"
        return None

    def _recorded(self) -> dict[str, Any]:
        return {**self.features.compared(), "backbone_weights_id": self.backbone_weights_id, "labels": self.labels}
