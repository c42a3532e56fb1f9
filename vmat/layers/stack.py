"""The per-frame layer stack: background plane plus one plane per person (MP-Mat Inst-MP).

Layout (plane ``p`` of ``P = S + 1``):

* ``colour[p]`` ``(3, H, W)`` float32 straight (unpremultiplied) RGB in [0, 1]. Straight colour is what
  an edit moves between planes: premultiplied colour would carry the old coverage along and darken edges
  when composited over something new.
* ``alpha[p]`` ``(H, W)`` float32 *own coverage* in [0, 1]: the matte of that plane alone, as if nothing
  stood in front of it. Where a person is hidden by another this may be unknown (0) or, for ground-truth
  layers, the true amodal matte.
* ``depth[p]`` mean depth of the plane (larger = farther); it fixes the compositing order.
* ``ids[p]`` stable instance id: the same person keeps the same id in every frame of a clip.

Plane 0 is the background (id 0, opaque, depth ``+inf``). The paper's ``alpha_i`` in ``I = sum_i c_i
alpha_i`` is :meth:`LayerStack.weights`, the effective weight after occlusion; a matting model's per-person
visible mattes enter through :meth:`LayerStack.from_weights`. Storing own coverage instead of the
effective weight loses nothing that is visible and makes removal and reordering exact for soft edges
(see :mod:`vmat.editing`).

As one tensor, a stack is ``(P, 4, H, W)``: channels R, G, B, own alpha (:meth:`LayerStack.to_tensor`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vmat.layers.compositing import check_integration, composite, effective_weights, own_alpha_from_weights
from vmat.layers.depth import depth_order
from vmat.layers.errors import InstanceNotFoundError, LayerError

BACKGROUND_ID = 0


@dataclass(frozen=True)
class LayerStack:
    """One frame's background and instance planes. See the module docstring for the layout."""

    colour: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    ids: tuple[int, ...]

    def __post_init__(self) -> None:
        planes = len(self.ids)
        if planes < 1 or self.ids[0] != BACKGROUND_ID:
            raise LayerError("A layer stack must start with the background plane, instance id 0.")
        if len(set(self.ids)) != planes:
            raise LayerError(f"The instance ids {list(self.ids)} of a layer stack must be distinct.")
        if self.colour.ndim != 4 or self.colour.shape[:2] != (planes, 3):
            raise LayerError(f"Layer colour must be ({planes}, 3, H, W), got {tuple(self.colour.shape)}.")
        if self.alpha.shape != (planes, *self.colour.shape[2:]):
            raise LayerError(f"Layer alpha must be ({planes}, H, W), got {tuple(self.alpha.shape)}.")
        if self.depth.shape != (planes,):
            raise LayerError(f"Layer depth must be ({planes},), got {tuple(self.depth.shape)}.")

    # --- construction -------------------------------------------------------------------------------

    @classmethod
    def from_tensor(cls, tensor: torch.Tensor, depth: torch.Tensor, ids: Sequence[int]) -> LayerStack:
        """Build from the ``(P, 4, H, W)`` layout (R, G, B, own alpha), checking the values."""
        if tensor.ndim != 4 or tensor.shape[1] != 4:
            raise LayerError(f"A layer tensor must be (P, 4, H, W), got {tuple(tensor.shape)}.")
        stack = cls(tensor[:, :3].float(), tensor[:, 3].float(), depth.float(), tuple(int(i) for i in ids))
        stack.validate()
        return stack

    @classmethod
    def from_weights(
        cls,
        weights: torch.Tensor,
        colour: torch.Tensor,
        depth: torch.Tensor,
        ids: Sequence[int],
        *,
        hidden_below: float = 0.02,
        tolerance: float = 1e-3,
    ) -> LayerStack:
        """Build from the paper's Inst-MP: effective weights ``alpha_i`` that sum to one per pixel.

        This is the entry point for a matting model's output (per-person visible mattes plus the
        background weight). The integration property is checked first.

        Args:
            weights: ``(P, H, W)`` effective weights; plane 0 is the background.
            colour: ``(P, 3, H, W)`` straight colour.
            depth: ``(P,)`` mean plane depths (larger = farther); ``depth[0]`` is set to ``+inf``.
            ids: ``P`` instance ids, ``ids[0] == 0``.
            hidden_below: transmittance below which a plane's own coverage is unknown (set to 0).
            tolerance: allowed deviation of a pixel's weight sum from 1.
        """
        check_integration(weights, tolerance)
        depth = depth.float().clone()
        depth[0] = float("inf")
        order = depth_order(depth)
        alpha = own_alpha_from_weights(weights.float(), order, hidden_below)
        return cls(colour.float(), alpha, depth, tuple(int(i) for i in ids))

    # --- queries -------------------------------------------------------------------------------------

    @property
    def height(self) -> int:
        return int(self.colour.shape[2])

    @property
    def width(self) -> int:
        return int(self.colour.shape[3])

    @property
    def instance_ids(self) -> tuple[int, ...]:
        """Ids of the person planes (the background excluded), in plane order."""
        return self.ids[1:]

    def index_of(self, instance_id: int) -> int:
        """Plane index of ``instance_id``; raises :class:`InstanceNotFoundError` when absent."""
        try:
            return self.ids.index(int(instance_id))
        except ValueError:
            raise InstanceNotFoundError(
                f"Instance {instance_id} is not in this frame (instances present: {list(self.instance_ids)})."
            ) from None

    def order(self) -> list[int]:
        """Plane indices front to back by depth (appendix A.1), the background last."""
        return depth_order(self.depth)

    def weights(self) -> torch.Tensor:
        """``(P, H, W)`` effective weights, the paper's ``alpha_i``; they sum to one per pixel."""
        return effective_weights(self.alpha, self.order())

    def render(self) -> torch.Tensor:
        """``(3, H, W)`` composite ``I = sum_i c_i alpha_i``."""
        return composite(self.colour, self.weights())

    def to_tensor(self) -> torch.Tensor:
        """``(P, 4, H, W)``: R, G, B straight colour and own alpha per plane."""
        return torch.cat([self.colour, self.alpha[:, None]], dim=1)

    def validate(self, tolerance: float = 1e-3) -> None:
        """Check value ranges, the opaque background and the integration property; raise :class:`LayerError`."""
        if not (bool(torch.isfinite(self.colour).all()) and bool(torch.isfinite(self.alpha).all())):
            raise LayerError("The layer colour or alpha contains NaN or infinite values.")
        if bool(torch.isnan(self.depth).any()):
            raise LayerError("A plane depth is NaN; every plane needs a depth to be sorted.")
        if float(self.alpha.min()) < -tolerance or float(self.alpha.max()) > 1.0 + tolerance:
            raise LayerError("Layer alpha must lie in [0, 1].")
        if float((self.alpha[0] - 1.0).abs().max()) > tolerance:
            raise LayerError("The background plane (instance 0) must be opaque: its alpha must be 1 everywhere.")
        check_integration(self.weights(), tolerance)

    # --- structural changes (edits build on these) ----------------------------------------------------

    def replace(self, **changes: Any) -> LayerStack:
        """A copy with some fields replaced (the tensors are shared, not copied)."""
        return dataclasses.replace(self, **changes)

    def without(self, planes: Sequence[int]) -> LayerStack:
        """A copy with the given plane indices dropped (never the background)."""
        if 0 in planes:
            raise LayerError("The background plane cannot be dropped from a layer stack.")
        keep = [p for p in range(len(self.ids)) if p not in set(planes)]
        return LayerStack(self.colour[keep], self.alpha[keep], self.depth[keep], tuple(self.ids[p] for p in keep))

    def with_plane(self, colour: torch.Tensor, alpha: torch.Tensor, depth: float, instance_id: int) -> LayerStack:
        """A copy with one more instance plane appended.

        Args:
            colour: ``(3, H, W)`` straight colour.
            alpha: ``(H, W)`` own coverage.
            depth: mean depth (larger = farther).
            instance_id: a new id, not already in the stack.
        """
        if int(instance_id) in self.ids:
            raise LayerError(f"Instance id {instance_id} is already in this frame; choose another id.")
        depth_row = torch.tensor([depth], dtype=self.depth.dtype, device=self.depth.device)
        return LayerStack(
            torch.cat([self.colour, colour[None].to(self.colour)], 0),
            torch.cat([self.alpha, alpha[None].to(self.alpha)], 0),
            torch.cat([self.depth, depth_row], 0),
            (*self.ids, int(instance_id)),
        )
