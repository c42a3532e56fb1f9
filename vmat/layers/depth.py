"""Depth sorting of planes (MP-Mat appendix A.1).

Depth convention everywhere in vmat.layers: larger means farther from the camera. A monocular model that
outputs disparity (larger = closer) must be converted first, e.g. with ``plane_depths(...,
larger_is_closer=True)``.
"""

from __future__ import annotations

import torch


def plane_depths(
    weights: torch.Tensor,
    depth_map: torch.Tensor,
    larger_is_closer: bool = False,
    support_above: float = 1.0 / 255.0,
) -> torch.Tensor:
    """Mean depth of each plane over its support ``Omega_i = {(x, y) : alpha_i(x, y) > support_above}``.

    Appendix A.1 uses ``alpha_i > 0`` (``support_above=0``); the default ignores weights below one 8-bit
    step because a predicted matte is rarely exactly 0 and its faint noise would pull the mean towards
    the whole frame's depth.

    Args:
        weights: ``(P, H, W)`` plane alphas; plane 0 is the background.
        depth_map: ``(H, W)`` depth of the frame.
        larger_is_closer: the depth map holds disparity-like values (larger = closer); they are negated
            so that the returned depths follow the "larger = farther" convention.
        support_above: weight a pixel must exceed to count in a plane's support.

    Returns:
        ``(P,)`` float32 depths; the background (plane 0) is ``+inf`` and a plane with an empty support is
        ``+inf`` too (it covers nothing, so its place in the order does not matter).
    """
    if depth_map.shape != weights.shape[1:]:
        raise ValueError(f"depth_map {tuple(depth_map.shape)} does not match planes {tuple(weights.shape[1:])}")
    signed = -depth_map.float() if larger_is_closer else depth_map.float()
    support = (weights > support_above).float()
    count = support.flatten(1).sum(1)
    total = (support * signed).flatten(1).sum(1)
    depths = torch.where(count > 0, total / count.clamp_min(1.0), torch.full_like(total, float("inf")))
    depths[0] = float("inf")
    return depths


def depth_order(depth: torch.Tensor) -> list[int]:
    """Plane indices from the closest instance to the farthest, then the background (plane 0).

    Ties keep the plane order, so equal depths composite in index order.

    Args:
        depth: ``(P,)`` depths, larger = farther; ``depth[0]`` (the background) is ignored.
    """
    instances = depth[1:]
    ranked = torch.sort(instances, stable=True).indices + 1
    return [*ranked.tolist(), 0]
