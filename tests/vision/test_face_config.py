"""FaceRecognitionConfig: shipped operating point, refused settings, described fields."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from vision.face_config import FaceRecognitionConfig, LivenessConfig


def test_defaults_are_the_measured_operating_point() -> None:
    config = FaceRecognitionConfig()
    assert config.threshold < 0.55 and config.threshold != 0.6
    assert config.margin > 0
    assert config.frames_required <= config.frames_window
    assert config.store_photos is False
    assert config.liveness.mode == "parallax" and config.liveness.blink is False


@pytest.mark.parametrize(
    "overrides",
    [
        {"store_photos": True},  # never kept: a site must not believe it has them
        {"threshold": 0.6},  # the library default: most strangers match someone
        {"frames_required": 6, "frames_window": 5},
        {"unknown_key": 1},
        {"liveness": {"mode": "infrared"}},
        {"liveness": {"unknown_key": 1}},
    ],
)
def test_refused_settings(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FaceRecognitionConfig(**overrides)


@pytest.mark.parametrize("model", [FaceRecognitionConfig, LivenessConfig])
def test_every_field_is_described(model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        assert field.description, f"{model.__name__}.{name} has no description"
