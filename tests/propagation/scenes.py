"""Small generated scenes for the propagation tests."""

from __future__ import annotations

import cv2
import numpy as np


def texture(rng: np.random.Generator, height: int, width: int, low: int, high: int, blur: float = 1.5) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 smooth random texture with values in about ``[low, high]``."""
    noise = rng.uniform(low, high, (height, width, 3)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), blur).clip(0, 255).astype(np.uint8)


def paste(frame: np.ndarray, ids: np.ndarray, sprite: np.ndarray, shape: np.ndarray, x: int, y: int, k: int) -> None:
    """Draw ``sprite`` where ``shape`` (bool) is set, top-left at ``(x, y)``, and mark it ``k`` in ``ids``;
    whatever falls outside the frame is cut off."""
    h, w = shape.shape
    y0, x0 = max(0, y), max(0, x)
    y1, x1 = min(frame.shape[0], y + h), min(frame.shape[1], x + w)
    if y0 >= y1 or x0 >= x1:
        return
    inside = shape[y0 - y : y1 - y, x0 - x : x1 - x]
    frame[y0:y1, x0:x1][inside] = sprite[y0 - y : y1 - y, x0 - x : x1 - x][inside]
    ids[y0:y1, x0:x1][inside] = k

def disc_shape(radius: int) -> np.ndarray:
    shape = np.zeros((2 * radius + 1, 2 * radius + 1), np.uint8)
    cv2.circle(shape, (radius, radius), radius, 1, -1)
    return shape.astype(bool)


def moving_scene(
    frames: int,
    tracks: list[tuple[np.ndarray, tuple[int, int], tuple[int, int], tuple[int, int, int]]],
    size: tuple[int, int] = (96, 160),
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``frames`` pairs of ``(image (H, W, 3) uint8, ids (H, W) uint16)``: a static textured background and
    textured sprites. ``tracks`` lists, back to front, ``(shape, start (x, y), velocity (dx, dy), tint)``;
    sprite ``k`` (1-based) gets id ``k``."""
    rng = np.random.default_rng(seed)
    height, width = size
    background = texture(rng, height, width, 70, 150)
    sprites = [
        np.clip(texture(rng, *shape.shape, 0, 70).astype(int) + tint, 0, 255).astype(np.uint8) for shape, _, _, tint in tracks
    ]
    out = []
    for t in range(frames):
        image = background.copy()
        ids = np.zeros(size, np.uint16)
        for k, ((shape, (x, y), (dx, dy), _), sprite) in enumerate(zip(tracks, sprites), start=1):
            paste(image, ids, sprite, shape, x + dx * t, y + dy * t, k)
        out.append((image, ids))
    return out
