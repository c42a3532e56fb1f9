from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vmat.depth import GroundPlaneDepth, GroundPlaneConfig, DepthStabilizer
from vmat.depth.video import depth_preview, depth_to_uint16, stream_depth, write_clip_depth
from vmat.errors import ConfigError


def _masks(num: int, height: int, width: int) -> list[np.ndarray]:
    """A person whose feet go one row lower each frame."""
    masks = []
    for t in range(num):
        mask = np.zeros((height, width), np.uint8)
        mask[2 : 6 + t, 3:6] = 7
        masks.append(mask)
    return masks


def test_stream_matches_the_estimator_and_crosses_batches():
    images = [np.full((11, 9, 3), 40 * t, np.uint8) for t in range(5)]
    masks = _masks(5, 11, 9)
    estimator = GroundPlaneDepth(GroundPlaneConfig(horizon=0.2))
    out = list(stream_depth(iter(images), estimator, masks=iter(masks), batch_size=2))
    assert len(out) == 5 and all(d.shape == (11, 9) and d.dtype == np.float32 for d in out)
    for t in range(5):
        expected = estimator(torch.zeros(1, 3, 11, 9), torch.from_numpy(masks[t][None].astype(np.int64)))[0, 0]
        assert np.array_equal(out[t], expected.numpy())
    person = [d[2, 4] for d in out]
    assert all(a > b for a, b in zip(person, person[1:]))  # feet lower every frame -> nearer


def test_stream_with_stabiliser_keeps_static_background_fixed():
    images = [np.zeros((11, 9, 3), np.uint8)] * 4
    out = list(stream_depth(images, GroundPlaneDepth(), masks=_masks(4, 11, 9), batch_size=3, stabilizer=DepthStabilizer()))
    background = np.ones((11, 9), bool)
    background[:, 3:6] = False
    assert all(np.allclose(d[background], out[0][background], atol=1e-6) for d in out)


def test_stream_errors():
    images = [np.zeros((4, 4, 3), np.uint8)] * 3
    with pytest.raises(ConfigError, match="fewer instance masks"):
        list(stream_depth(images, GroundPlaneDepth(), masks=[np.zeros((4, 4), np.uint8)]))
    with pytest.raises(ConfigError, match="masks are 5x4 but the frames are 4x4"):
        list(stream_depth(images, GroundPlaneDepth(), masks=[np.zeros((4, 5), np.uint8)] * 3))
    with pytest.raises(ConfigError, match="batch size"):
        list(stream_depth(images, GroundPlaneDepth(), batch_size=0))


def test_uint16_and_preview():
    depth = np.array([[0.0, 0.5, 1.0, 1.2]], np.float32)
    assert depth_to_uint16(depth).tolist() == [[0, 32768, 65535, 65535]]
    preview = depth_preview(depth)
    assert preview.shape == (1, 4, 3) and preview.dtype == np.uint8
    # Turbo: near is red-dominated, far blue-dominated.
    assert preview[0, 0, 0] > preview[0, 0, 2] and preview[0, 2, 2] > preview[0, 2, 0]


def test_write_clip_depth_from_an_image_folder(tmp_path):
    pytest.importorskip("vmat.io")
    clip, mask_dir = tmp_path / "clip", tmp_path / "masks"
    clip.mkdir()
    mask_dir.mkdir()
    masks = _masks(3, 24, 32)
    for t in range(3):
        cv2.imwrite(str(clip / f"{t:04d}.png"), np.full((24, 32, 3), 90, np.uint8))
        cv2.imwrite(str(mask_dir / f"{t:04d}.png"), masks[t])
    estimator = GroundPlaneDepth()
    summary = write_clip_depth(
        clip, tmp_path / "depth", estimator, masks_dir=mask_dir, batch_size=2, preview=tmp_path / "preview.mp4"
    )
    assert (summary.frames, summary.width, summary.height) == (3, 32, 24)
    assert (tmp_path / "preview.mp4").stat().st_size > 0
    for t in range(3):
        saved = cv2.imread(str(tmp_path / "depth" / f"{t:06d}.png"), cv2.IMREAD_UNCHANGED)
        expected = estimator(torch.zeros(1, 3, 24, 32), torch.from_numpy(masks[t][None].astype(np.int64)))[0, 0]
        assert saved.dtype == np.uint16 and np.array_equal(saved, depth_to_uint16(expected.numpy()))
