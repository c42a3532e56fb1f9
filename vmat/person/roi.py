"""Regions of interest for the pose landmark network: where to crop a person, and mapping results back.

The logic follows MediaPipe's pose graphs (``pose_detection_to_roi``, ``pose_landmarks_to_roi``,
``pose_landmark_by_roi``): a person's ROI is a square, rotated so the body is upright in the crop,
centred on the hips. Its centre is one keypoint (the detector's keypoint 0, or auxiliary landmark 33 of
the previous landmarks); a second keypoint (detector keypoint 1, auxiliary landmark 34) lies on the
circle around the whole body, so twice their distance is the body's extent and the direction from the
first to the second is "up". The square is that extent times 1.25.

Coordinates: frame points are continuous frame pixels, pixel ``(i, j)`` covering ``[i, i + 1) x [j, j + 1)``
(as :mod:`vmat.person.detector` and boxes ``x0, y0, x1, y1`` with exclusive ends). Crop points are crop
pixel *indices* (pixel ``u`` at ``u``), because that is the grid MediaPipe's ``ImageToTensorCalculator``
samples (a ``boxPoints`` / ``getPerspectiveTransform`` warp sending crop pixel 0 to the ROI's corner) and
the network learnt: its landmarks and heatmaps are in it (checked on DAVIS frames: heatmap cell ``c``
placed at crop index ``4 c`` gives refined landmarks 0.3 crop pixels from the regressed ones, ``4 c + 2``
1.6). Crop point ``(u, v)`` is the frame point ``centre + size * R(rotation) @ (u / 256 - 1/2, v / 256 - 1/2)``
with ``R = [[cos, -sin], [sin, cos]]`` (y points down, so a positive rotation turns the crop clockwise on
screen).

Everything is batched over ``N`` ROIs that may belong to different frames of a ``(B, 3, H, W)`` batch
(:attr:`Rois.frame`), and runs on the frames' device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# MediaPipe's RectTransformationCalculator margin around the body for both detections and landmarks.
ROI_SCALE = 1.25
# Auxiliary landmarks of the landmark network: the hips' centre and a point on the body's circle.
CENTER_LANDMARK = 33
EXTENT_LANDMARK = 34


@dataclass(frozen=True)
class Rois:
    """``N`` square ROIs: ``center (N, 2)`` x, y and ``size (N,)`` in frame pixels, ``rotation (N,)`` in
    radians, ``frame (N,)`` long, the index of each ROI's frame in the batch."""

    center: Tensor
    size: Tensor
    rotation: Tensor
    frame: Tensor

    def __len__(self) -> int:
        return self.size.shape[0]

    def to(self, device: torch.device | str) -> Rois:
        return Rois(self.center.to(device), self.size.to(device), self.rotation.to(device), self.frame.to(device))

    def crop_to_frame(self, crop_size: int) -> Tensor:
        """``(N, 2, 3)`` affine maps from crop pixel indices to continuous frame pixels."""
        cos, sin = torch.cos(self.rotation), torch.sin(self.rotation)
        scale = self.size / crop_size
        linear = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2) * scale[:, None, None]
        offset = self.center - linear.sum(-1) * (crop_size / 2)  # the crop's centre goes to the ROI's
        return torch.cat([linear, offset[..., None]], -1)


def _frames(frame: Tensor | None, count: int, device: torch.device) -> Tensor:
    return torch.zeros(count, dtype=torch.long, device=device) if frame is None else frame.to(device).long()


def rois_from_keypoints(center: Tensor, extent: Tensor, frame: Tensor | None = None, scale: float = ROI_SCALE) -> Rois:
    """ROIs from a body's centre ``(N, 2)`` and a point on its circle ``(N, 2)`` (frame pixels).

    Size: ``2 * |extent - center| * scale``; rotation: what turns the centre-to-extent direction
    straight up (MediaPipe's ``rotation_vector_target_angle_degrees: 90``), in ``[-pi, pi)``.
    """
    delta = extent - center
    size = 2.0 * torch.linalg.vector_norm(delta, dim=-1) * scale
    rotation = math.pi / 2 - torch.atan2(-delta[:, 1], delta[:, 0])
    rotation = rotation - 2 * math.pi * torch.floor((rotation + math.pi) / (2 * math.pi))
    return Rois(center.clone(), size, rotation, _frames(frame, len(size), center.device))


def rois_from_landmarks(landmarks: Tensor, frame: Tensor | None = None, scale: float = ROI_SCALE) -> Rois:
    """ROIs from landmarks ``(N, 39, >= 2)`` in frame pixels, through the auxiliary landmarks 33 and 34."""
    return rois_from_keypoints(landmarks[:, CENTER_LANDMARK, :2], landmarks[:, EXTENT_LANDMARK, :2], frame, scale)


def rois_from_boxes(boxes: Tensor, frame: Tensor | None = None, scale: float = ROI_SCALE) -> Rois:
    """Upright square ROIs around boxes ``(N, 4)`` ``x0, y0, x1, y1`` (frame pixels): centred on the box,
    side ``scale`` times its longer side (a box has no keypoints; refine from landmarks afterwards)."""
    boxes = boxes.float()
    center = (boxes[:, :2] + boxes[:, 2:]) / 2
    size = (boxes[:, 2:] - boxes[:, :2]).amax(dim=-1) * scale
    return Rois(center, size, torch.zeros_like(size), _frames(frame, len(size), boxes.device))


def rois_from_points(points: Tensor, size: float | Tensor, frame: Tensor | None = None) -> Rois:
    """Upright square ROIs of side ``size`` (frame pixels) centred on ``points (N, 2)`` (e.g. clicks)."""
    points = points.float()
    sizes = torch.as_tensor(size, dtype=points.dtype, device=points.device).expand(points.shape[0]).clone()
    return Rois(points.clone(), sizes, torch.zeros_like(sizes), _frames(frame, len(sizes), points.device))


def _affine_grid(matrix: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
    """``matrix (N, 2, 3)`` applied to every ``(x, y)`` of ``xs (w,)`` x ``ys (h,)``: ``(N, h, w, 2)``.

    Separable, so it costs two multiply-adds per point (``F.affine_grid`` costs four times as much).
    """
    grid = xs.new_empty(matrix.shape[0], len(ys), len(xs), 2)
    for k in range(2):
        row = matrix[:, k]
        torch.add(row[:, 0, None, None] * xs, (row[:, 1, None] * ys + row[:, 2, None])[:, :, None], out=grid[..., k])
    return grid


def _homogeneous(affine: Tensor) -> Tensor:
    """``(..., 2, 3)`` affine maps -> ``(..., 3, 3)`` matrices."""
    last = torch.zeros_like(affine[..., :1, :])
    last[..., 0, 2] = 1
    return torch.cat([affine, last], -2)


def crop_rois(frames: Tensor, rois: Rois, crop_size: int) -> Tensor:
    """Resample each ROI of ``frames (B, C, H, W)`` to ``(N, C, crop_size, crop_size)`` float (bilinear).

    ``frames`` are float, or uint8 (then values are divided by 255). Outside the frame the edge pixels are
    repeated (MediaPipe's default ``BORDER_REPLICATE``). Each frame is sampled once for all its ROIs, and
    only the window of it that they reach is read (and converted to float), so the cost follows the ROIs,
    not the frame's size.
    """
    _, channels, height, width = frames.shape
    dtype = torch.float32 if frames.dtype == torch.uint8 else frames.dtype
    affine = rois.crop_to_frame(crop_size).to(dtype)
    steps = torch.arange(crop_size, device=frames.device, dtype=dtype)
    crops = torch.empty(len(rois), channels, crop_size, crop_size, device=frames.device, dtype=dtype)
    lows, highs = _reach(rois, 1.0, 1.0)
    for b in torch.unique(rois.frame).tolist():
        index = torch.nonzero(rois.frame == b).squeeze(1)
        # The window holds every pixel a bilinear sample of these ROIs reads; samples past the frame's edge
        # read the edge, which the window keeps wherever the ROIs cross it.
        (x0, y0), (x1, y1) = _window([lows[i] for i in index.tolist()], [highs[i] for i in index.tolist()], width, height)
        window = frames[b : b + 1, :, y0:y1, x0:x1]
        # In place: a new tensor from `/` loses the frame's layout and costs five times as much.
        window = window.to(dtype).div_(255.0) if frames.dtype == torch.uint8 else window
        # Crop pixel indices -> continuous frame pixels -> the window's grid_sample (align_corners=False) coordinates.
        w, h = x1 - x0, y1 - y0
        to_grid = affine.new_tensor([[2 / w, 0, -1 - 2 * x0 / w], [0, 2 / h, -1 - 2 * y0 / h], [0, 0, 1]])
        matrix = (to_grid @ _homogeneous(affine[index]))[:, :2]
        stacked = _affine_grid(matrix, steps, steps).reshape(1, -1, crop_size, 2)  # the ROIs one under the other
        sampled = F.grid_sample(window, stacked, mode="bilinear", padding_mode="border", align_corners=False)
        crops[index] = sampled.view(channels, len(index), crop_size, crop_size).transpose(0, 1)
    return crops


def _window(lows: list[list[int]], highs: list[list[int]], width: int, height: int) -> tuple[list[int], list[int]]:
    """The smallest ``[x0, y0]``, ``[x1, y1]`` holding every box ``lows[i]`` .. ``highs[i]``, clipped to the
    frame but never empty (a box past the frame's edge keeps that edge's pixels, which it reads)."""
    start, stop = [], []
    for k, size in ((0, width), (1, height)):
        low = min(max(0, min(box[k] for box in lows)), size - 1)
        start.append(low)
        stop.append(max(min(size, max(box[k] for box in highs)), low + 1))
    return start, stop


def _reach(rois: Rois, scale_x: float, scale_y: float) -> tuple[list[list[int]], list[list[int]]]:
    """Per ROI, the whole pixels ``[x0, y0]`` .. ``[x1, y1]`` (exclusive) of a grid ``scale_x, scale_y`` times
    the frame's that hold its rotated square and a 2-pixel margin (for bilinear reads and fades); not
    clipped to the frame."""
    reach = rois.size / 2 * (torch.cos(rois.rotation).abs() + torch.sin(rois.rotation).abs())
    scale = rois.center.new_tensor([scale_x, scale_y])
    lows = torch.floor((rois.center - reach[:, None]) * scale - 2).long().tolist()
    highs = torch.ceil((rois.center + reach[:, None]) * scale + 2).long().tolist()
    return lows, highs


def project_points(points: Tensor, rois: Rois, crop_size: int) -> Tensor:
    """Crop-pixel points ``(N, K, 2 or 3)`` -> frame pixels; a third coordinate (depth, same scale as x)
    is scaled by ``size / crop_size``."""
    affine = rois.crop_to_frame(crop_size).to(points.dtype)
    xy = points[..., :2] @ affine[:, :, :2].transpose(1, 2) + affine[:, None, :, 2]
    if points.shape[-1] == 2:
        return xy
    return torch.cat([xy, points[..., 2:3] * (rois.size / crop_size)[:, None, None].to(points.dtype)], -1)


def _frame_to_crop(rois: Rois, crop_size: int) -> Tensor:
    """``(N, 2, 3)`` inverse of :meth:`Rois.crop_to_frame`."""
    affine = rois.crop_to_frame(crop_size)
    inverse = torch.linalg.inv(affine[:, :, :2])
    return torch.cat([inverse, -inverse @ affine[:, :, 2:]], -1)


def uncrop(
    crops: Tensor, rois: Rois, frame_size: tuple[int, int], out_size: tuple[int, int] | None = None
) -> Tensor:
    """Warp per-ROI maps ``(N, C, S, S)`` back onto the frame: ``(N, C, H, W)``, 0 outside each ROI.

    Bilinear, with zeros past the crop's edge pixels, so a map fades to 0 over one crop pixel at the
    ROI's border: MediaPipe's ``WarpAffineCalculator`` with ``BORDER_ZERO``, which its pose graph uses
    to put the segmentation back (on probabilities, which scored 0.002 IoU above warping logits on
    DAVIS). Only the frame pixels within each ROI's bounding box are sampled. ``out_size`` ``(h, w)``: the
    maps on a grid of that size over the same frame (each output pixel samples at its centre's place in
    the frame), for callers that work on a smaller copy of the frame; default ``frame_size`` ``(H, W)``.
    """
    height, width = frame_size
    out_height, out_width = out_size if out_size is not None else frame_size
    count, channels, crop_size, _ = crops.shape
    out = crops.new_zeros(count, channels, out_height, out_width)
    lows, highs = _reach(rois, out_width / width, out_height / height)
    # Continuous frame pixels -> crop pixel indices -> grid_sample's align_corners=True coordinates.
    to_grid = crops.new_tensor([[2 / (crop_size - 1), 0, -1], [0, 2 / (crop_size - 1), -1], [0, 0, 1]])
    matrix = to_grid @ _homogeneous(_frame_to_crop(rois, crop_size).to(crops.dtype))
    if (out_height, out_width) != (height, width):
        # Output pixels -> continuous frame pixels.
        matrix = matrix @ crops.new_tensor([[width / out_width, 0, 0], [0, height / out_height, 0], [0, 0, 1]])
    matrix = matrix[:, :2]
    for n in range(count):
        (x0, y0), (x1, y1) = lows[n], highs[n]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, out_width), min(y1, out_height)
        if x1 <= x0 or y1 <= y0:
            continue
        xs = torch.arange(x0, x1, device=crops.device, dtype=crops.dtype) + 0.5  # pixel centres
        ys = torch.arange(y0, y1, device=crops.device, dtype=crops.dtype) + 0.5
        grid = _affine_grid(matrix[n : n + 1], xs, ys)
        out[n, :, y0:y1, x0:x1] = F.grid_sample(
            crops[n : n + 1], grid, mode="bilinear", padding_mode="zeros", align_corners=True
        )[0]
    return out
