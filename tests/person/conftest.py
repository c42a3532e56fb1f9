"""The original TFLite person models, for parity tests.

They come from the ``mediapipe==0.10.21`` wheel (Apache-2.0), fetched once from the package index with
``pip download`` (only the wheel, never installed) into a cache, or taken from ``VMAT_MEDIAPIPE_WHEEL``.
Tests that need them skip when the wheel cannot be had (no index reachable).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from vmat.person.convert import ConvertError, fetch_wheel

CACHE = Path(os.environ.get("VMAT_TEST_CACHE", Path.home() / ".cache" / "vmat-tests"))


def _wheel() -> Path | None:
    given = os.environ.get("VMAT_MEDIAPIPE_WHEEL")
    if given:
        return Path(given)
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        return fetch_wheel(CACHE)
    except ConvertError:
        return None


@pytest.fixture(scope="session")
def mediapipe_wheel() -> Path:
    wheel = _wheel()
    if wheel is None:
        pytest.skip("the mediapipe 0.10.21 wheel could not be fetched")
    return wheel


@pytest.fixture(scope="session")
def mediapipe_models(mediapipe_wheel: Path) -> Path:
    """A folder holding ``pose_detection.tflite``, ``pose_landmark_full.tflite`` and the selfie models."""
    out = CACHE / "mediapipe-0.10.21-models"
    if not (out / "selfie_segmentation_landscape.tflite").exists():
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(mediapipe_wheel) as wheel:
            for name in wheel.namelist():
                if name.startswith("mediapipe/modules/") and name.endswith(".tflite"):
                    (out / Path(name).name).write_bytes(wheel.read(name))
    return out


@pytest.fixture(scope="session")
def litert():
    """The LiteRT interpreter class, or skip."""
    interpreter = pytest.importorskip("ai_edge_litert.interpreter")
    return interpreter
