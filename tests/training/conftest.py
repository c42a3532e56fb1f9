"""A tiny training cache shared by the training tests: one clip per level, 96x64, a few frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmat.training import TrainingCache, build_cache

TINY = dict(clips=3, frames_per_clip=5, width=96, height=64, seed=0)


@pytest.fixture(scope="session")
def tiny_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cache(tmp_path_factory.mktemp("cache") / "tiny", **TINY)


@pytest.fixture(scope="session")
def tiny_cache(tiny_cache_dir: Path) -> TrainingCache:
    return TrainingCache(tiny_cache_dir)
