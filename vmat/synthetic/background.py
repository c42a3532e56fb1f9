"""Background plates: procedural streets and rooms with structure and texture, or the user's images/videos.

A plate is wider than the frame when the camera pans; :func:`crop` cuts the frame's view at a
sub-pixel offset. Procedural plates are made from a seed: a sky or wall gradient, blocks with window
grids, a ground plane with perspective tiles, and multi-scale value noise, so that matting methods
cannot rely on a flat colour behind people.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vmat.errors import ConfigError, InputNotFoundError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")


def value_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1], ``(H, W)`` float32: random values on a coarse grid, bicubically enlarged."""
    grid = rng.random((cells + 1, max(2, round(cells * width / height)) + 1)).astype(np.float32)
    return np.clip(cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def procedural_plate(rng: np.random.Generator, height: int, width: int, horizon: float) -> np.ndarray:
    """A street-like plate ``(H, W, 3)`` float32 in [0, 1] with its horizon at row ``horizon * H``."""
    horizon_row = int(horizon * height)
    ys = (np.arange(height, dtype=np.float32) / height)[:, None, None]
    top = rng.uniform(0.35, 0.9, 3).astype(np.float32)
    bottom = rng.uniform(0.5, 1.0, 3).astype(np.float32)
    plate = np.broadcast_to(top + (bottom - top) * ys, (height, width, 3)).copy()

    # Blocks (buildings, shelves) standing on the horizon, each with a grid of windows.
    x = 0
    while x < width:
        block_width = int(rng.uniform(0.12, 0.35) * height)
        block_top = int(horizon_row * rng.uniform(0.05, 0.7))
        colour = rng.uniform(0.15, 0.85, 3)
        cv2.rectangle(plate, (x, block_top), (x + block_width, horizon_row), colour.tolist(), -1)
        window = rng.uniform(0.0, 1.0, 3)
        step = max(4, int(block_width / rng.integers(3, 6)))
        for wx in range(x + step // 3, x + block_width - step // 3, step):
            for wy in range(block_top + step // 3, horizon_row - step // 2, step):
                cv2.rectangle(plate, (wx, wy), (wx + step // 2, wy + step // 2), window.tolist(), -1)
        x += block_width + int(rng.integers(0, max(2, height // 10)))

    # Ground: tiles in perspective (columns converge on a vanishing point, rows compress to the horizon).
    ground_rows = height - horizon_row
    if ground_rows > 0:
        gy = np.arange(1, ground_rows + 1, dtype=np.float32)[:, None]
        gx = np.arange(width, dtype=np.float32)[None, :] - width / 2
        depth = ground_rows / gy
        u = gx * depth / height * 6
        v = depth * 3
        checker = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
        tile_a = rng.uniform(0.2, 0.8, 3).astype(np.float32)
        tile_b = np.clip(tile_a + rng.uniform(-0.25, 0.25, 3), 0, 1).astype(np.float32)
        plate[horizon_row:] = tile_a + (tile_b - tile_a) * checker[..., None]

    # Texture at two scales, so there are no flat regions.
    texture = 0.6 * value_noise(rng, height, width, 6) + 0.4 * value_noise(rng, height, width, 40)
    plate *= (0.75 + 0.5 * texture)[..., None]
    return np.clip(plate, 0.0, 1.0)


@dataclass(frozen=True)
class GroundCamera:
    """A level pinhole camera ``camera_height`` metres above flat ground, which it meets at the bottom
    row ``bottom_depth`` metres away; the horizon is at row ``horizon * H``. People standing at depth
    ``z`` have their feet at :meth:`feet_row` and are :meth:`pixel_height` tall, so size and position
    agree with the ground's depth map."""

    height: int
    horizon: float = 0.4
    camera_height: float = 1.2
    bottom_depth: float = 2.2
    far: float = 60.0

    @property
    def horizon_row(self) -> float:
        return self.horizon * self.height

    @property
    def focal(self) -> float:
        return self.bottom_depth * (self.height - self.horizon_row) / self.camera_height

    def feet_row(self, depth: float) -> float:
        return self.horizon_row + self.focal * self.camera_height / depth

    def pixel_height(self, depth: float, metres: float) -> float:
        return self.focal * metres / depth

    def ground_depth(self, width: int) -> np.ndarray:
        """Depth in metres ``(H, W)`` float32: the ground below the horizon, ``far`` above it."""
        below = np.arange(self.height, dtype=np.float32) + 0.5 - self.horizon_row
        depth = np.where(below > 0, self.focal * self.camera_height / np.maximum(below, 1e-3), self.far)
        return np.broadcast_to(np.minimum(depth, self.far)[:, None], (self.height, width)).astype(np.float32).copy()


def fit_cover(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale ``image`` to cover ``(height, width)`` and centre-crop it."""
    scale = max(height / image.shape[0], width / image.shape[1])
    resized = cv2.resize(
        image, (math.ceil(image.shape[1] * scale), math.ceil(image.shape[0] * scale)), interpolation=cv2.INTER_AREA
    )
    y = (resized.shape[0] - height) // 2
    x = (resized.shape[1] - width) // 2
    return resized[y : y + height, x : x + width]


def crop(plate: np.ndarray, offset_x: float, width: int) -> np.ndarray:
    """The ``width``-wide view of ``plate`` starting at sub-pixel column ``offset_x`` (bilinear)."""
    matrix = np.float32([[1, 0, -offset_x], [0, 1, 0]])
    return cv2.warpAffine(plate, matrix, (width, plate.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def list_backgrounds(folder: Path) -> list[Path]:
    """Images and videos directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        raise InputNotFoundError(f"background folder {str(folder)!r} does not exist.")
    found = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES and not p.name.startswith(".")
    )
    if not found:
        raise ConfigError(f"background folder {str(folder)!r} holds no .png/.jpg image or video file.")
    return found


def user_plates(path: Path, height: int, width: int) -> Iterator[np.ndarray]:
    """Plates ``(H, W, 3)`` float32 from an image (the same plate forever) or a video (looped), streamed."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ConfigError(f"background image {str(path)!r} cannot be decoded.")
        plate = fit_cover(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), height, width).astype(np.float32) / 255.0
        while True:
            yield plate
    from vmat.io import open_video

    while True:
        produced = False
        with open_video(path) as reader:
            for frame in reader:
                produced = True
                yield fit_cover(frame.image, height, width).astype(np.float32) / 255.0
        if not produced:
            raise ConfigError(f"background video {str(path)!r} has no frames.")
