"""Tiny hand-made layer stacks for exact tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vmat.layers import LayerStack

RED, GREEN, BLUE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def make_stack(
    background: Sequence[float] | torch.Tensor,
    people: Sequence[tuple[int, float, Sequence[float] | torch.Tensor, Sequence[Sequence[float]]]],
) -> LayerStack:
    """A stack from a background colour (or ``(3, H, W)`` plane) and people ``(id, depth, colour, alpha rows)``.

    Colours given as three numbers fill the whole plane.
    """
    alphas = [torch.tensor(alpha, dtype=torch.float32) for *_, alpha in people]
    height, width = alphas[0].shape if alphas else background.shape[1:]

    def plane(colour: Sequence[float] | torch.Tensor) -> torch.Tensor:
        if isinstance(colour, torch.Tensor):
            return colour.float()
        return torch.tensor(colour, dtype=torch.float32)[:, None, None].expand(3, height, width).clone()

    colour = torch.stack([plane(background), *(plane(c) for _, _, c, _ in people)])
    alpha = torch.stack([torch.ones(height, width), *alphas])
    depth = torch.tensor([float("inf"), *(d for _, d, _, _ in people)])
    return LayerStack(colour, alpha, depth, (0, *(i for i, *_ in people)))


def two_people() -> LayerStack:
    """2x3 pixels: red person 1 (depth 1) in front of green person 2 (depth 2), blue background.

    Own alphas: person 1 ``[[1, 1, 0], [.5, 0, 0]]``, person 2 ``[[0, 1, 1], [1, .5, 0]]`` (person 2 is
    known behind person 1 at pixel (row 0, col 1), as ground-truth layers would say).
    """
    return make_stack(
        BLUE,
        [
            (1, 1.0, RED, [[1.0, 1.0, 0.0], [0.5, 0.0, 0.0]]),
            (2, 2.0, GREEN, [[0.0, 1.0, 1.0], [1.0, 0.5, 0.0]]),
        ],
    )
