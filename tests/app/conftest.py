"""Fixtures of the app tests: a generated clip with known people and background, and an app on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the app needs starlette (pip install 'vmat[app]')")
pytest.importorskip("uvicorn", reason="the app needs uvicorn (pip install 'vmat[app]')")


@dataclass(frozen=True)
class GeneratedClip:
    """A synthetic clip as H.264 with its truth: every frame's picture, people's ids and background."""

    path: Path
    images: np.ndarray  # (T, H, W, 3) uint8, before compression
    decoded: np.ndarray  # (T, H, W, 3) uint8, the frames as vmat decodes the file
    ids: np.ndarray  # (T, H, W) instance ids, 0 background
    backgrounds: np.ndarray  # (T, H, W, 3) uint8
    person_ids: list[int]

    def box(self, instance: int, margin: int = 6) -> list[int]:
        """A box around ``instance`` on frame 0, ``margin`` pixels wider than the person on each side."""
        ys, xs = np.nonzero(self.ids[0] == instance)
        return [int(xs.min()) - margin, int(ys.min()) - margin, int(xs.max()) + margin + 1, int(ys.max()) + margin + 1]


@pytest.fixture(scope="session")
def generated_clip(tmp_path_factory: pytest.TempPathFactory) -> GeneratedClip:
    """Two people walking over a textured street, 320x192, 12 frames at 12 fps, no audio."""
    from vmat.io import VideoWriter, open_video
    from vmat.synthetic.scene import SceneConfig, SyntheticScene

    scene = SyntheticScene(
        SceneConfig(level="easy", width=320, height=192, num_frames=12, fps=12.0, seed=3, num_people=2, hair=False)
    )
    path = tmp_path_factory.mktemp("clip") / "walk.mp4"
    images, ids, backgrounds = [], [], []
    with VideoWriter(path, fps=12, crf=12) as writer:
        for frame in scene.frames():
            writer.write(frame.image)
            images.append(frame.image)
            ids.append(frame.id_map)
            backgrounds.append(frame.background)
    with open_video(path) as reader:
        decoded = np.stack([frame.image for frame in reader])
    return GeneratedClip(path, np.stack(images), decoded, np.stack(ids), np.stack(backgrounds), list(scene.instance_ids))
