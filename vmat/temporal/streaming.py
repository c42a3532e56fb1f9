"""Streamed temporal consistency for the pipeline and ``vmat eval``: refiner, then matte fusion.

:class:`TemporalRefinerStream` takes one frame at a time with each person's coarse matte and returns
steadier mattes a bounded number of frames later:

0. the flow blend (:mod:`vmat.temporal.flow_blend`, ``flow_blend`` > 0): each coarse matte's soft band mixed
   with the previous frame's, carried by the source frames' optical flow where the pictures agree;
1. the learned refiner (:class:`~vmat.temporal.refiner.TemporalRefiner`, optional) at a reduced processing
   size: the forward Conv-GRU state is carried from frame to frame per person; the backward pass of frame
   ``t`` runs over frames ``t .. t + gru_lookahead`` from a zero state (every frame sees the same window, so
   there are no seams); its correction is upsampled and added to the full-resolution coarse matte;
2. forward-backward fusion (eq. 12-14, :mod:`vmat.temporal.fusion`) with a change map that is the
   refiner's thresholded sparsity prediction (``change="predicted"``) or, weight-free, where each pixel
   differs from its picture at its last change (:class:`~vmat.temporal.flow_change.ChangeTracker`), with
   the frames as they are (``"frames"``) or aligned for camera motion (``"flow"``), optionally softened.

A person is the frames in which their id is present without a gap: an id that appears starts from a
zero state, and one that leaves and returns starts again. Memory holds at most
``gru_lookahead + fusion_lookahead + 1`` frames (and the flow blend's previous frame and mattes), whatever
the clip's length.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vmat.errors import ConfigError
from vmat.geometry import processing_size
from vmat.temporal.colour import alpha_of, premultiply, unpremultiply
from vmat.temporal.flow_blend import FlowBlend, FlowBlendConfig
from vmat.temporal.flow_change import ESTIMATE, ChangeTracker
from vmat.temporal.fusion import ForwardBackwardFusion, FusionConfig, Pushed, backward_matte, pushed, soften_change
from vmat.temporal.refiner import CHANGE_PROBABILITY, TemporalRefiner
from vmat.temporal.soft_fusion import FUSION_MODES

CHANGE_SOURCES = ("predicted", "frames", "flow")


@dataclass(frozen=True)
class StreamConfig:
    """Settings of :class:`TemporalRefinerStream` (look-aheads in frames; thresholds as in :class:`FusionConfig`)."""

    gru_lookahead: int = 4
    fusion: str = "both"  # one of FUSION_MODES
    fusion_lookahead: int = 4
    tolerance: float = FusionConfig.tolerance
    change: str = "predicted"  # one of CHANGE_SOURCES
    change_probability: float = CHANGE_PROBABILITY  # a predicted change above this probability counts
    change_threshold: float = FusionConfig.change_threshold
    change_grow: int = FusionConfig.change_grow
    change_soften: float = 0.0  # frames/flow change maps: Gaussian fall-off in pixels (0: binary, the paper's)
    # The flow blend's weight (FlowBlendConfig.weight; 0: off). Fusion holds mattes only where the picture is
    # still; this steadies the soft band of people who move (docs/temporal.md).
    flow_blend: float = FlowBlendConfig.weight

    def __post_init__(self) -> None:
        if self.fusion not in FUSION_MODES:
            raise ConfigError(f"the fusion mode must be one of {', '.join(FUSION_MODES)}, not {self.fusion!r}.")
        if self.change not in CHANGE_SOURCES:
            raise ConfigError(f"the change map source must be one of {', '.join(CHANGE_SOURCES)}, not {self.change!r}.")
        if self.gru_lookahead < 0 or self.fusion_lookahead < 0:
            raise ConfigError("look-aheads must be 0 or more frames.")
        if self.change_soften < 0:
            raise ConfigError(f"the change map's soft fall-off must be 0 or more pixels, not {self.change_soften}.")
        FlowBlendConfig(weight=self.flow_blend)  # checks the weight


class BackwardFusion:
    """Eq. 13 alone (the "backward" row of MaGGIe's table 13), with the push/flush protocol of
    :class:`ForwardBackwardFusion`: the backward value of frame ``t`` starts at frame ``t + lookahead``."""

    def __init__(self, lookahead: int) -> None:
        self.lookahead = lookahead
        self._window: deque[Pushed] = deque()

    def push(self, alphas: dict[int, np.ndarray], change: np.ndarray) -> dict[int, np.ndarray] | None:
        self._window.append(pushed(alphas, change))
        return self._emit() if len(self._window) > self.lookahead else None

    def flush(self) -> list[dict[int, np.ndarray]]:
        return [self._emit() for _ in range(len(self._window))]

    def _emit(self) -> dict[int, np.ndarray]:
        alphas = self._window[0].mattes
        fused = {instance: backward_matte(self._window, instance, alpha) for instance, alpha in alphas.items()}
        self._window.popleft()
        return fused


def make_fusion(mode: str, lookahead: int, tolerance: float) -> ForwardBackwardFusion | BackwardFusion | None:
    """The streamed fusion of a table-13 row: ``None`` for ``"none"``."""
    if mode == "both":
        return ForwardBackwardFusion(FusionConfig(lookahead=lookahead, tolerance=tolerance))
    if mode == "forward":
        # Eq. 14 with an infinite tolerance always takes A_f, and A_f needs no look-ahead.
        return ForwardBackwardFusion(FusionConfig(lookahead=0, tolerance=float("inf")))
    if mode == "backward":
        return BackwardFusion(lookahead)
    return None


@dataclass
class _Person:
    """One person in one frame of the refiner's window, at processing size."""

    coarse: Tensor  # (1, 1, h, w)
    features: Tensor  # (1, C, h/4, w/4)
    forward_state: Tensor | None
    change_logits: Tensor | None  # (1, 1, h, w); None on the person's first frame


@dataclass
class _Frame:
    shape: tuple[int, int]  # (H, W) full size
    image: Tensor | None  # (1, 3, h, w) at processing size; None without a refiner
    alphas: dict[int, np.ndarray]  # full-size coarse mattes: (H, W), or (4, H, W) with the premultiplied colour
    change: np.ndarray | None  # (H, W) bool (float weights when softened) from the frames, when they are the change source
    colours: dict[int, np.ndarray] | None = None  # each person's own straight colour (3, H, W), when carried
    people: dict[int, _Person] = field(default_factory=dict)


class TemporalRefinerStream:
    """``push(image (H, W, 3) uint8, {id: (H, W) float coarse alpha})`` -> the steadier mattes ``{id: (H, W)}``
    of an earlier frame, or ``None`` while the look-ahead fills; :meth:`flush` returns the rest in order.

    Given each person's straight colour (``colours``, ``{id: (3, H, W)}``), it returns ``(4, H, W)`` mattes:
    alpha and the premultiplied colour carried with it (:mod:`vmat.temporal.colour`), so that coverage held
    from an earlier frame keeps that frame's colour (:func:`~vmat.temporal.colour.raised_colour` gives it
    where the alpha was raised). The alphas are the same, bit for bit, with or without colours.

    ``model`` ``None`` is the weight-free path (fusion only; ``change`` must then be ``"frames"`` or
    ``"flow"``). The model is put in eval mode. One stream per clip.
    """

    def __init__(self, model: TemporalRefiner | None, config: StreamConfig = StreamConfig()) -> None:
        if model is None and config.change == "predicted":
            raise ConfigError(
                "predicted change maps need a trained temporal refiner: give a checkpoint or use change=frames or flow."
            )
        self.model = model.eval() if model is not None else None
        self.config = config
        self._device = next(model.parameters()).device if model is not None else torch.device("cpu")
        self._gru_lookahead = config.gru_lookahead if model is not None else 0
        self._window: deque[_Frame] = deque()
        self._last: dict[int, _Person] = {}  # each person present in the last frame pushed
        self._changes = None
        if config.change != "predicted":
            self._changes = ChangeTracker(config.change == "flow", config.change_threshold, config.change_grow)
        self._fusion = make_fusion(config.fusion, config.fusion_lookahead, config.tolerance)
        self._blend = FlowBlend(FlowBlendConfig(weight=config.flow_blend)) if config.flow_blend > 0 else None
        self._pushed = 0
        self._returned = 0

    @property
    def held_frames(self) -> int:
        """Frames pushed whose mattes have not been returned yet."""
        return self._pushed - self._returned

    @torch.inference_mode()
    def push(
        self,
        image: np.ndarray,
        alphas: dict[int, np.ndarray],
        camera: np.ndarray | None | str = ESTIMATE,
        colours: dict[int, np.ndarray] | None = None,
    ) -> dict[int, np.ndarray] | None:
        """``camera``: the ``(3, 3)`` homography from the previous frame to this one when the caller tracks the
        camera already (``None``: it could not be tracked), else :data:`ESTIMATE` (the ``"flow"`` change map
        estimates it from the frames). ``colours``: see the class."""
        self._pushed += 1
        change = None
        if self._changes is not None:
            change = self._changes.update(image, camera)
            if self.config.change_soften > 0:
                change = soften_change(change, self.config.change_soften)
        alphas = {i: np.asarray(a, np.float32) for i, a in alphas.items()}
        if colours is not None:
            alphas = {i: premultiply(a, colours[i]) for i, a in alphas.items()}
        if self._blend is not None:
            alphas = self._blend.push(image, alphas)
        frame = _Frame(image.shape[:2], None, alphas, change, colours)
        if self.model is not None:
            self._encode(frame, image)
        self._window.append(frame)
        ready = [self._refine_oldest()] if len(self._window) > self._gru_lookahead else []
        out = self._fuse(ready)
        self._returned += len(out)
        return out[0] if out else None

    @torch.inference_mode()
    def flush(self) -> list[dict[int, np.ndarray]]:
        refined = [self._refine_oldest() for _ in range(len(self._window))]
        out = self._fuse(refined)
        if self._fusion is not None:
            out += self._fusion.flush()
        self._returned += len(out)
        return out

    def _fuse(self, refined: list[tuple[dict[int, np.ndarray], np.ndarray]]) -> list[dict[int, np.ndarray]]:
        out = []
        for alphas, change in refined:
            fused = alphas if self._fusion is None else self._fusion.push(alphas, change)
            if fused is not None:
                out.append(fused)
        return out

    def _processing_size(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)``: the frame fitted within the refiner's processing size."""
        width, height = processing_size(width, height, self.model.config.process_size)
        return height, width

    def _to_processing(self, array: np.ndarray, size: tuple[int, int]) -> Tensor:
        """``(H, W)`` or ``(H, W, C)`` -> ``(1, C, h, w)`` float on the model's device (area-averaged when smaller)."""
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self._device, torch.float32)
        tensor = tensor.permute(2, 0, 1)[None] if tensor.ndim == 3 else tensor[None, None]
        return tensor if tuple(tensor.shape[-2:]) == size else F.interpolate(tensor, size=size, mode="area")

    def _encode(self, frame: _Frame, image: np.ndarray) -> None:
        model = self.model
        size = self._processing_size(*image.shape[:2])
        frame.image = self._to_processing(image, size) / 255.0
        people = {}
        for instance, alpha in frame.alphas.items():
            coarse = self._to_processing(alpha_of(alpha), size)
            features = model.encode(frame.image, coarse)
            last = self._last.get(instance)
            state = model.forward_state(features, None if last is None else last.forward_state)
            logits = None if last is None else model.change_logits(last.features, features, size)
            people[instance] = _Person(coarse, features, state, logits)
        frame.people = people
        self._last = people  # an id missing from this frame starts afresh if it returns

    def _refine_oldest(self) -> tuple[dict[int, np.ndarray], np.ndarray]:
        """The oldest window frame's refined full-size mattes and its change map; drops it from the window."""
        frame = self._window[0]
        if self.model is None:
            refined = frame.alphas
        else:
            refined = {instance: self._refine_person(frame, instance) for instance in frame.people}
        change = frame.change if frame.change is not None else self._predicted_change(frame)
        self._window.popleft()
        return refined, change

    def _refine_person(self, frame: _Frame, instance: int) -> np.ndarray:
        model = self.model
        person = frame.people[instance]
        run = []
        for later in self._window:  # the person's frames from this one on, without a gap
            if instance not in later.people:
                break
            run.append(later.people[instance].features)
        backward = model.backward_state(run)
        change = None if person.change_logits is None else torch.sigmoid(person.change_logits)
        refined = model.decode(frame.image, person.coarse, person.features, person.forward_state, backward, change)
        matte = frame.alphas[instance]
        coarse = alpha_of(matte)
        if tuple(refined.shape[-2:]) == coarse.shape:
            alpha = refined[0, 0].cpu().numpy()
        else:
            correction = F.interpolate(refined - person.coarse, size=coarse.shape, mode="bilinear", align_corners=False)
            alpha = np.clip(coarse + correction[0, 0].cpu().numpy(), 0.0, 1.0)
        if matte.ndim == 2:
            return alpha
        # The refiner corrects alpha where the coarse matte is uncertain, in the frame itself: the frame's colour
        # (the flow blend's where it blended) comes with it.
        assert frame.colours is not None, "a (4, H, W) matte comes from push's colours"
        _, colour = unpremultiply(matte, frame.colours[instance])
        return premultiply(alpha, colour)

    def _predicted_change(self, frame: _Frame) -> np.ndarray:
        """Union over the frame's people of their predicted change maps, at full size (a safe superset of each
        person's own); a person's first frame (no prediction) marks the whole frame as changed."""
        if not frame.people or any(person.change_logits is None for person in frame.people.values()):
            return np.ones(frame.shape, bool)
        probability = torch.stack([torch.sigmoid(p.change_logits[0, 0]) for p in frame.people.values()]).amax(0)
        changed = (probability > self.config.change_probability).float()[None, None]
        if tuple(changed.shape[-2:]) != tuple(frame.shape):
            changed = F.interpolate(changed, size=frame.shape, mode="nearest")
        return changed[0, 0].cpu().numpy() > 0
