"""A tiny hand-made decomposition batch following the shared training-batch contract."""

from __future__ import annotations

import torch


def disc(height: int, width: int, centre: tuple[float, float], radius: float) -> torch.Tensor:
    """A soft-edged disc ``(H, W)`` in [0, 1], centre given as (row, column)."""
    rows = torch.arange(height, dtype=torch.float32)[:, None]
    cols = torch.arange(width, dtype=torch.float32)[None]
    distance = ((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2).sqrt()
    return (radius - distance + 0.5).clamp(0.0, 1.0)


def tiny_batch(height: int = 32, width: int = 48, slots: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """Two frames, two people each (person 0 in front), slot 2 padding; in frame 1 person 1 has no guidance."""
    generator = torch.Generator().manual_seed(seed)
    batch = 2
    own = torch.zeros(batch, slots, height, width)
    own[:, 0] = disc(height, width, (height * 0.5, width * 0.35), height * 0.3)
    own[:, 1] = disc(height, width, (height * 0.45, width * 0.65), height * 0.3)
    alpha = own.clone()
    alpha[:, 1] = own[:, 1] * (1.0 - own[:, 0])  # visible weight behind person 0
    foreground = torch.zeros(batch, slots, 3, height, width)
    foreground[:, 0] = torch.tensor([0.9, 0.2, 0.1])[:, None, None]
    foreground[:, 1] = torch.tensor([0.1, 0.3, 0.9])[:, None, None]
    background = 0.3 + 0.4 * torch.rand(batch, 3, height, width, generator=generator)
    image = (1.0 - alpha.sum(1, keepdim=True)) * background + (alpha[:, :, None] * foreground).sum(1)
    rows = torch.linspace(0.0, 1.0, height)[:, None].expand(height, width)
    depth = (1.0 - 0.5 * rows).expand(batch, 1, height, width).clone()
    depth = torch.where(own[:, :1] > 0.5, torch.full_like(depth, 0.2), depth)
    depth = torch.where((own[:, 1:2] > 0.5) & (own[:, :1] <= 0.5), torch.full_like(depth, 0.4), depth)
    present = alpha.flatten(2).sum(2) > 0
    guided = present.clone()
    guided[1, 1] = False
    guidance = (alpha > 0.5).float() * guided[..., None, None]
    return {
        "image": image,
        "depth": depth,
        "guidance": guidance,
        "alpha": alpha,
        "foreground": foreground,
        "background": background,
        "present": present,
        "guided": guided,
    }


def assert_output_contract(output, config, batch: int, height: int, width: int) -> None:
    """``output`` has the shapes the shared contract gives a ``config`` network on a ``(batch, 3, height, width)``
    input, and its weights sum to one per pixel (softmax over planes: to float precision)."""
    planes, features = 1 + config.queries, ((height + 3) // 4, (width + 3) // 4)
    assert output.weights.shape == (batch, planes, height, width)
    assert output.colour.shape == (batch, planes, 3, height, width)
    assert output.object_logits.shape == (batch, planes)
    assert output.uncertainty.shape == (batch, planes, height, width)
    assert output.features.shape == (batch, config.feature_channels, *features)
    assert output.plane_masks.shape == (batch, config.sg_mp_planes, *features)
    assert torch.allclose(output.weights.sum(1), torch.ones(batch, height, width), atol=1e-5)
