"""Weight-free depth from a ground-plane prior, refined by instance masks (vmat's default depth stage).

Model: a level pinhole camera above flat ground. A ground point seen at image row ``y`` below the
horizon row ``y_h`` lies at distance ``Z = f * camera_height / (y - y_h)``, so its disparity ``1 / Z`` is
*linear* in ``y - y_h``. The prior therefore gives every row below the horizon the disparity
``(y - y_h) / (H - 1 - y_h)`` (1 at the bottom row) and everything above it disparity 0 (far), and
turns that into vmat depth ``1 - disparity`` (smaller = nearer, see :mod:`vmat.depth.base`).

People stand on the ground: with instance masks, every person is a fronto-parallel plane at the depth of
the ground where their lowest visible mask row (their feet) touches it, so the whole person gets one
constant depth and a person whose feet are lower in the frame is nearer. Feet must be below the horizon,
so a frame whose lowest person foot row is at or above the configured horizon moves the horizon up to
just above it, keeping every person strictly ordered.

Assumptions and failure cases, plainly: the image content is not looked at (only the frame size and
the masks); the camera is assumed roughly level with the ground visible below the horizon. It is wrong
for top-down or steeply tilted shots, stairs and slopes, people sitting on raised objects, people
lying down or jumping (a jumping person reads farther than they are), and for scene structure that is
not ground (walls, furniture get the depth of the ground row they cover). A person cut off by the
bottom edge gets the nearest depth; two such people tie. A person whose feet are hidden behind another
person reads farther than the foot row suggests, which is the right direction for the occlusion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vmat.depth.base import resolve_device


@dataclass
class GroundPlaneConfig:
    """Camera assumptions of :class:`GroundPlaneDepth`."""

    # Horizon row as a fraction of the frame height from the top (0.4: a camera at about eye level).
    horizon: float = 0.4


def ground_plane_disparity(height: int, horizon_row: Tensor) -> Tensor:
    """Ground disparity of each row: ``clamp((y - y_h) / (height - 1 - y_h), 0, 1)``.

    ``horizon_row`` is ``(B,)`` float (rows from the top, may be negative, must be < ``height - 1``).
    Returns ``(B, height)``.
    """
    rows = torch.arange(height, dtype=torch.float32, device=horizon_row.device).view(1, -1)
    y_h = horizon_row.view(-1, 1).float()
    return ((rows - y_h) / (height - 1 - y_h)).clamp(0.0, 1.0)


def lowest_rows(masks: Tensor, num_ids: int) -> Tensor:
    """Lowest row of every id in each mask: ``(B, H, W)`` int ids in ``[0, num_ids)`` -> ``(B, num_ids)``.

    Ids absent from a frame get -1.
    """
    batch, height, width = masks.shape
    rows = torch.arange(height, device=masks.device).view(1, height, 1).expand(batch, height, width)
    lowest = torch.full((batch, num_ids), -1, dtype=torch.long, device=masks.device)
    return lowest.scatter_reduce(1, masks.reshape(batch, -1).long(), rows.reshape(batch, -1), reduce="amax")


class GroundPlaneDepth:
    """Weight-free depth stage: ground-plane prior, people placed at their foot row (see module docs)."""

    name = "ground-plane"

    def __init__(self, config: GroundPlaneConfig | None = None, device: str | torch.device | None = "cpu") -> None:
        self.config = config or GroundPlaneConfig()
        if not 0.0 <= self.config.horizon < 1.0:
            raise ValueError(f"horizon must be in [0, 1), got {self.config.horizon}")
        self.device = resolve_device(device)

    def to(self, device: str | torch.device) -> GroundPlaneDepth:
        """Compute on ``device`` from now on; returns ``self``."""
        self.device = torch.device(device)
        return self

    def __call__(self, frames: Tensor, masks: Tensor | None = None) -> Tensor:
        """``(B, 3, H, W)`` frames (only their size is used), optional ``(B, H, W)`` id masks -> ``(B, 1, H, W)``.

        Depth in [0, 1], smaller = nearer, returned on the device of ``frames``.
        """
        batch, _, height, width = frames.shape
        if height < 2:
            raise ValueError(f"frames need at least 2 rows, got {height}")
        horizon = torch.full((batch,), self.config.horizon * (height - 1), device=self.device)
        if masks is None:
            disparity = ground_plane_disparity(height, horizon)
            depth = (1.0 - disparity).view(batch, 1, height, 1).expand(batch, 1, height, width)
            return depth.contiguous().to(frames.device)

        if masks.shape != (batch, height, width):
            raise ValueError(f"masks must be (B, H, W) = {(batch, height, width)}, got {tuple(masks.shape)}")
        masks = masks.to(self.device).long()
        num_ids = int(masks.max()) + 1
        feet = lowest_rows(masks, num_ids)
        feet[:, 0] = -1  # id 0 is the background, not a person
        people = feet >= 0
        # A visible foot row at or above the horizon means the horizon is higher than assumed.
        highest_foot = torch.where(people, feet, height).amin(dim=1).float()
        horizon = torch.minimum(horizon, highest_foot - 1.0)

        ground = ground_plane_disparity(height, horizon)  # (B, H)
        row_disparity = ground.view(batch, height, 1).expand(batch, height, width)
        person_disparity = ground.gather(1, feet.clamp_min(0))  # (B, num_ids); id 0 unused
        per_pixel_person = person_disparity.gather(1, masks.reshape(batch, -1)).view_as(masks)
        disparity = torch.where(masks > 0, per_pixel_person, row_disparity)
        return (1.0 - disparity).unsqueeze(1).to(frames.device)
