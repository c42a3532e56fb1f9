"""A tiny archive of generated clips for batch tests: nested folders, audio and none, one corrupt file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from vmat.io import VideoWriter, write_test_pattern_clip
from vmat.propagation.idmask import mask_path, write_id_mask
from vmat.synthetic import SceneConfig, SyntheticScene

WIDTH, HEIGHT, FRAMES = 96, 64, 6


def scene_clip(path: Path, seed: int) -> Path:
    """A synthetic scene without audio, with its true id masks in ``<stem>.masks/``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    masks = path.with_suffix(".masks")
    masks.mkdir()
    scene = SyntheticScene(SceneConfig(level="easy", width=WIDTH, height=HEIGHT, num_frames=FRAMES, seed=seed))
    with VideoWriter(path, fps=12) as writer:
        for index, frame in enumerate(scene.frames()):
            writer.write(frame.image)
            write_id_mask(mask_path(masks, index), frame.id_map)
    return path


def pattern_clip_with_audio(path: Path, frames: int = FRAMES) -> Path:
    """The I/O test pattern with a stereo tone, and two fixed boxes as its people."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_test_pattern_clip(path, width=WIDTH, height=HEIGHT, num_frames=frames, fps=12, audio=True)
    masks = path.with_suffix(".masks")
    masks.mkdir()
    ids = np.zeros((HEIGHT, WIDTH), np.uint8)
    ids[10:50, 8:30] = 1
    ids[20:60, 50:80] = 2
    for index in range(frames):
        write_id_mask(mask_path(masks, index), ids)
    return path


# The archive's clips that decode and should come out done (the rest is the corrupt one).
GOOD = ["day1/deep/run.mp4", "day1/walk.mp4", "talk.mp4"]


def make_archive(root: Path) -> dict[str, Path]:
    """``root`` filled with clips; returns them by their batch key."""
    clips = {
        "talk.mp4": pattern_clip_with_audio(root / "talk.mp4"),
        "day1/walk.mp4": scene_clip(root / "day1" / "walk.mp4", seed=3),
        "day1/deep/run.mp4": scene_clip(root / "day1" / "deep" / "run.mp4", seed=4),
    }
    # A download cut short: the first 40% of a real clip.
    whole = clips["talk.mp4"].read_bytes()
    broken = root / "day2" / "broken.mp4"
    broken.parent.mkdir()
    broken.write_bytes(whole[: len(whole) * 2 // 5])
    shutil.copytree(clips["talk.mp4"].with_suffix(".masks"), broken.with_suffix(".masks"))
    clips["day2/broken.mp4"] = broken
    return clips
