"""Foreground and background colour from an image and its alpha: multi-level estimation.

Solves, per pixel, for the colours F and B that recompose the image, ``alpha F + (1 - alpha) B = I``,
while staying close to their neighbours where alpha is smooth (Germer et al., "Fast Multi-Level Foreground
Estimation", 2020). The cost at each pixel,

    (alpha F + (1 - alpha) B - I)^2 + sum_n w_n ((F - F_n)^2 + (B - B_n)^2),   w_n = eps_r + omega |alpha - alpha_n|,

is minimised by Jacobi sweeps of its 2x2 normal equations over the 4-neighbourhood, from a coarse level
up to full resolution, so that colour spreads far in few sweeps. Compositing with the estimated F has no
dark or light fringes, unlike using the image colour itself as the foreground.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _shifted(value: np.ndarray) -> tuple[np.ndarray, ...]:
    """The up, down, left and right neighbours of every pixel (edges replicate)."""
    up = np.concatenate([value[:1], value[:-1]], axis=0)
    down = np.concatenate([value[1:], value[-1:]], axis=0)
    left = np.concatenate([value[:, :1], value[:, :-1]], axis=1)
    right = np.concatenate([value[:, 1:], value[:, -1:]], axis=1)
    return up, down, left, right


def _neighbour_sums(value: np.ndarray, weights: tuple[np.ndarray, ...]) -> np.ndarray:
    """sum_n w_n * value_n over the 4-neighbourhood, ``value (H, W, 3)``, ``weights`` four ``(H, W, 1)``."""
    total = np.zeros_like(value)
    for weight, neighbour in zip(weights, _shifted(value)):
        total += weight * neighbour
    return total


def _neighbour_weights(alpha: np.ndarray, eps_r: float, omega: float) -> tuple[np.ndarray, ...]:
    return tuple((eps_r + omega * np.abs(alpha - neighbour))[..., None] for neighbour in _shifted(alpha))


def estimate_foreground(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    iterations: int = 2,
    final_iterations: int = 5,
    eps_r: float = 5e-3,
    omega: float = 1e-1,
) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background colours ``(F, B)``, each ``(H, W, 3)`` float32 in [0, 1].

    ``image`` is ``(H, W, 3)`` float32 in [0, 1], ``alpha`` ``(H, W)`` float32 in [0, 1]. Where alpha is 1, F is
    the image; where 0, B is; in between both are solved for.
    """
    image = image.astype(np.float32)
    alpha = alpha.astype(np.float32)
    height, width = alpha.shape
    levels = max(1, math.ceil(math.log2(max(height, width))) + 1)
    foreground = image.mean(axis=(0, 1), keepdims=True).repeat(1, 0)
    background = foreground.copy()
    for level in range(levels):
        size = (max(1, round(width * 2 ** (level + 1 - levels))), max(1, round(height * 2 ** (level + 1 - levels))))
        level_image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR).reshape(size[1], size[0], 3)
        level_alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR).reshape(size[1], size[0])
        foreground = cv2.resize(foreground, size, interpolation=cv2.INTER_NEAREST).reshape(size[1], size[0], 3)
        background = cv2.resize(background, size, interpolation=cv2.INTER_NEAREST).reshape(size[1], size[0], 3)
        weights = _neighbour_weights(level_alpha, eps_r, omega)
        total = sum(weights)
        a = level_alpha[..., None]
        # The 2x2 normal equations [[a^2 + S, a(1-a)], [a(1-a), (1-a)^2 + S]] [F, B] = rhs, solved in closed form.
        m00, m01, m11 = a * a + total, a * (1 - a), (1 - a) * (1 - a) + total
        determinant = m00 * m11 - m01 * m01
        for _ in range(final_iterations if level == levels - 1 else iterations):
            rhs_f = a * level_image + _neighbour_sums(foreground, weights)
            rhs_b = (1 - a) * level_image + _neighbour_sums(background, weights)
            foreground = np.clip((m11 * rhs_f - m01 * rhs_b) / determinant, 0, 1)
            background = np.clip((m00 * rhs_b - m01 * rhs_f) / determinant, 0, 1)
    return foreground.astype(np.float32), background.astype(np.float32)
