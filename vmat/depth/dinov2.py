"""DINOv2 ViT-S/14 image encoder, the backbone of Depth-Anything-V2-Small.

Module and parameter names follow the published checkpoint (``pretrained.*`` keys) so that it loads
with ``load_state_dict(strict=True)``. Only the inference path is implemented: no masking, no
registers, no stochastic depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class ViTConfig:
    """Size of a DINOv2 vision transformer (defaults: ViT-S/14 as pretrained at 518x518)."""

    patch_size: int = 14
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    # The position embedding was learnt for a 37x37 patch grid (518 / 14); other grids are interpolated.
    pretrain_image_size: int = 518
    layer_norm_eps: float = 1e-6
    # DINOv2 adds 0.1 to the target grid size before computing the bicubic scale factor, to dodge
    # floor() rounding errors in the output size; the checkpoint was trained with it.
    interpolate_offset: float = 0.1
    intermediate_layers: tuple[int, ...] = field(default=(2, 5, 8, 11))


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection: ``(B, 3, H, W)`` -> ``(B, (H/p)*(W/p), D)``."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention over ``(B, N, D)`` tokens."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Two-layer feed-forward network with exact GELU."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    """Learnt per-channel scale of a residual branch."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-5))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with layer scale on both residual branches."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attn = Attention(dim, config.num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


def interpolate_pos_embed(pos_embed: Tensor, grid_h: int, grid_w: int, offset: float) -> Tensor:
    """Resize a square grid of patch position embeddings to ``grid_h x grid_w`` as DINOv2 does.

    ``pos_embed`` is ``(1, 1 + N, D)`` with the class token's embedding first and ``N`` a square.
    Bicubic, no antialiasing, driven by a scale factor of ``(grid + offset) / sqrt(N)``: the scale
    factor (not the output size) sets the sampling positions, which changes the result slightly.
    Returns ``(1, 1 + grid_h * grid_w, D)``.
    """
    n = pos_embed.shape[1] - 1
    if n == grid_h * grid_w and grid_h == grid_w:
        return pos_embed
    side = int(math.sqrt(n))
    dim = pos_embed.shape[-1]
    cls_embed = pos_embed[:, :1]
    grid = pos_embed[:, 1:].float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    scale = ((grid_h + offset) / math.sqrt(n), (grid_w + offset) / math.sqrt(n))
    grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", align_corners=False)
    if grid.shape[-2:] != (grid_h, grid_w):
        raise AssertionError(f"position grid came out {tuple(grid.shape[-2:])}, expected {(grid_h, grid_w)}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim).to(pos_embed.dtype)
    return torch.cat((cls_embed, grid), dim=1)


class DinoVisionTransformer(nn.Module):
    """DINOv2 encoder returning normalised patch tokens of selected blocks.

    Input ``(B, 3, H, W)`` with ``H`` and ``W`` multiples of the patch size (ImageNet-normalised).
    """

    def __init__(self, config: ViTConfig | None = None) -> None:
        super().__init__()
        self.config = config or ViTConfig()
        c = self.config
        num_patches = (c.pretrain_image_size // c.patch_size) ** 2
        self.patch_embed = PatchEmbed(c.patch_size, c.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, c.embed_dim))
        # Used only for masked-image pretraining; kept so that the checkpoint loads strictly.
        self.mask_token = nn.Parameter(torch.zeros(1, c.embed_dim))
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.embed_dim, eps=c.layer_norm_eps)

    def forward(self, x: Tensor) -> list[Tensor]:
        """``(B, 3, H, W)`` -> one ``(B, (H/14)*(W/14), D)`` tensor per intermediate layer.

        Tokens are after the final LayerNorm, without the class token, in row-major patch order.
        """
        c = self.config
        height, width = x.shape[-2:]
        if height % c.patch_size or width % c.patch_size:
            raise ValueError(f"input size {height}x{width} is not a multiple of the patch size {c.patch_size}")
        tokens = self.patch_embed(x)
        tokens = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), tokens), dim=1)
        pos = interpolate_pos_embed(self.pos_embed, height // c.patch_size, width // c.patch_size, c.interpolate_offset)
        tokens = tokens + pos
        outputs = []
        for i, block in enumerate(self.blocks):
            tokens = block(tokens)
            if i in c.intermediate_layers:
                outputs.append(self.norm(tokens)[:, 1:])
        return outputs
