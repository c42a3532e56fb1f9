"""Comparing two batch outputs exactly: every layers file array and every decoded output frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vmat.io import open_video
from vmat.layers.store import unpack_frame


def output_files(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def assert_same_clip_outputs(mine: Path, theirs: Path) -> None:
    assert output_files(mine) == output_files(theirs)
    frames = sorted(mine.rglob("*.vlf"))
    assert frames, f"no layers file frames under {mine}"
    for layers in frames:
        a, b = unpack_frame(layers.read_bytes()), unpack_frame((theirs / layers.relative_to(mine)).read_bytes())
        assert sorted(a) == sorted(b)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{layers} {name}")
    for video in sorted(mine.rglob("*.vmat.mp4")):
        with open_video(video) as a, open_video(theirs / video.relative_to(mine)) as b:
            pairs = list(zip(a, b, strict=True))
        assert pairs
        for x, y in pairs:
            assert x.pts == y.pts
            np.testing.assert_array_equal(x.image, y.image)
