"""The learned temporal refiner: per person, frames and coarse mattes in, steadier mattes out.

Decomposer-agnostic: the coarse mattes may come from the weight-free decomposer or from MP-Mat. Per
frame ``t`` of one person:

1. an encoder turns (RGB, coarse alpha) into features at 1/4 resolution;
2. the sparsity predictor (MaGGIe 7.8) contrasts them with frame ``t - 1``'s: where the matte changes;
3. a Conv-GRU carries features forward in time, a second one backward (``gru`` = ``"none"``,
   ``"forward"`` or ``"bidirectional"``), and a 1x1 conv joins them with the frame's own features;
4. a decoder predicts a residual that is added to the coarse matte only in a band where the coarse matte
   is uncertain (0 < alpha < 1, grown) or the predicted change probability is above 1/2, clamped to
   [0, 1], so still interiors stay intact.

The last decoder layer starts at zero: a fresh refiner returns the coarse mattes unchanged.
The backward pass of frame ``t`` starts from a zero state at frame ``min(t + lookahead, T - 1)``, the same
rule :class:`~vmat.temporal.streaming.TemporalRefinerStream` follows with bounded memory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vmat.errors import ConfigError
from vmat.limits import MAX_FRAME_SIDE, MAX_REFINER_BAND
from vmat.temporal.convgru import ConvGRUCell
from vmat.temporal.sparsity import SparsityPredictor

GRU_MODES = ("none", "forward", "bidirectional")
# A coarse alpha within this of 0 or 1 counts as certain.
CERTAIN_MARGIN = 1.0 / 255.0
# A change probability above this lets the decoder edit the matte (and marks delta(t) for fusion).
CHANGE_PROBABILITY = 0.5


@dataclass(frozen=True)
class TemporalRefinerConfig:
    """Sizes of a :class:`TemporalRefiner`; ``band`` and ``process_size`` are in pixels."""

    features: int = 24  # encoder channels at 1/4 resolution
    hidden: int = 24  # Conv-GRU state channels per direction
    decoder: int = 16  # decoder channels at full resolution
    gru: str = "bidirectional"
    band: int = 3  # how far the uncertain region of the coarse matte is grown
    process_size: int = 384  # the streamed refiner works at this longer side (never upscales)

    def __post_init__(self) -> None:
        if self.gru not in GRU_MODES:
            raise ConfigError(f"the Conv-GRU mode must be one of {', '.join(GRU_MODES)}, not {self.gru!r}.")
        if min(self.features, self.hidden, self.decoder, self.process_size) < 1 or self.band < 0:
            raise ConfigError("the temporal refiner's sizes must be positive.")
        if self.band > MAX_REFINER_BAND or self.process_size > MAX_FRAME_SIDE:
            raise ConfigError(
                f"the temporal refiner's band is at most {MAX_REFINER_BAND} px and its process size at most {MAX_FRAME_SIDE} px."
            )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class RefinerOutput:
    """``alpha`` ``(B, T, 1, H, W)`` refined mattes; ``change_logits`` ``(B, T, 1, H, W)`` logits of "the matte
    changes between frames t - 1 and t" (frame 0 has no previous frame: its logits are 0 and unused)."""

    alpha: Tensor
    change_logits: Tensor


def _conv(inputs: int, outputs: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1), nn.ReLU(inplace=True))


class TemporalRefiner(nn.Module):
    """See the module docstring. :meth:`forward` runs whole clips; the step methods (:meth:`encode`,
    :meth:`change_logits`, :meth:`forward_state`, :meth:`backward_state`, :meth:`decode`) let a stream run
    the same computation frame by frame."""

    def __init__(self, config: TemporalRefinerConfig = TemporalRefinerConfig()) -> None:
        super().__init__()
        self.config = config
        c, h = config.features, config.hidden
        self.encoder = nn.Sequential(_conv(4, c // 2 or 1, 2), _conv(c // 2 or 1, c, 2), _conv(c, c))
        self.sparsity = SparsityPredictor(c)
        self.forward_gru = ConvGRUCell(c, h) if config.gru != "none" else None
        self.backward_gru = ConvGRUCell(c, h) if config.gru == "bidirectional" else None
        directions = GRU_MODES.index(config.gru)
        self.join = nn.Sequential(nn.Conv2d(c + directions * h, c, 1), nn.ReLU(inplace=True))
        self.decoder = nn.Sequential(_conv(c + 5, config.decoder), _conv(config.decoder, config.decoder))
        self.residual = nn.Conv2d(config.decoder, 1, 3, padding=1)
        nn.init.zeros_(self.residual.weight)
        nn.init.zeros_(self.residual.bias)

    def encode(self, image: Tensor, coarse: Tensor) -> Tensor:
        """``image`` ``(B, 3, H, W)``, ``coarse`` ``(B, 1, H, W)`` -> features ``(B, C, ceil(H/4), ceil(W/4))``."""
        return self.encoder(torch.cat([image, coarse], 1))

    def change_logits(self, previous: Tensor, current: Tensor, size: tuple[int, int]) -> Tensor:
        """Change logits ``(B, 1, *size)`` between two frames' features ``(B, C, h, w)``."""
        return F.interpolate(self.sparsity(previous, current), size=size, mode="bilinear", align_corners=False)

    def forward_state(self, features: Tensor, state: Tensor | None) -> Tensor | None:
        """One step of the forward Conv-GRU (``None`` when the mode has none)."""
        return None if self.forward_gru is None else self.forward_gru(features, state)

    def backward_state(self, features: list[Tensor]) -> Tensor | None:
        """The backward Conv-GRU's state at ``features[0]`` after running from a zero state at ``features[-1]``."""
        if self.backward_gru is None:
            return None
        state = None
        for item in reversed(features):
            state = self.backward_gru(item, state)
        return state

    def decode(
        self,
        image: Tensor,
        coarse: Tensor,
        features: Tensor,
        forward_state: Tensor | None,
        backward_state: Tensor | None,
        change: Tensor | None,
    ) -> Tensor:
        """Refined matte ``(B, 1, H, W)``; ``change`` ``(B, 1, H, W)`` is the change probability (``None`` on a
        person's first frame, where only the uncertain band may be edited)."""
        joined = self.join(torch.cat([s for s in (features, forward_state, backward_state) if s is not None], 1))
        band = self.band(coarse)
        if change is not None:
            band = torch.maximum(band, (change > CHANGE_PROBABILITY).float())
        up = F.interpolate(joined, size=coarse.shape[-2:], mode="bilinear", align_corners=False)
        residual = torch.tanh(self.residual(self.decoder(torch.cat([up, image, coarse, band], 1))))
        return (coarse + band * residual).clamp(0, 1)

    def band(self, coarse: Tensor) -> Tensor:
        """``(B, 1, H, W)`` in {0, 1}: where the coarse matte is neither 0 nor 1, grown by ``config.band`` px."""
        uncertain = ((coarse > CERTAIN_MARGIN) & (coarse < 1 - CERTAIN_MARGIN)).float()
        grow = self.config.band
        return F.max_pool2d(uncertain, 2 * grow + 1, stride=1, padding=grow) if grow > 0 else uncertain

    def forward(self, images: Tensor, coarse: Tensor, lookahead: int | None = None) -> RefinerOutput:
        """``images`` ``(B, T, 3, H, W)``, ``coarse`` ``(B, T, 1, H, W)``; ``lookahead`` bounds the backward pass
        (``None``: to the end of the clip)."""
        length = images.shape[1]
        size = images.shape[-2:]
        features = [self.encode(images[:, t], coarse[:, t]) for t in range(length)]
        logits = [torch.zeros_like(coarse[:, 0])]
        logits += [self.change_logits(features[t - 1], features[t], size) for t in range(1, length)]
        if self.backward_gru is None:
            backward = [None] * length
        elif lookahead is None:
            # One sweep gives every frame the state of a pass that starts at the clip's last frame.
            backward, state = [], None
            for t in range(length - 1, -1, -1):
                state = self.backward_gru(features[t], state)
                backward.append(state)
            backward.reverse()
        else:
            backward = [self.backward_state(features[t : min(t + lookahead, length - 1) + 1]) for t in range(length)]
        refined, state = [], None
        for t in range(length):
            state = self.forward_state(features[t], state)
            change = torch.sigmoid(logits[t]).detach() if t > 0 else None
            refined.append(self.decode(images[:, t], coarse[:, t], features[t], state, backward[t], change))
        return RefinerOutput(alpha=torch.stack(refined, 1), change_logits=torch.stack(logits, 1))
