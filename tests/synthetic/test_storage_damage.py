"""A stored synthetic clip with a damaged frame image fails in one line instead of yielding a None frame."""

import pytest

from vmat.errors import NotMediaError
from vmat.synthetic import SceneConfig, SyntheticScene
from vmat.synthetic.storage import SyntheticClip, write_clip


def test_a_damaged_frame_image_is_a_clear_error(tmp_path):
    scene = SyntheticScene(SceneConfig(width=64, height=64, num_frames=2, seed=3))
    folder = tmp_path / "clip"
    write_clip(scene, folder)
    second = sorted((folder / "composite").iterdir())[1]
    second.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    stored = SyntheticClip(folder)
    stored.read_frame(0)
    with pytest.raises(NotMediaError, match="missing or damaged"):
        stored.read_frame(1)
