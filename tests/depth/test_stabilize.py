from __future__ import annotations

import pytest
import torch

from vmat.depth import DepthStabilizer, StabilizerConfig, fit_scale_shift


def test_fit_scale_shift_hand_computed():
    depth = torch.tensor([0.0, 1.0, 2.0, 10.0])
    reference = torch.tensor([1.0, 3.0, 5.0, -7.0])  # 2 * d + 1 except the last, weighted out
    scale, shift = fit_scale_shift(depth, reference, torch.tensor([1.0, 1.0, 1.0, 0.0]))
    assert scale.item() == pytest.approx(2.0, abs=1e-6) and shift.item() == pytest.approx(1.0, abs=1e-6)


def test_flat_frame_keeps_scale_one():
    scale, shift = fit_scale_shift(torch.full((4,), 0.3), torch.tensor([0.0, 1.0, 0.0, 1.0]), torch.ones(4))
    assert scale.item() == 1.0 and shift.item() == pytest.approx(0.2, abs=1e-6)


def _scene(num_frames: int, approach: float = 0.02, height: int = 37, width: int = 53) -> tuple[torch.Tensor, torch.Tensor]:
    """A static depth map in [0.1, 0.9] and a square 'person' moving across it (and by ``approach`` in
    depth per frame), with its id masks."""
    generator = torch.Generator().manual_seed(3)
    base = 0.1 + 0.8 * torch.rand(1, 1, height, width, generator=generator)
    frames, masks = [], []
    for t in range(num_frames):
        depth, mask = base.clone(), torch.zeros(1, height, width, dtype=torch.long)
        depth[..., 10:20, 4 * t : 4 * t + 9] = 0.05 + approach * t
        mask[:, 10:20, 4 * t : 4 * t + 9] = 1
        frames.append(depth)
        masks.append(mask)
    return torch.cat(frames), torch.cat(masks)


def test_removes_injected_scale_shift_flicker_exactly():
    clean, masks = _scene(6)
    scales = torch.tensor([1.0, 0.7, 1.3, 0.5, 1.1, 0.9]).view(-1, 1, 1, 1)
    shifts = torch.tensor([0.0, 0.2, -0.1, 0.3, 0.05, -0.02]).view(-1, 1, 1, 1)
    flickering = scales * clean + shifts
    stabilizer = DepthStabilizer(StabilizerConfig(fit_size=16))
    state, out = None, []
    for t in range(6):  # streamed one frame at a time, state passed back explicitly
        aligned, state = stabilizer(flickering[t : t + 1], state, masks[t : t + 1])
        out.append(aligned)
    assert torch.allclose(torch.cat(out), clean, atol=1e-5)
    assert state.shape == (1, 2, 11, 16)


def test_batched_and_streamed_agree():
    clean, masks = _scene(4)
    flickering = torch.tensor([1.0, 0.8, 1.2, 0.6]).view(-1, 1, 1, 1) * clean + 0.1
    stabilizer = DepthStabilizer()
    batched, state_b = stabilizer(flickering, None, masks)
    first, state = stabilizer(flickering[:2], None, masks[:2])
    second, state = stabilizer(flickering[2:], state, masks[2:])
    assert torch.allclose(batched, torch.cat([first, second])) and torch.allclose(state_b, state)


@pytest.mark.parametrize("keep_fraction, exact", [(0.8, True), (1.0, False)])
def test_unmasked_moving_object_is_trimmed_away(keep_fraction, exact):
    clean, _ = _scene(2, approach=0.0)
    flickering = torch.stack([clean[0], 1.25 * clean[1] - 0.05])
    # No masks: the moved square (4% of the cells differ) must be rejected by the robust refit;
    # a plain least-squares fit is pulled off by it.
    stabilizer = DepthStabilizer(StabilizerConfig(fit_size=53, keep_fraction=keep_fraction))
    aligned, _ = stabilizer(flickering, None)
    error = (aligned[1] - clean[1]).abs().max().item()
    assert (error < 1e-5) if exact else (error > 1e-3)


def test_first_frame_without_static_cells_passes_through():
    depth = torch.rand(2, 1, 6, 6)
    masks = torch.ones(2, 6, 6, dtype=torch.long)
    aligned, state = DepthStabilizer()(0.5 * depth, None, masks)
    assert torch.equal(aligned, 0.5 * depth) and state[:, 1].sum() == 0


def test_bad_settings():
    with pytest.raises(ValueError, match="keep_fraction"):
        DepthStabilizer(StabilizerConfig(keep_fraction=0.0))
    with pytest.raises(ValueError, match="momentum"):
        DepthStabilizer(StabilizerConfig(momentum=1.5))
