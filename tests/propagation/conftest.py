"""The shared judo data for the propagation tests, when it is there."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


@pytest.fixture
def judo() -> Path:
    folder = SHARED / "data" / "judo"
    if not folder.is_dir():
        pytest.skip("../shared/data/judo is not available")
    return folder
