"""BlazePose GHUM full: 39 body landmarks, a person segmentation and a presence score for one person crop.

:class:`PoseLandmarker` is the network of MediaPipe's ``pose_landmark_full.tflite`` written out as torch
modules: a MobileNetV2-style encoder (inverted residual blocks) down to 8x8, a feature-pyramid decoder
that adds 48-channel lateral features while upsampling back to 64x64 (heatmaps) and on to 256x256
(segmentation), and a regression head that reduces the 8x8 features to 1x1 for the landmark
coordinates, the world landmarks and the presence score. Batch norms are folded into the convolutions'
biases, as in the original. The inverted residual blocks and 1x1 convolutions are the detector's
(:mod:`vmat.person.detector`), which shares BlazePose's backbone design.

TFLite details kept exactly: stride-2 depthwise convolutions of the encoder pad symmetrically (the
graph has explicit ``PAD`` ops before ``VALID`` convolutions), those of the regression head use TFLite
``SAME`` padding, which for an even input and stride 2 pads only after (right and bottom); bilinear
upsampling uses half-pixel centres without corner alignment (``F.interpolate(align_corners=False)``).

:func:`pose_landmarker_state_from_tflite` maps the TFLite constants onto the module's parameters.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vmat.person.detector import InvertedResidual, Pointwise
from vmat.person.tflite_reader import TFLiteGraph

INPUT_SIZE = 256
NUM_LANDMARKS = 39
_LATERAL = 48  # channels of the decoder's pyramid
_SEGMENT = 8  # channels of the segmentation branch at 128 and 256


class PoseLandmarkerOutput(NamedTuple):
    """The raw outputs for ``B`` crops, in the crop's own pixels (0 .. 256 spans the crop).

    ``landmarks (B, 39, 5)``: x, y, z (z in the same pixel scale as x, relative to the hips), then the
    visibility and presence *logits*. ``presence (B,)``: probability that a person is in the crop.
    ``segmentation (B, 1, 256, 256)``: person logits, or ``None`` when not asked for.
    ``heatmap (B, 39, 64, 64)``: per-landmark logits.
    ``world_landmarks (B, 39, 3)``: metric 3-D coordinates (metres, origin between the hips).
    """

    landmarks: Tensor
    presence: Tensor
    segmentation: Tensor | None
    heatmap: Tensor
    world_landmarks: Tensor


def _depthwise(channels: int, kernel: int, padding: int = 0, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel, stride=stride, padding=padding, groups=channels)


class Lateral(nn.Module):
    """3x3 depthwise (ReLU6) then 1x1 (ReLU6): ``(B, cin, H, W) -> (B, cout, H, W)``.

    Taps the encoder at one resolution for the decoder (and feeds the two heads). Unlike the detector's
    lateral branches (:class:`vmat.person.detector.SeparableConv`) the depthwise output is clipped too.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = _depthwise(cin, 3, padding=1)
        self.pointwise = Pointwise(cin, cout)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(self.pointwise(F.relu6(self.depthwise(x), inplace=True)), inplace=True)


class ResidualSeparable(nn.Module):
    """``relu6(skip(x) + pointwise(relu6(depthwise(x))))``: ``(B, C, H, W) -> (B, C, H / stride, W / stride)``.

    With stride 2 the skip path is a 2x2 max pool and the depthwise convolution pads TFLite-``SAME``
    style, i.e. one row and column after the input only (even sizes).
    """

    def __init__(self, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.depthwise = _depthwise(channels, 3, padding=1 if stride == 1 else 0, stride=stride)
        self.pointwise = Pointwise(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return F.relu6(x + self.pointwise(F.relu6(self.depthwise(x), inplace=True)), inplace=True)
        branch = self.pointwise(F.relu6(self.depthwise(F.pad(x, (0, 1, 0, 1))), inplace=True))
        return F.relu6(F.max_pool2d(x, 2) + branch, inplace=True)


class SingleOutput(nn.Conv2d):
    """``k x k`` convolution to one channel ``(B, C, H, W) -> (B, 1, H, W)`` (same padding), computed as a
    depthwise convolution and a sum over channels: same parameters and result as ``nn.Conv2d(C, 1, k)``,
    three times faster on CPU for the segmentation's 8 channels at 256x256 (channels-last, one thread)."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__(channels, 1, kernel, padding=kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight.view(self.in_channels, 1, *self.kernel_size)
        per_channel = F.conv2d(x, weight, None, padding=self.padding, groups=self.in_channels)
        out = per_channel.sum(1, keepdim=True)
        return out if self.bias is None else out + self.bias.view(1, 1, 1, 1)


def _up(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class PoseLandmarker(nn.Module):
    """``forward(image (B, 3, 256, 256) RGB in [0, 1], segment=True) -> PoseLandmarkerOutput``.

    The input is the person crop as MediaPipe's graph makes it (see :mod:`vmat.person.roi`): a square
    region around the person, resampled to 256x256, values 0..255 mapped to 0..1 with no other
    normalisation. ``segment=False`` leaves out the segmentation branch (about a quarter of the work),
    for passes that only place the next ROI.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 3, stride=2, padding=1)
        self.block0 = InvertedResidual(24, 24, 16, 3, expand=False)
        self.lateral128 = Lateral(16, _SEGMENT)
        self.stage64 = nn.Sequential(InvertedResidual(16, 64, 24, 3, 2), InvertedResidual(24, 144, 24, 3))
        self.lateral64 = Lateral(24, _LATERAL)
        self.stage32 = nn.Sequential(InvertedResidual(24, 144, 32, 5, 2), InvertedResidual(32, 192, 32, 5))
        self.lateral32 = Lateral(32, _LATERAL)
        self.stage16 = nn.Sequential(
            InvertedResidual(32, 192, 64, 3, 2),
            InvertedResidual(64, 384, 64, 3),
            InvertedResidual(64, 384, 64, 3),
            InvertedResidual(64, 384, 88, 5),
            InvertedResidual(88, 528, 88, 5),
            InvertedResidual(88, 528, 88, 5),
        )
        self.lateral16 = Lateral(88, _LATERAL)
        # The encoder ends inside a fourth 144-channel block: its expansion and depthwise, no projection.
        self.stage8 = nn.Sequential(
            InvertedResidual(88, 528, 144, 5, 2),
            *(InvertedResidual(144, 864, 144, 5) for _ in range(3)),
            InvertedResidual(144, 864, None, 3),
        )
        self.lateral8 = Lateral(864, _LATERAL)

        self.segment_lateral = Lateral(_LATERAL, _SEGMENT)
        self.segment128 = nn.Sequential(ResidualSeparable(_SEGMENT), ResidualSeparable(_SEGMENT))
        self.segment256 = nn.Sequential(ResidualSeparable(_SEGMENT), ResidualSeparable(_SEGMENT))
        self.segment_out = SingleOutput(_SEGMENT, 3)
        self.heatmap_out = Pointwise(_LATERAL, NUM_LANDMARKS)

        self.regress_lateral = Lateral(864, 288)
        self.regress = nn.Sequential(
            ResidualSeparable(288, 2),
            *(ResidualSeparable(288) for _ in range(4)),
            ResidualSeparable(288, 2),
            *(ResidualSeparable(288) for _ in range(5)),
        )
        self.landmarks_out = nn.Conv2d(288, NUM_LANDMARKS * 5, 2)
        self.world_out = nn.Conv2d(288, NUM_LANDMARKS * 3, 2)
        self.presence_out = nn.Conv2d(288, 1, 2)

    def forward(self, image: Tensor, segment: bool = True) -> PoseLandmarkerOutput:
        if image.shape[1:] != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"expected (B, 3, {INPUT_SIZE}, {INPUT_SIZE}) crops, got {tuple(image.shape)}")
        # Channels-last: torch's CPU depthwise convolutions are several times faster in that layout.
        x128 = self.block0(F.relu6(self.stem(image.contiguous(memory_format=torch.channels_last)), inplace=True))
        x64 = self.stage64(x128)
        x32 = self.stage32(x64)
        x16 = self.stage16(x32)
        x8 = self.stage8(x16)  # (B, 864, 8, 8)

        pyramid = _up(self.lateral8(x8)) + self.lateral16(x16)
        pyramid = _up(pyramid) + self.lateral32(x32)
        pyramid = _up(pyramid) + self.lateral64(x64)  # (B, 48, 64, 64)

        segmentation = None
        if segment:
            segmentation = self.segment128(_up(self.segment_lateral(pyramid)) + self.lateral128(x128))
            segmentation = self.segment_out(self.segment256(_up(segmentation)))

        regress = self.regress(self.regress_lateral(x8))  # (B, 288, 2, 2)
        batch = image.shape[0]
        return PoseLandmarkerOutput(
            landmarks=self.landmarks_out(regress).view(batch, NUM_LANDMARKS, 5),
            presence=torch.sigmoid(self.presence_out(regress)).view(batch),
            segmentation=segmentation,
            heatmap=self.heatmap_out(pyramid),
            world_landmarks=self.world_out(regress).view(batch, NUM_LANDMARKS, 3),
        )


def _tflite_conv_order() -> list[str]:
    """The module's convolutions in the order the TFLite graph runs them (its builder interleaves the
    decoder's lateral taps with the encoder's next downsampling block)."""
    names = ["stem", "block0.depthwise", "block0.project"]

    def block(prefix: str) -> list[str]:
        return [f"{prefix}.expand", f"{prefix}.depthwise", f"{prefix}.project"]

    def downsample_with_lateral(block_prefix: str, lateral: str) -> list[str]:
        # The next block's expansion runs first, then the lateral tap, then the strided depthwise.
        return [f"{block_prefix}.expand", f"{lateral}.depthwise", f"{lateral}.pointwise",
                f"{block_prefix}.depthwise", f"{block_prefix}.project"]

    names += downsample_with_lateral("stage64.0", "lateral128") + block("stage64.1")
    names += downsample_with_lateral("stage32.0", "lateral64") + block("stage32.1")
    names += downsample_with_lateral("stage16.0", "lateral32")
    for i in range(1, 6):
        names += block(f"stage16.{i}")
    names += downsample_with_lateral("stage8.0", "lateral16")
    for i in range(1, 4):
        names += block(f"stage8.{i}")
    names += ["stage8.4.expand", "stage8.4.depthwise", "lateral8.depthwise", "lateral8.pointwise"]
    names += ["segment_lateral.depthwise", "segment_lateral.pointwise"]
    for stage in ("segment128", "segment256"):
        names += [f"{stage}.{i}.{part}" for i in range(2) for part in ("depthwise", "pointwise")]
    names += ["segment_out", "heatmap_out", "regress_lateral.depthwise", "regress_lateral.pointwise"]
    names += [f"regress.{i}.{part}" for i in range(11) for part in ("depthwise", "pointwise")]
    names += ["landmarks_out", "world_out", "presence_out"]
    return names


# Operators of pose_landmark_full.tflite besides its convolutions; checked so that another graph fails loudly.
_EXPECTED_OPS = {"PAD": 5, "ADD": 28, "RESIZE_BILINEAR": 5, "MAX_POOL_2D": 2, "RESHAPE": 3, "LOGISTIC": 1}


def pose_landmarker_state_from_tflite(graph: TFLiteGraph) -> dict[str, Tensor]:
    """Map ``pose_landmark_full.tflite``'s constants onto :class:`PoseLandmarker`'s parameter names.

    Kernels go from TFLite's ``(O, kH, kW, I)`` (depthwise: ``(1, kH, kW, C)``) to torch's
    ``(O, I, kH, kW)`` (depthwise: ``(C, 1, kH, kW)``). Every convolution's kind, stride and shapes are
    checked against the module, and every convolution of the graph is used exactly once (its other
    operators hold no weights).
    """
    kinds = ("CONV_2D", "DEPTHWISE_CONV_2D")
    convs = [op for op in graph.ops if op.kind in kinds]
    others = dict(Counter(op.kind for op in graph.ops if op.kind not in kinds))
    names = _tflite_conv_order()
    if len(convs) != len(names) or others != _EXPECTED_OPS:
        raise ValueError(f"not the BlazePose landmark graph: {len(convs)} convolutions (expected {len(names)}), {others}")
    model = PoseLandmarker()
    modules = dict(model.named_modules())
    expected = model.state_dict()
    state = {}
    for name, op in zip(names, convs):
        conv = modules[name]
        stride = (op.options["StrideH"], op.options["StrideW"])
        if (op.kind == "DEPTHWISE_CONV_2D") != (conv.groups > 1) or conv.stride != stride:
            raise ValueError(f"{name}: TFLite {op.kind} with stride {stride} does not fit {conv}")
        kernel = torch.from_numpy(graph.constant(op.inputs[1]).copy())
        bias = torch.from_numpy(graph.constant(op.inputs[2]).copy())
        kernel = kernel.permute(3, 0, 1, 2) if op.kind == "DEPTHWISE_CONV_2D" else kernel.permute(0, 3, 1, 2)
        for key, value in ((f"{name}.weight", kernel), (f"{name}.bias", bias)):
            if expected[key].shape != value.shape:
                raise ValueError(f"{key}: the graph has {tuple(value.shape)}, the module {tuple(expected[key].shape)}")
            state[key] = value.contiguous()
    if state.keys() != expected.keys():
        raise ValueError(f"parameters without a TFLite weight: {sorted(expected.keys() - state.keys())}")
    return state


def refine_from_heatmap(landmarks: Tensor, heatmap: Tensor, kernel: int = 7, min_confidence: float = 0.5) -> Tensor:
    """Landmarks ``(N, 39, 5)`` with x, y replaced by the heatmap's local centre of mass where it is sure.

    MediaPipe's ``RefineLandmarksFromHeatmapCalculator`` (kernel 7 in the pose graph): around each
    landmark's heatmap cell, the sigmoid of ``heatmap (N, 39, h, w)`` weighs the cells of a
    ``kernel x kernel`` window (cut at the heatmap's border); the landmark moves to their weighted mean
    when the window's largest probability reaches ``min_confidence``. Landmarks off the heatmap stay.
    Cell ``c`` stands for crop coordinate ``c * 256 / w``, the grid the network was trained on (see
    :mod:`vmat.person.roi`).
    """
    count, num, height, width = heatmap.shape
    cell = INPUT_SIZE / width
    col = torch.floor(landmarks[..., 0] / cell).long()
    row = torch.floor(landmarks[..., 1] / cell).long()
    offsets = torch.arange(kernel, device=heatmap.device) - (kernel - 1) // 2
    rows = (row[..., None] + offsets)[..., :, None].expand(count, num, kernel, kernel)
    cols = (col[..., None] + offsets)[..., None, :].expand(count, num, kernel, kernel)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    index = (rows.clamp(0, height - 1) * width + cols.clamp(0, width - 1)).flatten(2)
    weight = torch.sigmoid(heatmap.flatten(2)).gather(2, index) * inside.flatten(2)
    total = weight.sum(-1)
    x = (weight * cols.flatten(2)).sum(-1) / total.clamp_min(1e-12) * cell
    y = (weight * rows.flatten(2)).sum(-1) / total.clamp_min(1e-12) * cell
    on_map = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    sure = on_map & (weight.amax(-1) >= min_confidence) & (total > 0)
    refined = landmarks.clone()
    refined[..., 0] = torch.where(sure, x, landmarks[..., 0])
    refined[..., 1] = torch.where(sure, y, landmarks[..., 1])
    return refined
