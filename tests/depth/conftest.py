"""Fixtures for the depth tests; the Depth-Anything-V2 fixture lives in ../shared and is optional."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DAV2_FIXTURE = SHARED / "fixtures" / "depth_anything_v2_vits"


def fill_rule(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """Deterministic weights by the rule in the fixture's README (seeded by the CRC32 of each key)."""
    state = {}
    for key, shape in shapes.items():
        generator = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        z = torch.randn(shape, generator=generator, dtype=torch.float32)
        if len(shape) >= 2:
            state[key] = z / math.sqrt(z.numel() / shape[0])
        elif key.endswith("weight") or key.endswith("gamma"):
            state[key] = 1 + 0.1 * z
        else:
            state[key] = 0.1 * z.abs()
    return state


@pytest.fixture(scope="session")
def dav2_fixture() -> dict:
    """The checkpoint's key shapes, the filled state dict, and the reference input/output."""
    if not DAV2_FIXTURE.is_dir():
        pytest.skip(f"{DAV2_FIXTURE} is absent")
    shapes = json.loads((DAV2_FIXTURE / "state_dict_shapes.json").read_text())["state_dict"]
    return {
        "shapes": shapes,
        "state": fill_rule(shapes),
        "input": torch.from_numpy(np.load(DAV2_FIXTURE / "reference_input.npy")),
        "output": torch.from_numpy(np.load(DAV2_FIXTURE / "reference_output.npy")),
    }
