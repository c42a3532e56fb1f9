"""SSD anchors, box decoding and weighted non-maximum suppression of the BlazePose person detector.

The numbers are those of MediaPipe's ``pose_detection_cpu.pbtxt`` (``SsdAnchorsCalculator``,
``TensorsToDetectionsCalculator``, ``NonMaxSuppressionCalculator``). Coordinates here are normalised to
the 224x224 network input (0..1 spans its edges); :mod:`vmat.person.detector` maps them to frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class AnchorConfig:
    """The detector's anchor grid: one feature map per stride, ``per_cell`` anchors per cell and map.

    MediaPipe's graph also gives ``min_scale``/``max_scale`` and aspect ratios, but with
    ``fixed_anchor_size: true`` every anchor has width and height 1, so only the centres remain. Each
    layer has two anchors per cell (aspect ratio 1 and the interpolated scale); layers sharing a stride
    share one feature map, so the three stride-32 layers give six anchors per 7x7 cell.
    """

    input_size: int = 224
    strides: tuple[int, ...] = (8, 16, 32, 32, 32)
    per_cell: int = 2
    offset: float = 0.5


def ssd_anchors(config: AnchorConfig | None = None) -> Tensor:
    """Anchor centres ``(N, 2)`` as normalised ``(x, y)``, in the order of the network's outputs.

    The order is feature map (stride), then row, then column, then anchor within the cell: 28*28*2 +
    14*14*2 + 7*7*6 = 2254 anchors for the default config.
    """
    config = config or AnchorConfig()
    centres = []
    index = 0
    while index < len(config.strides):
        stride = config.strides[index]
        same = 0
        while index + same < len(config.strides) and config.strides[index + same] == stride:
            same += 1
        size = -(-config.input_size // stride)  # ceil
        grid = (torch.arange(size, dtype=torch.float64) + config.offset) / size
        y, x = torch.meshgrid(grid, grid, indexing="ij")
        cell = torch.stack((x, y), dim=-1).reshape(-1, 1, 2)
        centres.append(cell.expand(-1, config.per_cell * same, 2).reshape(-1, 2))
        index += same
    return torch.cat(centres).to(torch.float32)


@dataclass(frozen=True)
class DecodeConfig:
    """How the regressors and logits become boxes, keypoints and scores (the graph's values)."""

    # Regressor units: input pixels (the offsets are divided by this and multiplied by the anchor size 1).
    scale: float = 224.0
    num_keypoints: int = 4
    # Logits are clamped to +-this before the sigmoid.
    score_clip: float = 100.0


def decode_boxes(regressors: Tensor, anchors: Tensor, config: DecodeConfig | None = None) -> tuple[Tensor, Tensor]:
    """Regressors ``(..., N, 4 + 2K)`` -> boxes ``(..., N, 4)`` normalised xyxy, keypoints ``(..., N, K, 2)``.

    The regressor layout is ``(x_centre, y_centre, w, h, kx0, ky0, ...)`` in input pixels relative to
    the anchor centre (the graph's ``reverse_output_order: true``); ``anchors`` is ``(N, 2)``.
    """
    config = config or DecodeConfig()
    k = config.num_keypoints
    if regressors.shape[-1] != 4 + 2 * k or regressors.shape[-2] != anchors.shape[0]:
        raise ValueError(
            f"regressors {tuple(regressors.shape)} do not fit {anchors.shape[0]} anchors and {k} keypoints"
        )
    anchors = anchors.to(regressors)
    values = regressors / config.scale
    centre = values[..., 0:2] + anchors
    half = values[..., 2:4] / 2
    boxes = torch.cat((centre - half, centre + half), dim=-1)
    keypoints = values[..., 4:].unflatten(-1, (k, 2)) + anchors.unsqueeze(-2)
    return boxes, keypoints


def logits_to_scores(logits: Tensor, config: DecodeConfig | None = None) -> Tensor:
    """Person probabilities from the network's logits (clamped first, as the graph does)."""
    config = config or DecodeConfig()
    return torch.sigmoid(logits.clamp(-config.score_clip, config.score_clip))


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU ``(N, M)`` of xyxy boxes ``(N, 4)`` and ``(M, 4)``; 0 where the union is empty."""
    lo = torch.maximum(a[:, None, :2], b[None, :, :2])
    hi = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (hi - lo).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), torch.zeros_like(inter))


def weighted_nms(
    boxes: Tensor,
    keypoints: Tensor,
    scores: Tensor,
    threshold: float = 0.3,
    overlap_boxes: Tensor | None = None,
    groups: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """MediaPipe's weighted non-maximum suppression on one image's detections.

    ``boxes (N, 4)`` xyxy, ``keypoints (N, K, 2)``, ``scores (N,)``. Repeatedly the best remaining
    detection gathers every remaining one whose IoU with it exceeds ``threshold`` (itself included); the
    output is their score-weighted mean box and keypoints with the best one's score. Blending instead of
    discarding steadies the boxes of neighbouring anchors that all fire on one person.

    The IoU is that of ``overlap_boxes (N, 4)`` when given (default: ``boxes``). With ``groups (N,)``
    (e.g. the window each detection comes from) only the gathered detections of the best one's group
    are blended; the others are just suppressed. Returns ``(M, 4)``, ``(M, K, 2)``, ``(M,)`` by
    decreasing score.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    overlap_boxes = boxes if overlap_boxes is None else overlap_boxes[order]
    overlap = (box_iou(overlap_boxes, overlap_boxes) > threshold).cpu()
    same_group = None if groups is None else (groups[order, None] == groups[None, order]).cpu()
    remaining = torch.ones(len(scores), dtype=torch.bool)
    out_boxes, out_keypoints, out_scores = [], [], []
    while bool(remaining.any()):
        best = int(torch.nonzero(remaining)[0])
        cluster = remaining & overlap[best]
        cluster[best] = True  # a box of zero area has IoU 0 with itself
        remaining &= ~cluster
        blended = cluster if same_group is None else cluster & same_group[best]
        members = blended.to(scores.device)
        weights = scores[members]
        total = weights.sum()
        out_boxes.append((boxes[members] * weights[:, None]).sum(0) / total)
        out_keypoints.append((keypoints[members] * weights[:, None, None]).sum(0) / total)
        out_scores.append(scores[best])
    if not out_scores:
        return boxes[:0], keypoints[:0], scores[:0]
    return torch.stack(out_boxes), torch.stack(out_keypoints), torch.stack(out_scores)
