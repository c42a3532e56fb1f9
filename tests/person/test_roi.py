"""ROI geometry, crops and their inverse: exact where the maths is exact."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from vmat.person.roi import (
    ROI_SCALE,
    Rois,
    crop_rois,
    project_points,
    rois_from_boxes,
    rois_from_keypoints,
    rois_from_landmarks,
    rois_from_points,
    uncrop,
)

S = 256


def ramp(height: int, width: int, a: float = 0.3, b: float = -0.2, c: float = 5.0) -> tuple[torch.Tensor, Callable]:
    """A frame ``(1, 3, H, W)`` whose value at pixel centre ``(x, y)`` (continuous) is linear in x and y,
    so bilinear sampling inside it is exact; and that function."""

    def value(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return a * x + b * y + c

    ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    channel = value(xs.double(), ys.double())
    return torch.stack([channel, 2 * channel, -channel])[None], value


def test_upright_body_gives_an_unrotated_square():
    rois = rois_from_keypoints(torch.tensor([[100.0, 200.0]]), torch.tensor([[100.0, 120.0]]))
    assert rois.rotation.item() == 0.0
    assert rois.size.item() == pytest.approx(2 * 80 * ROI_SCALE)
    assert rois.center.tolist() == [[100.0, 200.0]]
    assert rois.frame.tolist() == [0]


@pytest.mark.parametrize("angle", [0.0, 0.4, -1.2, math.pi / 2, 2.9, -3.0])
def test_the_extent_point_is_straight_up_in_the_crop(angle):
    # The body's "up" (centre -> extent) at any angle becomes the crop's up, at the ROI's scale.
    center = torch.tensor([[300.0, 250.0]], dtype=torch.float64)
    distance = 90.0
    direction = torch.tensor([[math.sin(angle), -math.cos(angle)]], dtype=torch.float64)  # angle 0: up
    rois = rois_from_keypoints(center, center + distance * direction)
    assert -math.pi <= rois.rotation.item() < math.pi
    assert rois.rotation.item() == pytest.approx(angle, abs=1e-9)
    up = S / 2 - S / (2 * ROI_SCALE)  # the extent point lies 1/1.25 of the half-side above the centre
    mapped = project_points(torch.tensor([[[S / 2, S / 2], [S / 2, up]]], dtype=torch.float64), rois, S)
    torch.testing.assert_close(mapped[0, 0], center[0], rtol=0, atol=1e-9)
    torch.testing.assert_close(mapped[0, 1], (center + distance * direction)[0], rtol=0, atol=1e-9)


def test_landmark_rois_use_the_auxiliary_points():
    landmarks = torch.zeros(2, 39, 5)
    landmarks[:, 33, :2] = torch.tensor([[50.0, 60.0], [10.0, 10.0]])
    landmarks[:, 34, :2] = torch.tensor([[50.0, 20.0], [40.0, 10.0]])
    rois = rois_from_landmarks(landmarks, torch.tensor([3, 1]))
    assert rois.center.tolist() == [[50.0, 60.0], [10.0, 10.0]]
    assert rois.size.tolist() == pytest.approx([80 * ROI_SCALE, 60 * ROI_SCALE])
    assert rois.rotation.tolist() == pytest.approx([0.0, math.pi / 2])
    assert rois.frame.tolist() == [3, 1]


def test_box_and_point_rois_are_upright_squares():
    rois = rois_from_boxes(torch.tensor([[10, 20, 50, 120]]), scale=1.5)
    assert rois.center.tolist() == [[30.0, 70.0]] and rois.size.tolist() == [150.0] and rois.rotation.tolist() == [0.0]
    # The crop's outer corners are the square's corners.
    corners = project_points(torch.tensor([[[0.0, 0.0], [S, S]]]), rois, S)
    assert corners.tolist() == [[[-45.0, -5.0], [105.0, 145.0]]]
    points = rois_from_points(torch.tensor([[5.0, 6.0], [7.0, 8.0]]), 64.0, torch.tensor([0, 2]))
    assert points.size.tolist() == [64.0, 64.0] and points.frame.tolist() == [0, 2]


def test_projection_scales_distances_and_depth():
    rois = Rois(torch.tensor([[320.0, 240.0]]), torch.tensor([512.0]), torch.tensor([0.7]), torch.tensor([0]))
    points = torch.tensor([[[10.0, 20.0, 8.0], [200.0, 31.0, -4.0]]], dtype=torch.float64)
    mapped = project_points(points, rois, S)
    assert mapped[0, :, 2].tolist() == pytest.approx([16.0, -8.0])  # 512 / 256 frame pixels per crop pixel
    # Distances scale by size / S whatever the rotation.
    assert torch.linalg.vector_norm(mapped[0, 0, :2] - mapped[0, 1, :2]).item() == pytest.approx(
        2 * torch.linalg.vector_norm(points[0, 0, :2] - points[0, 1, :2]).item()
    )


def test_crop_samples_the_frame_where_the_roi_says():
    frame, value = ramp(200, 300)
    rois = Rois(
        torch.tensor([[150.0, 100.0], [120.0, 90.0]]),
        torch.tensor([120.0, 60.0]),
        torch.tensor([0.3, -2.0]),
        torch.tensor([0, 0]),
    )
    crops = crop_rois(frame, rois, 64)
    steps = torch.arange(64, dtype=torch.float64)
    v, u = torch.meshgrid(steps, steps, indexing="ij")
    where = project_points(torch.stack([u, v], -1).view(1, -1, 2).expand(2, -1, -1), rois, 64)
    expected = value(where[..., 0], where[..., 1]).view(2, 64, 64)
    torch.testing.assert_close(crops[:, 0], expected, rtol=0, atol=1e-9)
    torch.testing.assert_close(crops[:, 1], 2 * expected, rtol=0, atol=1e-9)


def test_crops_come_from_their_own_frame_and_repeat_the_border():
    frames = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 3, 40, 50).clone()
    frames[1, :, :, 25:] = 7.0  # the right half of frame 1
    rois = Rois(
        torch.tensor([[10.0, 10.0], [45.0, 20.0], [20.0, 20.0]]),
        torch.tensor([20.0, 30.0, 10.0]),
        torch.zeros(3),
        torch.tensor([2, 1, 0]),
    )
    crops = crop_rois(frames, rois, 16)
    assert (crops[0] == 2).all() and (crops[2] == 0).all()
    # ROI 1 reaches 15 pixels past the right edge: what lies beyond is the edge column, repeated (bilinear
    # weights between two equal pixels may round to an ulp off 7; the left half would be 1).
    torch.testing.assert_close(crops[1], torch.full_like(crops[1], 7.0), rtol=0, atol=1e-6)


def test_uncrop_puts_each_crop_pixel_back_and_zero_outside():
    f64 = torch.float64
    rois = Rois(
        torch.tensor([[90.0, 70.0]], dtype=f64),
        torch.tensor([80.0], dtype=f64),
        torch.tensor([0.5], dtype=f64),
        torch.tensor([0]),
    )
    # A crop that is linear in crop coordinates: its warp is exact inside the crop's pixel grid.
    steps = torch.arange(S, dtype=torch.float64)
    v, u = torch.meshgrid(steps, steps, indexing="ij")
    crop = (0.002 * u - 0.001 * v + 0.5)[None, None]
    pasted = uncrop(crop, rois, (150, 200))[0, 0]
    ys, xs = torch.meshgrid(torch.arange(150) + 0.5, torch.arange(200) + 0.5, indexing="ij")
    centres = torch.stack([xs, ys], -1).double()
    # Frame pixel centres in crop pixels, by inverting the projection.
    affine = rois.crop_to_frame(S)[0]
    uv = (centres - affine[:, 2]) @ torch.linalg.inv(affine[:, :2]).T
    inside = ((uv >= 0) & (uv <= S - 1)).all(-1)
    outside = ((uv < -1) | (uv > S)).any(-1)
    expected = 0.002 * uv[..., 0] - 0.001 * uv[..., 1] + 0.5
    torch.testing.assert_close(pasted[inside], expected[inside], rtol=0, atol=1e-9)
    assert (pasted[outside] == 0).all()
    assert inside.sum() > 0.9 * 80 * 80 * (S - 1) ** 2 / S**2 and outside.sum() > 0


def test_crop_then_uncrop_round_trips_a_smooth_frame():
    frame, _ = ramp(120, 160)
    f64 = torch.float64
    rois = Rois(
        torch.tensor([[80.0, 60.0]], dtype=f64),
        torch.tensor([70.0], dtype=f64),
        torch.tensor([-0.25], dtype=f64),
        torch.tensor([0]),
    )
    back = uncrop(crop_rois(frame, rois, S), rois, (120, 160))[0]
    # Frame pixels well inside the ROI (bilinear of bilinear is exact on a linear frame).
    ys, xs = torch.meshgrid(torch.arange(120) + 0.5, torch.arange(160) + 0.5, indexing="ij")
    turn = torch.tensor([[math.cos(0.25), -math.sin(0.25)], [math.sin(0.25), math.cos(0.25)]])
    inside = ((torch.stack([xs - 80, ys - 60], -1) @ turn.T).abs() < 30).all(-1)
    torch.testing.assert_close(back[:, inside], frame[0][:, inside], rtol=0, atol=1e-9)


@pytest.mark.gpu
def test_crop_and_uncrop_on_cuda_match_the_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    frames = torch.rand(2, 3, 90, 120, generator=torch.Generator().manual_seed(0))
    rois = Rois(
        torch.tensor([[60.0, 45.0], [30.0, 40.0]]), torch.tensor([80.0, 50.0]), torch.tensor([0.2, -1.0]), torch.tensor([1, 0])
    )
    on_cpu = uncrop(crop_rois(frames, rois, S), rois, (90, 120))
    on_gpu = uncrop(crop_rois(frames.cuda(), rois.to("cuda"), S), rois.to("cuda"), (90, 120)).cpu()
    assert (on_cpu - on_gpu).abs().max() <= 1e-4


def _bilinear_border(frame: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Reference: ``frame (C, H, W)`` sampled at continuous frame points ``(..., 2)``, edge pixels repeated."""
    height, width = frame.shape[-2:]
    x, y = points[..., 0] - 0.5, points[..., 1] - 0.5
    x0, y0 = torch.floor(x), torch.floor(y)
    out = 0
    for dx, wx in ((0, x0 + 1 - x), (1, x - x0)):
        for dy, wy in ((0, y0 + 1 - y), (1, y - y0)):
            xi = (x0 + dx).clamp(0, width - 1).long()
            yi = (y0 + dy).clamp(0, height - 1).long()
            out = out + frame[:, yi, xi] * (wx * wy)
    return out


def test_crops_read_only_their_window_and_match_the_whole_frame_sampled():
    # uint8 frames (divided by 255) and ROIs inside, across the edge, and wholly past it: each crop is the
    # frame sampled bilinearly with the edge repeated, whatever window crop_rois reads it from.
    frames = torch.randint(0, 256, (2, 3, 60, 90), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    rois = Rois(
        torch.tensor([[40.0, 30.0], [85.0, 10.0], [150.0, 80.0], [20.0, 50.0]]),
        torch.tensor([30.0, 50.0, 20.0, 70.0]),
        torch.tensor([0.3, -0.7, 0.0, 2.0]),
        torch.tensor([0, 1, 1, 0]),
    )
    crops = crop_rois(frames, rois, 32)
    affine = rois.crop_to_frame(32).double()
    steps = torch.arange(32, dtype=torch.float64)
    v, u = torch.meshgrid(steps, steps, indexing="ij")
    for n in range(len(rois)):
        points = torch.stack([u, v], -1) @ affine[n, :, :2].T + affine[n, :, 2]
        expected = _bilinear_border(frames[rois.frame[n]].double() / 255, points)
        torch.testing.assert_close(crops[n].double(), expected, rtol=0, atol=1e-5)


def test_uncrop_onto_a_smaller_grid_is_uncrop_of_the_rois_scaled_to_it():
    crops = torch.rand(2, 1, S, S, generator=torch.Generator().manual_seed(2))
    rois = Rois(
        torch.tensor([[100.0, 80.0], [30.0, 150.0]]), torch.tensor([120.0, 90.0]), torch.tensor([0.4, 0.0]), torch.tensor([0, 0])
    )
    small = uncrop(crops, rois, (180, 240), (90, 120))
    half = Rois(rois.center / 2, rois.size / 2, rois.rotation, rois.frame)
    expected = uncrop(crops, half, (90, 120))
    assert small.shape == (2, 1, 90, 120)
    torch.testing.assert_close(small, expected, rtol=0, atol=1e-5)
    assert (small[1, 0, :30] == 0).all()  # far from ROI 1
