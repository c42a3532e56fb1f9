"""The BlazePose person detector (MediaPipe ``pose_detection.tflite``) in torch, and its post-processing.

:class:`PoseDetector` is the network: ``(B, 3, 224, 224)`` RGB in ``[-1, 1]`` in, SSD regressors
``(B, 2254, 12)`` and person logits ``(B, 2254)`` out. :func:`detect_people` runs the whole detection
graph of MediaPipe's ``pose_detection_cpu.pbtxt`` on frames: letterbox to 224x224 (aspect kept, zero
border), the network, anchor decoding, score threshold, weighted non-maximum suppression, and the map
back to frame pixels. Optionally it also runs square tiles at a larger scale, for people too small for
the full-frame pass (see :class:`TileConfig`).

BlazePose's detection box is centred on the person's head but has the same size for every confident
detection (MediaPipe calls it the face box; only its centre carries information). The body is given by
the keypoints: 0 is the mid-hip centre and 1 a point whose distance from it is the radius of a circle
around the whole body (2 and 3 do the same for the upper body). :meth:`Detections.body_boxes` turns
them into a body box.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vmat.person.anchors import (
    AnchorConfig,
    DecodeConfig,
    decode_boxes,
    logits_to_scores,
    ssd_anchors,
    weighted_nms,
)
from vmat.person.tflite_reader import TFLiteGraph

INPUT_SIZE = 224
_NETWORK_BATCH = 16


def depth_to_space(x: Tensor, block: int) -> Tensor:
    """TensorFlow's ``DEPTH_TO_SPACE`` on NCHW: ``(B, b*b*C, H, W) -> (B, C, b*H, b*W)``.

    TensorFlow orders the channels depth-column-row (channel ``(i*b + j)*C + c`` goes to row offset
    ``i``, column offset ``j``); ``torch.pixel_shuffle`` expects ``c*b*b + i*b + j``, so it would mix
    the channels.
    """
    batch, channels, height, width = x.shape
    c = channels // (block * block)
    x = x.reshape(batch, block, block, c, height, width).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(batch, c, height * block, width * block)


class Pointwise(nn.Conv2d):
    """1x1 convolution ``(B, cin, H, W) -> (B, cout, H, W)`` computed as a matrix product per pixel.

    Same parameters and result as ``nn.Conv2d(cin, cout, 1)``; on channels-last input the product reads
    the pixels in place. Torch sends 1x1 convolutions of small batches on one CPU thread to an im2col
    path that is twice as slow.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        pixels = x.permute(0, 2, 3, 1)
        batch, height, width, cin = pixels.shape
        pack = -(-_MIN_OUTPUTS // self.out_channels)
        if pack > 1 and width % pack == 0 and pixels.is_contiguous():
            # A product with fewer than 16 outputs per row runs far below the CPU's speed: `pack` pixels side
            # by side in one row, times a block-diagonal weight, give the same sums 4x faster (8 -> 8 channels
            # at 256x256, one thread; 16 -> 8 at 128x128: 3.3x).
            weight = torch.block_diag(*[self.weight.flatten(1)] * pack)
            bias = None if self.bias is None else self.bias.repeat(pack)
            packed = F.linear(pixels.reshape(batch, height, width // pack, pack * cin), weight, bias)
            return packed.view(batch, height, width, -1).permute(0, 3, 1, 2)
        return F.linear(pixels, self.weight.flatten(1), self.bias).permute(0, 3, 1, 2)


# Pointwise convolutions with fewer outputs than this pack pixels per matrix row to reach it (see forward).
_MIN_OUTPUTS = 16


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion (ReLU6), kxk depthwise (ReLU6), 1x1 linear projection (+ input).

    ``(B, cin, H, W) -> (B, cout, H/stride, W/stride)``. The first block of the network has no expansion
    (``expand=False``) and the last no projection (``cout=None``: it ends on the depthwise's ReLU6). The
    TFLite graph pads stride-2 inputs explicitly by ``k // 2`` on every side (a ``PAD`` op before a VALID
    convolution), which is torch's symmetric ``padding=k // 2``.
    """

    def __init__(
        self, cin: int, hidden: int, cout: int | None, kernel: int, stride: int = 1, expand: bool = True
    ) -> None:
        super().__init__()
        self.expand = Pointwise(cin, hidden) if expand else None
        self.depthwise = nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden)
        self.project = Pointwise(hidden, cout) if cout is not None else None
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu6(self.expand(x)) if self.expand is not None else x
        y = F.relu6(self.depthwise(y))
        if self.project is None:
            return y
        y = self.project(y)
        return x + y if self.residual else y


class SeparableConv(nn.Module):
    """3x3 depthwise (linear) then 1x1 convolution, optionally followed by ReLU6.

    ``(B, cin, H, W) -> (B, cout, H/stride, W/stride)``: the lateral branches of the feature pyramid
    (ReLU6) and the detection heads (linear, stride 2).
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, relu6: bool = True) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin)
        self.pointwise = Pointwise(cin, cout)
        self.relu6 = relu6

    def forward(self, x: Tensor) -> Tensor:
        y = self.pointwise(self.depthwise(x))
        return F.relu6(y) if self.relu6 else y


class SeparableResidual(nn.Module):
    """``relu6(x + pointwise(depthwise(x)))``, shape-preserving ``(B, C, H, W)``: the pyramid's refinement."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels)
        self.pointwise = Pointwise(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x + self.pointwise(self.depthwise(x)))


class TopDown(nn.Module):
    """One pyramid step: upsample the coarser map 2x (bilinear, half-pixel centres), reduce it with a 1x1
    convolution (ReLU6), add the lateral branch of the finer backbone map, refine with two residual blocks.
    """

    def __init__(self, coarse: int, fine: int, out: int) -> None:
        super().__init__()
        self.reduce = Pointwise(coarse, out)
        self.lateral = SeparableConv(fine, out)
        self.refine = nn.Sequential(SeparableResidual(out), SeparableResidual(out))

    def forward(self, coarse: Tensor, fine: Tensor) -> Tensor:
        """``(B, coarse, H, W)``, ``(B, fine, 2H, 2W)`` -> ``(B, out, 2H, 2W)``."""
        up = F.interpolate(coarse, size=fine.shape[-2:], mode="bilinear", align_corners=False)
        return self.refine(F.relu6(self.reduce(up)) + self.lateral(fine))


class PoseDetector(nn.Module):
    """BlazePose person detector: a MobileNetV2-like backbone, a two-step feature pyramid and SSD heads.

    Input ``(B, 3, 224, 224)`` RGB scaled to ``[-1, 1]`` (:func:`frames_to_input` does that). Output
    ``(regressors (B, 2254, 12), logits (B, 2254))`` per anchor of :func:`vmat.person.anchors.ssd_anchors`:
    box centre offset, size and four keypoint offsets in input pixels, and the person logit.

    The heads read the three pyramid levels (28x28x96, 14x14x192, 7x7x1152) after a ``DEPTH_TO_SPACE``
    of factor 2 and a stride-2 depthwise convolution, with 2, 2 and 6 anchors per cell.
    """

    anchors_per_cell = (2, 2, 6)

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 3, 2, 1)
        self.stage28 = nn.Sequential(
            InvertedResidual(24, 24, 16, 3, expand=False),
            InvertedResidual(16, 64, 24, 3, 2),
            InvertedResidual(24, 144, 24, 3),
            InvertedResidual(24, 144, 40, 5, 2),
            InvertedResidual(40, 240, 40, 5),
        )
        self.stage14 = nn.Sequential(
            InvertedResidual(40, 240, 80, 3, 2),
            InvertedResidual(80, 480, 80, 3),
            InvertedResidual(80, 480, 80, 3),
            InvertedResidual(80, 480, 112, 5),
            InvertedResidual(112, 672, 112, 5),
            InvertedResidual(112, 672, 112, 5),
        )
        self.stage7 = nn.Sequential(
            InvertedResidual(112, 672, 192, 5, 2),
            InvertedResidual(192, 1152, 192, 5),
            InvertedResidual(192, 1152, 192, 5),
            InvertedResidual(192, 1152, 192, 5),
            InvertedResidual(192, 1152, None, 3),
        )
        self.up14 = TopDown(1152, 112, 192)
        self.up28 = TopDown(192, 40, 96)
        head_channels = (96 // 4, 192 // 4, 1152 // 4)  # after DEPTH_TO_SPACE
        self.classifiers = nn.ModuleList(
            SeparableConv(c, a, 2, relu6=False) for c, a in zip(head_channels, self.anchors_per_cell)
        )
        self.regressors = nn.ModuleList(
            SeparableConv(c, a * 12, 2, relu6=False) for c, a in zip(head_channels, self.anchors_per_cell)
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, 3, 224, 224)`` in ``[-1, 1]`` -> ``(B, 2254, 12)`` regressors, ``(B, 2254)`` logits."""
        # Channels-last: torch's depthwise convolutions on CPU are several times faster in that layout.
        x = x.contiguous(memory_format=torch.channels_last)
        c28 = self.stage28(F.relu6(self.stem(x)))
        c14 = self.stage14(c28)
        c7 = self.stage7(c14)
        p14 = self.up14(c7, c14)
        p28 = self.up28(p14, c28)
        logits, regressors = [], []
        for level, classify, regress in zip((p28, p14, c7), self.classifiers, self.regressors):
            features = depth_to_space(level, 2)
            # NCHW -> NHWC before flattening: anchors run row, column, anchor-in-cell (TFLite's RESHAPE).
            logits.append(classify(features).permute(0, 2, 3, 1).reshape(x.shape[0], -1))
            regressors.append(regress(features).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 12))
        return torch.cat(regressors, dim=1), torch.cat(logits, dim=1)


def _tflite_conv_order(model: PoseDetector) -> list[str]:
    """The module names of ``model``'s convolutions in the order the TFLite graph runs them.

    That is the forward order except that each lateral branch runs right after the expansion of the
    stride-2 block that reads the same backbone map.
    """
    def block(prefix: str, module: nn.Module, lateral: str | None = None) -> list[str]:
        names = [f"{prefix}.{n}" for n in ("expand", "depthwise", "project") if getattr(module, n) is not None]
        if lateral is not None:
            names[1:1] = [f"{lateral}.depthwise", f"{lateral}.pointwise"]
        return names

    order = ["stem"]
    laterals = {"stage14.0": "up28.lateral", "stage7.0": "up14.lateral"}
    for stage in ("stage28", "stage14", "stage7"):
        for i, module in enumerate(getattr(model, stage)):
            order += block(f"{stage}.{i}", module, laterals.get(f"{stage}.{i}"))
    for up in ("up14", "up28"):
        order += [f"{up}.reduce"] + [f"{up}.refine.{i}.{n}" for i in range(2) for n in ("depthwise", "pointwise")]
    for level in range(3):
        for head in ("classifiers", "regressors"):
            order += [f"{head}.{level}.depthwise", f"{head}.{level}.pointwise"]
    return order


# Operators of pose_detection.tflite besides its convolutions; checked so that a different model fails loudly.
_EXPECTED_OPS = {"PAD": 8, "ADD": 15, "DEPTH_TO_SPACE": 3, "RESIZE_BILINEAR": 2, "RESHAPE": 6, "CONCATENATION": 2}


def pose_detector_state_from_tflite(graph: TFLiteGraph) -> dict[str, torch.Tensor]:
    """Map the constants of ``pose_detection.tflite`` onto :class:`PoseDetector`'s parameter names.

    TFLite kernels are ``(O, H, W, I)`` for ``CONV_2D`` and ``(1, H, W, C)`` for ``DEPTHWISE_CONV_2D``;
    both become torch's ``(O, I/groups, H, W)``. Every shape and stride is checked, and every float
    constant an operator reads must be used.
    """
    model = PoseDetector()
    modules = dict(model.named_modules())
    targets = model.state_dict()
    convs = [op for op in graph.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    others = Counter(op.kind for op in graph.ops if op.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"))
    order = _tflite_conv_order(model)
    if len(convs) != len(order) or dict(others) != _EXPECTED_OPS:
        raise ValueError(
            f"not the BlazePose detector graph: {len(convs)} convolutions (expected {len(order)}), {dict(others)}"
        )
    state: dict[str, torch.Tensor] = {}
    used: set[int] = set()
    for op, name in zip(convs, order):
        kernel = torch.from_numpy(np.ascontiguousarray(graph.constant(op.inputs[1])))
        bias = torch.from_numpy(np.ascontiguousarray(graph.constant(op.inputs[2])))
        kernel = kernel.permute(0, 3, 1, 2) if op.kind == "CONV_2D" else kernel.permute(3, 0, 1, 2)
        conv = modules[name]
        stride = (op.options["StrideH"], op.options["StrideW"])
        if (op.kind == "DEPTHWISE_CONV_2D") != (conv.groups > 1) or conv.stride != stride:
            raise ValueError(f"{name}: TFLite {op.kind} with stride {op.options['StrideH']} does not fit {conv}")
        for key, value in ((f"{name}.weight", kernel), (f"{name}.bias", bias)):
            if tuple(value.shape) != tuple(targets[key].shape):
                raise ValueError(f"{key}: TFLite shape {tuple(value.shape)}, module shape {tuple(targets[key].shape)}")
            state[key] = value.contiguous().clone()
        used.update(op.inputs[1:3])
    # Constants the operators read (intermediates of folded DENSIFY/DEQUANTIZE chains are not among them).
    read = {t for op in graph.ops for t in op.inputs if t in graph.constants}
    unused = [graph.names[t] for t in sorted(read - used) if graph.constants[t].dtype == np.float32]
    if unused or state.keys() != targets.keys():
        missing = sorted(targets.keys() - state.keys())
        raise ValueError(f"weights left unused: {unused}; parameters without weights: {missing}")
    return state


@dataclass(frozen=True)
class Window:
    """A square of the frame, in integer frame pixels, fed to the network; it may reach outside the frame."""

    x0: int
    y0: int
    side: int


@dataclass(frozen=True)
class InputTransform:
    """Where frame pixels land in the network input: ``input = frame * scale + offset`` per axis.

    Pixel coordinates are continuous with pixel ``i`` covering ``[i, i + 1)`` in both spaces.
    """

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float

    def to_frame(self, points: Tensor) -> Tensor:
        """Input-pixel points ``(..., 2)`` as ``(x, y)`` -> frame pixels."""
        scale = points.new_tensor((self.scale_x, self.scale_y))
        return (points - points.new_tensor((self.offset_x, self.offset_y))) / scale

    def to_input(self, points: Tensor) -> Tensor:
        """Frame-pixel points ``(..., 2)`` as ``(x, y)`` -> input pixels."""
        scale = points.new_tensor((self.scale_x, self.scale_y))
        return points * scale + points.new_tensor((self.offset_x, self.offset_y))


def letterbox_window(height: int, width: int) -> Window:
    """The square of side ``max(height, width)`` centred on the frame (MediaPipe's ``keep_aspect_ratio``)."""
    side = max(height, width)
    return Window((width - side) // 2, (height - side) // 2, side)


def frames_to_input(frames: Tensor, window: Window, size: int = INPUT_SIZE) -> tuple[Tensor, InputTransform]:
    """Cut ``window`` out of ``frames`` and scale it to the network input.

    ``frames``: ``(B, 3, H, W)`` RGB, uint8 (0..255) or float (0..1). Returns ``(B, 3, size, size)`` in
    ``[-1, 1]`` with the part of the window outside the frame at -1 (black, as MediaPipe's zero border),
    and the frame-to-input transform. The frame part is resized with antialiasing (MediaPipe samples
    bilinearly without it, which aliases when a 720p frame shrinks to 224) to whole input pixels, so the
    transform is exact. uint8 frames are faster on CPU.
    """
    height, width = frames.shape[-2:]
    xa, xb = max(window.x0, 0), min(window.x0 + window.side, width)
    ya, yb = max(window.y0, 0), min(window.y0 + window.side, height)
    if xb <= xa or yb <= ya:
        raise ValueError(f"{window} does not overlap a {width}x{height} frame")
    scale = size / window.side
    left, top = round((xa - window.x0) * scale), round((ya - window.y0) * scale)
    out_w = max(1, min(round((xb - xa) * scale), size - left))
    out_h = max(1, min(round((yb - ya) * scale), size - top))
    crop = frames[:, :, ya:yb, xa:xb]
    if crop.dtype == torch.uint8 and crop.device.type == "cpu":
        # Torch's uint8 resampler is several times faster than the float one on CPU.
        crop = F.interpolate(crop, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True)
        crop = crop.float() / 255.0
    else:
        crop = crop.float() / 255.0 if crop.dtype == torch.uint8 else crop.float()
        crop = F.interpolate(crop, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True)
    inputs = crop.new_full((frames.shape[0], 3, size, size), -1.0)
    inputs[:, :, top : top + out_h, left : left + out_w] = crop * 2.0 - 1.0
    scale_x, scale_y = out_w / (xb - xa), out_h / (yb - ya)
    return inputs, InputTransform(scale_x, scale_y, left - xa * scale_x, top - ya * scale_y)


@dataclass(frozen=True)
class TileConfig:
    """Extra square tiles for people too small for the full-frame pass.

    Each tile has side ``fraction`` x the frame's short side (0.75 on a 16:9 frame is a 2.4x zoom over
    the letterboxed frame) and neighbouring tiles overlap by at least ``overlap`` of it. A tile keeps
    only the people it sees whole enough: body box no larger than the tile and its central half inside
    the tile (edges that are the frame's own excepted); bigger or cut people are the full frame's or a
    neighbour tile's. With tiles overlapping by half, every person whose body box fits a tile has its
    central half inside some tile.
    """

    fraction: float = 0.75
    overlap: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.fraction <= 1 and 0 <= self.overlap < 1):
            raise ValueError(f"tiles need 0 < fraction <= 1 and 0 <= overlap < 1, got {self}")


def tile_windows(height: int, width: int, config: TileConfig) -> list[Window]:
    """Overlapping square windows of side ``fraction * min(height, width)`` covering the frame."""
    side = max(1, round(config.fraction * min(height, width)))
    step = side * (1.0 - config.overlap)

    def starts(length: int) -> list[int]:
        if length <= side:
            return [(length - side) // 2]
        count = math.ceil(round((length - side) / step, 6)) + 1  # 252 / (180 * 0.7) is 2, not 2.0000000001
        return [round(i * (length - side) / (count - 1)) for i in range(count)]

    return [Window(x, y, side) for y in starts(height) for x in starts(width)]


@dataclass
class Detections:
    """The people found in one frame, by decreasing score; coordinates are frame pixels.

    ``boxes`` ``(N, 4)`` xyxy is BlazePose's detection box, centred on the head, of a fixed size in the
    network input (so only its centre means something); ``keypoints`` ``(N, 4, 2)`` are ``(x, y)`` of
    the mid-hip centre, the full-body size/rotation point, the mid-shoulder centre and the upper-body
    size/rotation point; ``scores`` ``(N,)`` in ``[0, 1]``.
    """

    boxes: Tensor
    keypoints: Tensor
    scores: Tensor

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def body_boxes(self) -> Tensor:
        """``(N, 4)`` xyxy squares around the whole body: centred on the mid-hip, half-side the distance to
        keypoint 1 (MediaPipe's full-body alignment circle, before its 1.25 ROI margin)."""
        return _body_boxes(self.keypoints)


def _body_boxes(keypoints: Tensor) -> Tensor:
    centre = keypoints[..., 0, :]
    radius = (keypoints[..., 1, :] - centre).norm(dim=-1, keepdim=True)
    return torch.cat((centre - radius, centre + radius), dim=-1)


def decode_detections(
    regressors: Tensor,
    logits: Tensor,
    transform: InputTransform,
    *,
    min_score: float = 0.5,
    size: int = INPUT_SIZE,
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """The network's outputs for a batch of inputs -> candidates in frame pixels, before suppression.

    ``regressors (B, 2254, 12)``, ``logits (B, 2254)``. Returns per input ``(boxes (N, 4), keypoints
    (N, 4, 2), scores (N,))`` for the anchors scoring at least ``min_score`` with a box of non-negative
    size (MediaPipe drops the others, which NMS and ROI code do not expect).
    """
    anchors = ssd_anchors(AnchorConfig(input_size=size))
    boxes, keypoints = decode_boxes(regressors, anchors, DecodeConfig(scale=float(size)))
    scores = logits_to_scores(logits)
    keep = (scores >= min_score) & (boxes[..., 2] >= boxes[..., 0]) & (boxes[..., 3] >= boxes[..., 1])
    out = []
    for b in range(regressors.shape[0]):
        k = keep[b]
        corners = transform.to_frame(boxes[b, k].view(-1, 2, 2) * size).view(-1, 4)
        out.append((corners, transform.to_frame(keypoints[b, k] * size), scores[b, k]))
    return out


def _seen_whole(keypoints: Tensor, window: Window, height: int, width: int) -> Tensor:
    """Which tile detections to keep (see :class:`TileConfig`), from their keypoints ``(N, 4, 2)``."""
    body = _body_boxes(keypoints)
    centre, side = (body[:, :2] + body[:, 2:]) / 2, body[:, 2] - body[:, 0]
    lo, hi = centre - side[:, None] / 4, centre + side[:, None] / 4
    x0 = window.x0 if window.x0 > 0 else -math.inf
    y0 = window.y0 if window.y0 > 0 else -math.inf
    x1 = window.x0 + window.side if window.x0 + window.side < width else math.inf
    y1 = window.y0 + window.side if window.y0 + window.side < height else math.inf
    inside = (lo[:, 0] >= x0) & (lo[:, 1] >= y0) & (hi[:, 0] <= x1) & (hi[:, 1] <= y1)
    return inside & (side <= window.side)


def _head_boxes(boxes: Tensor, keypoints: Tensor) -> Tensor:
    """Boxes ``(N, 4)`` on the detection boxes' centres with side half the body radius.

    The network gives every confident detection a box of the same size, 44.75 input pixels (standard
    deviation 0.06 over the anchors above 0.5 on a judo frame), so only its centre, on the head, says
    anything, and a person's boxes from windows of different scales differ in size: a 0.75 tile's is a
    fifth of the full frame's in area and too small to merge with it. Boxes scaled to the body merge
    them (schoolgirls with 0.75 tiles: 11 stray detections in 80 frames instead of 105).
    """
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (keypoints[:, 1] - keypoints[:, 0]).norm(dim=-1, keepdim=True) / 4
    return torch.cat((centre - half, centre + half), dim=-1)


@torch.no_grad()
def detect_people(
    model: PoseDetector,
    frames: Tensor,
    *,
    min_score: float = 0.5,
    nms_threshold: float = 0.3,
    tiles: TileConfig | None = None,
) -> list[Detections]:
    """Find people in each of ``frames`` ``(B, 3, H, W)`` RGB (uint8 0..255, or float 0..1).

    Runs on the model's device; returns one :class:`Detections` per frame, in frame pixels, on that
    device. The full frame is letterboxed into the detector's 224x224 input; with ``tiles`` the windows
    of :func:`tile_windows` run in the same batch. All candidates of a frame go through one weighted
    non-maximum suppression (:func:`merge_candidates`; overlaps above ``nms_threshold`` merge).
    ``min_score`` is the graph's ``min_score_thresh``.
    """
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (B, 3, H, W), got {tuple(frames.shape)}")
    device = next(model.parameters()).device
    frames = frames.to(device)
    height, width = frames.shape[-2:]
    windows = [letterbox_window(height, width)] + (tile_windows(height, width, tiles) if tiles else [])
    prepared = [frames_to_input(frames, window) for window in windows]
    inputs = torch.cat([window_inputs for window_inputs, _ in prepared])
    # Bounded chunks keep memory flat however many frames and tiles come at once. On CPU, pairs keep the
    # activations in cache: 16 CPU ms per input against 25 in chunks of 16 (one thread).
    chunk = _NETWORK_BATCH if inputs.is_cuda else 2
    outputs = [model(inputs[i : i + chunk]) for i in range(0, inputs.shape[0], chunk)]
    regressors, logits = (torch.cat(parts) for parts in zip(*outputs))
    batch = frames.shape[0]
    per_frame: list[list[tuple[Tensor, Tensor, Tensor]]] = [[] for _ in range(batch)]
    for w, (window, (_, transform)) in enumerate(zip(windows, prepared)):
        rows = slice(w * batch, (w + 1) * batch)
        for b, (boxes, keypoints, scores) in enumerate(
            decode_detections(regressors[rows], logits[rows], transform, min_score=min_score)
        ):
            if w > 0:
                whole = _seen_whole(keypoints, window, height, width)
                boxes, keypoints, scores = boxes[whole], keypoints[whole], scores[whole]
            per_frame[b].append((boxes, keypoints, scores))
    return [merge_candidates(candidates, nms_threshold) for candidates in per_frame]


def merge_candidates(candidates: list[tuple[Tensor, Tensor, Tensor]], nms_threshold: float = 0.3) -> Detections:
    """One frame's candidates ``(boxes, keypoints, scores)``, one triple per window -> :class:`Detections`.

    Weighted NMS on the overlap of :func:`_head_boxes` (not of the network's constant-size boxes). Only
    candidates of the best one's window are blended: a tile that sees part of a big person would
    otherwise pull its smaller body into the full frame's keypoints.
    """
    boxes, keypoints, scores = (torch.cat(parts) for parts in zip(*candidates))
    window = torch.cat([torch.full_like(part[2], i, dtype=torch.int64) for i, part in enumerate(candidates)])
    head_boxes = _head_boxes(boxes, keypoints)
    return Detections(*weighted_nms(boxes, keypoints, scores, nms_threshold, head_boxes, groups=window))
