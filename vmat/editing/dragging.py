"""Instance dragging (MP-Mat section 4, eq. 14): move a person within a frame, from another clip, or
along a trajectory over time.

Across images the paper (1) takes the person's plane ``(c_t, alpha_t)`` from the reference layers,
(2) crops it to the tight box of positive alpha, (3) optionally rescales and rotates it and places it on
an empty plane ``(c_new, alpha_new)``, and (4) composites ``I' = c_new alpha_new + (1 - alpha_new) I``
(eq. 14), i.e. the new plane in front of everything. Within one frame it is removal followed by that.
Here the new plane is added to the layer stack, in front by default (eq. 14 exactly) or at a chosen depth
so that people nearer the camera still occlude it.

Resampling is done on premultiplied colour, then divided by the resampled alpha: interpolating straight
colour would mix in the undefined colour outside the person and darken the edges.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import torch
from torch.nn.functional import grid_sample, pad

from vmat.editing.clip import edit_frames
from vmat.editing.removal import remove
from vmat.layers.errors import InstanceNotFoundError, LayerError
from vmat.layers.stack import LayerStack


@dataclass(frozen=True)
class Cutout:
    """A person's plane cropped to the tight box of its positive alpha (step 2 of the paper's drag).

    ``colour`` is ``(3, h, w)`` straight colour, ``alpha`` ``(h, w)`` own coverage, ``x0, y0`` the box's
    top-left corner in the frame it came from.
    """

    colour: torch.Tensor
    alpha: torch.Tensor
    x0: int
    y0: int
    depth: float
    instance_id: int


@dataclass(frozen=True)
class Placement:
    """Where a dragged person goes, relative to where they were.

    The person is scaled by ``scale`` and rotated by ``angle`` degrees (counter-clockwise on screen)
    about the centre of their tight box, and that centre is moved by ``(dx, dy)`` pixels.
    """

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    angle: float = 0.0

    def __post_init__(self) -> None:
        values = {"shift": (self.dx, self.dy), "scale": (self.scale,), "angle": (self.angle,)}
        for name, numbers in values.items():
            if not all(math.isfinite(v) for v in numbers):
                raise LayerError(f"A drag {name} must be a finite number, got {', '.join(str(v) for v in numbers)}.")
        if not self.scale > 0:
            raise LayerError(f"A drag scale must be positive, got {self.scale}.")


Trajectory = Callable[[int], Placement]
"""Placement for a frame index: how a drag changes over time."""


def keyframe_trajectory(keyframes: Mapping[int, Placement]) -> Trajectory:
    """Linear interpolation between placements at given frames, held constant before the first and after the last.

    Args:
        keyframes: frame index -> placement; at least one.
    """
    if not keyframes:
        raise LayerError("A drag trajectory needs at least one keyframe.")
    frames = sorted(keyframes)

    def at(index: int) -> Placement:
        if index <= frames[0]:
            return keyframes[frames[0]]
        if index >= frames[-1]:
            return keyframes[frames[-1]]
        after = next(f for f in frames if f >= index)
        before = frames[frames.index(after) - 1]
        t = (index - before) / (after - before)
        a, b = keyframes[before], keyframes[after]
        return Placement(
            dx=a.dx + t * (b.dx - a.dx),
            dy=a.dy + t * (b.dy - a.dy),
            scale=a.scale * (b.scale / a.scale) ** t,  # geometric, so a zoom looks uniform over time
            angle=a.angle + t * (b.angle - a.angle),
        )

    return at


def cut_out(stack: LayerStack, instance_id: int) -> Cutout | None:
    """Crop a person's plane to the tight box of its positive alpha; ``None`` when the plane is empty."""
    plane = stack.index_of(instance_id)
    alpha = stack.alpha[plane]
    rows = torch.nonzero(alpha.amax(1) > 0).flatten()
    cols = torch.nonzero(alpha.amax(0) > 0).flatten()
    if rows.numel() == 0:
        return None
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return Cutout(
        colour=stack.colour[plane, :, y0:y1, x0:x1],
        alpha=alpha[y0:y1, x0:x1],
        x0=x0,
        y0=y0,
        depth=float(stack.depth[plane]),
        instance_id=int(instance_id),
    )


def placement_matrix(cutout: Cutout, placement: Placement) -> torch.Tensor:
    """``(2, 3)`` affine map from cutout pixel coordinates to target frame pixel coordinates."""
    height, width = cutout.alpha.shape
    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    target_x = cutout.x0 + centre_x + placement.dx
    target_y = cutout.y0 + centre_y + placement.dy
    theta = math.radians(placement.angle)
    # Image y points down, so this rotates counter-clockwise as seen on screen.
    a = placement.scale * math.cos(theta)
    b = placement.scale * math.sin(theta)
    return torch.tensor(
        [[a, b, target_x - a * centre_x - b * centre_y], [-b, a, target_y + b * centre_x - a * centre_y]],
        dtype=torch.float32,
    )


def place(cutout: Cutout, placement: Placement, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 3: transform the cutout onto an empty ``width`` x ``height`` plane (bilinear).

    Returns:
        ``(3, H, W)`` straight colour and ``(H, W)`` alpha of the new plane (zero where nothing lands).
    """
    colour = torch.zeros(3, height, width)
    alpha = torch.zeros(height, width)
    forward = placement_matrix(cutout, placement).double()
    box_h, box_w = cutout.alpha.shape
    corners = torch.tensor([[-1.0, -1.0, 1.0], [box_w, -1.0, 1.0], [-1.0, box_h, 1.0], [box_w, box_h, 1.0]])
    landed = corners.double() @ forward.T
    # Only the target pixels the transformed box can reach are sampled.
    x0, y0 = (max(0, int(math.floor(v))) for v in landed.min(0).values)
    x1, y1 = min(width, int(math.ceil(landed[:, 0].max())) + 1), min(height, int(math.ceil(landed[:, 1].max())) + 1)
    if x0 >= x1 or y0 >= y1:
        return colour, alpha
    inverse = torch.linalg.inv(torch.cat([forward, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)]))[:2]
    ys, xs = torch.meshgrid(
        torch.arange(y0, y1, dtype=torch.float64), torch.arange(x0, x1, dtype=torch.float64), indexing="ij"
    )
    source = torch.stack([xs, ys, torch.ones_like(xs)], -1) @ inverse.T
    # A one-pixel ring of zeros around the cutout: sampling past its edge fades to transparent, and a
    # one-pixel-wide cutout still has two samples per axis for the normalised coordinates.
    premultiplied = torch.cat([cutout.colour * cutout.alpha, cutout.alpha[None]], 0).float()
    padded = pad(premultiplied, (1, 1, 1, 1))
    grid_x = 2.0 * (source[..., 0] + 1.0) / (box_w + 1) - 1.0
    grid_y = 2.0 * (source[..., 1] + 1.0) / (box_h + 1) - 1.0
    grid = torch.stack([grid_x, grid_y], -1).float()[None]
    sampled = grid_sample(padded[None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0]
    inside = sampled[3].clamp(0.0, 1.0)
    alpha[y0:y1, x0:x1] = inside
    straight = torch.where(inside > 0, sampled[:3] / inside.clamp_min(1e-8), torch.zeros_like(sampled[:3]))
    colour[:, y0:y1, x0:x1] = straight
    return colour.clamp(0.0, 1.0), alpha


def front_depth(stack: LayerStack) -> float:
    """A depth just in front of every person in the frame (eq. 14 puts the dragged plane in front)."""
    nearest = float(stack.depth[1:].min()) if len(stack.ids) > 1 else 0.0
    return float(torch.nextafter(torch.tensor(nearest), torch.tensor(-float("inf"))))


def paste(
    stack: LayerStack,
    cutout: Cutout,
    placement: Placement,
    *,
    instance_id: int,
    depth: float | None = None,
) -> LayerStack:
    """Add a cutout (from this or another clip) to a frame as a new plane.

    Args:
        stack: the target frame's layers.
        cutout: the person to add, from :func:`cut_out`.
        placement: how to move, scale and rotate it relative to its position in its own frame.
        instance_id: the new plane's id (must not be in the frame).
        depth: where it goes in the occlusion order; ``None`` puts it in front of everyone (eq. 14).
    """
    colour, alpha = place(cutout, placement, stack.width, stack.height)
    return stack.with_plane(colour, alpha, front_depth(stack) if depth is None else depth, instance_id)


def drag(stack: LayerStack, instance_id: int, placement: Placement, *, depth: float | None = None) -> LayerStack:
    """Move a person within a frame: removal (eq. 9-10) then pasting back (eq. 14), keeping their id.

    Args:
        stack: the frame's layers.
        instance_id: the person to move.
        placement: the move.
        depth: ``None`` puts the person in front of everyone (the paper); pass their own depth
            (``float(stack.depth[stack.index_of(id)])``) to keep them in their place in the order.
    """
    cutout = cut_out(stack, instance_id)
    without = remove(stack, instance_id)
    if cutout is None:  # nothing of the person is in this frame: nothing to move
        return stack
    return paste(without, cutout, placement, instance_id=instance_id, depth=depth)


def drag_clip(
    stacks: Iterable[LayerStack],
    instance_id: int,
    trajectory: Trajectory,
    *,
    keep_depth: bool = False,
) -> Iterator[LayerStack]:
    """Move a person in every frame, frame ``n`` by ``trajectory(n)`` (streamed).

    Args:
        keep_depth: keep the person at their own depth in each frame instead of in front (eq. 14).
    """

    def edit(index: int, stack: LayerStack) -> LayerStack:
        depth = float(stack.depth[stack.index_of(instance_id)]) if keep_depth else None
        return drag(stack, instance_id, trajectory(index), depth=depth)

    return edit_frames(stacks, [instance_id], edit)


def paste_clip(
    stacks: Iterable[LayerStack],
    source_stacks: Iterable[LayerStack],
    source_id: int,
    trajectory: Trajectory,
    *,
    instance_id: int,
    depth: float | None = None,
) -> Iterator[LayerStack]:
    """Drag a person from another clip's layers into this clip, frame by frame (streamed).

    Frame ``n`` of the source goes onto frame ``n`` of the target, moved by ``trajectory(n)``. Where the
    source clip is shorter, or the person is absent from a source frame, the target frame is unchanged.

    Args:
        stacks: the target clip's layers.
        source_stacks: the source clip's layers (same or other frame size).
        source_id: the person's id in the source clip.
        instance_id: the id they get in the target clip (must not be used there).
        depth: occlusion depth in the target; ``None`` puts them in front (eq. 14).
    """
    source = iter(source_stacks)
    seen = False
    for index, stack in enumerate(stacks):
        source_stack = next(source, None)
        if source_stack is not None and source_id in source_stack.ids:
            seen = True
            cutout = cut_out(source_stack, source_id)
            if cutout is not None:
                stack = paste(stack, cutout, trajectory(index), instance_id=instance_id, depth=depth)
        yield stack
    if not seen:
        raise InstanceNotFoundError(f"Instance {source_id} does not appear in any frame of the source clip.")
