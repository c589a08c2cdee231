"""Fixtures shared by the API tests."""

from __future__ import annotations

import numpy as np
import pytest

from bench.liveness import read_video
from tests.conftest import SHARED_DATA


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    """The real face clip (shared/data/face_video): Lin-Manuel Miranda moving his head."""
    video = SHARED_DATA / "face_video" / "short_hamilton_clip.mp4"
    if not video.is_file():
        pytest.skip(f"face video not found at {video} (see shared/data/README.md)")
    return read_video(video)
