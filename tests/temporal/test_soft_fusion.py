import numpy as np
import pytest
import torch

from vmat.temporal.fusion import ForwardBackwardFusion, FusionConfig
from vmat.temporal.soft_fusion import soft_backward_pass, soft_forward_pass, soft_fusion

# One pixel over five frames: the matte drifts while nothing changes, then jumps where frame 3 changes.
ALPHAS = [0.5, 0.52, 0.49, 0.9, 0.91]
CHANGES = [0.0, 0.0, 0.0, 1.0, 0.0]


def _clip(values):
    return torch.tensor(values, dtype=torch.float64).reshape(1, -1, 1, 1, 1)


def test_binary_change_gives_equations_12_and_13_exactly():
    alpha, change = _clip(ALPHAS), _clip(CHANGES)
    assert soft_forward_pass(alpha, change).flatten().tolist() == [0.5, 0.5, 0.5, 0.9, 0.9]
    assert soft_backward_pass(alpha, change).flatten().tolist() == [0.49, 0.49, 0.49, 0.91, 0.91]
    assert soft_fusion(alpha, change, "forward").flatten().tolist() == [0.5, 0.5, 0.5, 0.9, 0.9]
    assert soft_fusion(alpha, change, "backward").flatten().tolist() == [0.49, 0.49, 0.49, 0.91, 0.91]
    assert soft_fusion(alpha, change, "none") is alpha


def test_a_change_probability_mixes_the_held_and_the_new_matte():
    alpha, change = _clip([0.2, 1.0]), _clip([0.0, 0.25])
    # A_f(1) = 0.25 * 1.0 + 0.75 * 0.2 = 0.4 ; A_b(0) = 0.25 * 0.2 + 0.75 * 1.0 = 0.8
    assert soft_forward_pass(alpha, change).flatten().tolist() == pytest.approx([0.2, 0.4])
    assert soft_backward_pass(alpha, change).flatten().tolist() == pytest.approx([0.8, 1.0])


def test_with_a_binary_map_the_soft_form_equals_the_streamed_inference_fusion():
    rng = np.random.default_rng(3)
    steps, height, width = 6, 5, 7
    alpha = rng.random((steps, height, width)).astype(np.float32)
    alpha[2] = alpha[1] + 0.005  # still stretches where the passes agree within the tolerance
    change = rng.random((steps, height, width)) > 0.6
    fusion = ForwardBackwardFusion(FusionConfig(lookahead=steps, tolerance=0.02))
    streamed = [fusion.push({1: a}, c) for a, c in zip(alpha, change)]
    assert all(s is None for s in streamed)
    streamed = np.stack([f[1] for f in fusion.flush()])
    soft = soft_fusion(torch.from_numpy(alpha)[None, :, None], torch.from_numpy(change).float()[None, :, None], "both", 0.02)
    # The soft agreement differs from the hard rule only for |A_f - A_b| strictly between tol and 2 tol.
    forward = soft_forward_pass(torch.from_numpy(alpha)[None, :, None], torch.from_numpy(change).float()[None, :, None])
    backward = soft_backward_pass(torch.from_numpy(alpha)[None, :, None], torch.from_numpy(change).float()[None, :, None])
    gap = (forward - backward).abs()[0, :, 0].numpy()
    outside = (gap <= 0.02) | (gap >= 0.04)
    assert outside.mean() > 0.9
    assert np.array_equal(soft[0, :, 0].numpy()[outside], streamed[outside])


def test_gradients_reach_the_mattes_and_the_change_probabilities():
    alpha = torch.rand(2, 4, 1, 3, 5, requires_grad=True)
    change = torch.rand(2, 4, 1, 3, 5, requires_grad=True)
    soft_fusion(alpha, change, "both", tolerance=0.5).sum().backward()
    assert alpha.grad.abs().sum() > 0 and change.grad.abs().sum() > 0


def test_bad_modes_and_tolerances_are_refused():
    alpha = torch.zeros(1, 2, 1, 1, 1)
    with pytest.raises(ValueError):
        soft_fusion(alpha, alpha, "sideways")
    with pytest.raises(ValueError):
        soft_fusion(alpha, alpha, "both", tolerance=0.0)
