"""Inst-MP (section 3.2): instance queries, guidance identity, uncertainty-guided refinement, predictors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vmat.decomposition.mpmat.config import MPMatConfig
from vmat.decomposition.mpmat.layers import masked_average, mlp, sine_positions


def top_fraction_mask(scores: Tensor, fraction: float) -> Tensor:
    """Refinement masks ``R_i``: 1 at the ``ceil(fraction * h * w)`` highest scores of each map, else 0.

    ``scores (B, Q, h, w)`` -> ``(B, Q, h, w)`` float. Ties are broken by ``torch.topk``; exactly that many
    pixels are selected per map (at least one).
    """
    flat = scores.flatten(2)
    count = max(1, math.ceil(fraction * flat.shape[2]))
    chosen = torch.zeros_like(flat).scatter_(2, flat.topk(count, dim=2).indices, 1.0)
    return chosen.view_as(scores)


class DecoderLayer(nn.Module):
    """One transformer decoder layer (pre-norm): self-attention among queries, cross-attention to SG-MP, FFN.

    ``forward(queries (B, Q, D), query_pos (Q, D), memory (B, L, D), memory_pos (L, D)) -> (B, Q, D)``.
    """

    def __init__(self, width: int, heads: int, feedforward: int) -> None:
        super().__init__()
        self.self_norm, self.cross_norm, self.ffn_norm = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.self_attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.cross_attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(width, feedforward), nn.GELU(), nn.Linear(feedforward, width))

    def forward(self, queries: Tensor, query_pos: Tensor, memory: Tensor, memory_pos: Tensor) -> Tensor:
        x = self.self_norm(queries)
        queries = queries + self.self_attention(x + query_pos, x + query_pos, x, need_weights=False)[0]
        x = self.cross_norm(queries)
        queries = queries + self.cross_attention(x + query_pos, memory + memory_pos, memory, need_weights=False)[0]
        return queries + self.ffn(self.ffn_norm(queries))


class Refinement(nn.Module):
    """Eq. 6: an embedding joined with its refinement-region descriptor, then self-attention across instances.

    ``forward(embeddings (B, Q, D), region (B, Q, E)) -> (B, Q, D)``. ``region`` summarises ``R_i`` (the
    pixel features averaged over the instance's most uncertain pixels), so a vector can be concatenated.
    """

    def __init__(self, width: int, region: int, heads: int) -> None:
        super().__init__()
        self.join = nn.Linear(width + region, width)
        self.attention = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True, norm_first=True
        )

    def forward(self, embeddings: Tensor, region: Tensor) -> Tensor:
        return self.attention(self.join(torch.cat([embeddings, region], 2)))


@dataclass
class InstanceEmbeddings:
    matte: Tensor  # (B, 1+K, E_m) dotted with PixelFeatures.matte
    colour: Tensor | None  # (B, 1+K, 3, E_c) dotted with PixelFeatures.colour, one embedding per RGB channel;
    # None when the config has no colour estimation
    object_logits: Tensor  # (B, 1+K)
    uncertainty_logits: Tensor  # (B, 1+K, h, w)


class InstanceDecoder(nn.Module):
    """Query 0 is the background, queries ``1..M`` are tied to guidance masks ``1..M``, the rest are free.

    ``forward(sg_mp (B, C + N, h, w), coarse (B, E, h, w), guidance (B, M, h, w)) -> InstanceEmbeddings``.

    Video identity: guided query ``m`` gets an id embedding from the SG-MP features averaged under guidance
    mask ``m``, added to its learned slot query, so the same person lands on plane ``m`` in every frame
    given the same guidance slot. A slot with an empty mask gets no id embedding.

    Ablations: without colour estimation the colour head, its refinement and predictor are not built; without
    refinement (T = 0) the heads' embeddings go to the predictors as they are.
    """

    def __init__(self, config: MPMatConfig) -> None:
        super().__init__()
        width, count = config.hidden, 1 + config.queries
        self.slots = config.guided_slots
        self.uncertain_fraction = config.uncertain_fraction
        self.memory = nn.Conv2d(config.feature_channels + config.sg_mp_planes, width, 1)
        self.query_features = nn.Parameter(torch.randn(count, width) * 0.02)
        self.query_positions = nn.Parameter(torch.randn(count, width) * 0.02)
        self.identity = mlp(width, width, width)
        self.layers = nn.ModuleList(
            DecoderLayer(width, config.heads, config.feedforward) for _ in range(config.decoder_layers)
        )
        self.norm = nn.LayerNorm(width)
        self.opacity_head = mlp(width, width, width)
        colour, refine = config.colour_estimation, config.refinement
        # Creation order is that of the full network, so its state dict and seeded initialisation stay the same.
        self.colour_head = mlp(width, width, width) if colour else None
        self.uncertainty_head = mlp(width, width, config.embedding)
        self.object_head = nn.Linear(width, 1)
        self.refine_opacity = Refinement(width, config.embedding, config.heads) if refine else None
        self.refine_colour = Refinement(width, config.embedding, config.heads) if refine and colour else None
        self.matte_predictor = mlp(width, width, config.embedding + config.guided_slots + 1)
        self.colour_width = config.embedding + 4
        self.colour_predictor = mlp(width, width, 3 * self.colour_width) if colour else None

    def forward(self, sg_mp: Tensor, coarse: Tensor, guidance: Tensor) -> InstanceEmbeddings:
        batch, _, height, width = sg_mp.shape
        memory_map = self.memory(sg_mp)
        memory = memory_map.flatten(2).transpose(1, 2)
        memory_pos = sine_positions(memory.shape[2], height, width, sg_mp.device).to(memory.dtype)

        guided = (guidance.flatten(2).sum(2) > 0).to(memory.dtype)[..., None]  # (B, M, 1)
        identity = self.identity(masked_average(memory_map, guidance)) * guided
        queries = self.query_features[None].expand(batch, -1, -1)
        guided_queries = queries[:, 1 : 1 + self.slots] + identity
        queries = torch.cat([queries[:, :1], guided_queries, queries[:, 1 + self.slots :]], 1)
        for layer in self.layers:
            queries = layer(queries, self.query_positions, memory, memory_pos)
        queries = self.norm(queries)

        uncertainty = torch.einsum("bqe,behw->bqhw", self.uncertainty_head(queries), coarse)
        opacity = self.opacity_head(queries)
        colour = None if self.colour_head is None else self.colour_head(queries)
        if self.refine_opacity is not None:
            region = masked_average(coarse, top_fraction_mask(uncertainty.detach(), self.uncertain_fraction))
            opacity = self.refine_opacity(opacity, region)
            # The colour modules exist exactly when colours are estimated (colour is not None then).
            if colour is not None and self.refine_colour is not None:
                colour = self.refine_colour(colour, region)
        if colour is not None and self.colour_predictor is not None:
            colour = self.colour_predictor(colour).view(batch, -1, 3, self.colour_width)
        return InstanceEmbeddings(
            matte=self.matte_predictor(opacity),
            colour=colour,
            object_logits=self.object_head(queries)[..., 0],
            uncertainty_logits=uncertainty,
        )
