"""MediaPipe selfie segmentation: a soft person mask for whole frames.

:class:`SelfieSegmenter` is the network of MediaPipe's ``selfie_segmentation.tflite`` (256x256 input) and
``selfie_segmentation_landscape.tflite`` (144x256): a MobileNetV3-style encoder (inverted residual blocks,
hard-swish, squeeze-excite) down to 1/16, an LR-ASPP-like head, and a decoder that climbs back through three
skip connections (each gated by channel attention) to a 2x2 transposed convolution at full input size.
The two variants share the architecture and differ only in input size (:class:`SelfieConfig`).

:func:`segment_frames` runs it on frames of any size the way MediaPipe's ``SelfieSegmentationCpu`` graph
does: the whole frame is resampled to the model input (no aspect-ratio padding) and the mask bilinearly
resized back. :func:`selfie_segmenter_state_from_tflite` maps the TFLite weights onto this module.

TensorFlow layers use "SAME" padding, which for a stride-2 convolution pads one pixel less before than
after (PyTorch's ``padding`` is symmetric); :class:`SameConv2d` reproduces that.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vmat.errors import ConfigError
from vmat.person.tflite_reader import TFLiteGraph
from vmat.person.weights import load_person_state


@dataclass(frozen=True)
class SelfieConfig:
    """One variant of the model: its name (and weights file) and the input size it was trained at."""

    name: str
    height: int
    width: int


SELFIE_SQUARE = SelfieConfig("selfie_segmentation", 256, 256)
SELFIE_LANDSCAPE = SelfieConfig("selfie_segmentation_landscape", 144, 256)
SELFIE_CONFIGS = {config.name: config for config in (SELFIE_SQUARE, SELFIE_LANDSCAPE)}


@dataclass(frozen=True)
class BlockSpec:
    """An inverted residual block: 1x1 expand, depthwise ``kernel`` at ``stride``, optional SE, 1x1 project."""

    expand: int
    kernel: int
    stride: int
    out: int
    squeeze: int | None  # squeeze-excite hidden width; None: no SE
    hard_swish: bool  # else ReLU


# The encoder after its 3x3 stem (16 channels at 1/2). Its skip connections leave after the stem, block 0
# (1/4) and block 2 (1/8); the last block's output (1/16) feeds the head.
ENCODER = (
    BlockSpec(16, 3, 2, 16, 8, False),
    BlockSpec(72, 3, 2, 24, None, False),
    BlockSpec(88, 3, 1, 24, None, False),
    BlockSpec(96, 5, 2, 32, 24, True),
    BlockSpec(128, 5, 1, 32, 32, True),
    BlockSpec(128, 5, 1, 32, 32, True),
    BlockSpec(96, 5, 1, 32, 24, True),
    BlockSpec(96, 5, 1, 32, 24, True),
)
SKIP_AFTER_BLOCKS = (0, 2)
STEM_CHANNELS = 16
HEAD_CHANNELS = 128
# Channels of the decoder after each upsampling, from 1/8 to 1/2 (they equal the skips' channels).
DECODER_CHANNELS = (24, 16, 16)


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's SAME padding: output size ``ceil(input / stride)``.

    With an even total padding this is PyTorch's symmetric ``padding``; otherwise (stride 2 here) the extra
    pixel goes after, so it is padded explicitly.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        self.explicit_padding = stride != 1
        padding = 0 if self.explicit_padding else kernel // 2
        super().__init__(in_channels, out_channels, kernel, stride, padding=padding, groups=groups)

    def forward(self, x: Tensor) -> Tensor:
        if self.explicit_padding:
            pads: list[int] = []
            for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
                total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


class ChannelGate(nn.Module):
    """Squeeze-excite weights: ``(B, C, H, W) -> (B, C, 1, 1)`` in (0, 1) from the channel means."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.expand(F.relu(self.reduce(x.mean((2, 3), keepdim=True)))))


class InvertedResidual(nn.Module):
    """MobileNetV3 block ``(B, C_in, H, W) -> (B, C_out, H / stride, W / stride)``; residual when shapes agree."""

    def __init__(self, in_channels: int, spec: BlockSpec) -> None:
        super().__init__()
        self.expand = nn.Conv2d(in_channels, spec.expand, 1)
        self.depthwise = SameConv2d(spec.expand, spec.expand, spec.kernel, spec.stride, groups=spec.expand)
        self.gate = ChannelGate(spec.expand, spec.squeeze) if spec.squeeze else None
        self.project = nn.Conv2d(spec.expand, spec.out, 1)
        self.activation = F.hardswish if spec.hard_swish else F.relu
        self.residual = spec.stride == 1 and in_channels == spec.out

    def forward(self, x: Tensor) -> Tensor:
        y = self.activation(self.depthwise(self.activation(self.expand(x))))
        if self.gate is not None:
            y = y * self.gate(y)
        y = self.project(y)
        return x + y if self.residual else y


class Head(nn.Module):
    """LR-ASPP-like head: ``(B, C, h, w) -> (B, HEAD_CHANNELS, h, w)``, ReLU features gated by the global mean."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        # In the TFLite graph's order: the features' convolution runs before the gate's.
        self.features = nn.Conv2d(channels, HEAD_CHANNELS, 1)
        self.gate = nn.Conv2d(channels, HEAD_CHANNELS, 1)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.features(x)) * torch.sigmoid(self.gate(x.mean((2, 3), keepdim=True)))


class SkipFusion(nn.Module):
    """Merge a skip connection into the upsampled decoder: ``skip, up (B, C, H, W) -> (B, C, H, W)``.

    The skip is weighted per channel by attention on ``skip + up`` and added to ``up``; a 1x1 convolution and a
    residual depthwise 3x3 (both ReLU) refine the sum.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gate = ChannelGate(channels, channels)
        self.mix = nn.Conv2d(channels, channels, 1)
        self.depthwise = SameConv2d(channels, channels, 3, groups=channels)

    def forward(self, skip: Tensor, up: Tensor) -> Tensor:
        x = F.relu(self.mix(skip * self.gate(skip + up) + up))
        return x + F.relu(self.depthwise(x))


class DecoderStage(nn.Module):
    """One step up the decoder: ``y (B, C_in, h, w), skip (B, C, H, W) -> (B, C, H, W)``.

    ``y`` is resized to the skip's size, projected to its channels by a 1x1 convolution (in the TFLite graph
    each projection runs just before its fusion) and fused with it.
    """

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.up = nn.Conv2d(in_channels, channels, 1)
        self.fuse = SkipFusion(channels)

    def forward(self, y: Tensor, skip: Tensor) -> Tensor:
        # The original resizes before projecting; projecting first would be cheaper and equal up to rounding.
        y = self.up(F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False))
        return self.fuse(skip, y)


class SelfieSegmenter(nn.Module):
    """``forward(image (B, 3, h, w)) -> logits (B, 1, h, w)``; ``sigmoid`` gives the person probability.

    ``image`` is RGB in [0, 1] at the config's input size ``(h, w)`` (other sizes whose sides divide by 16 run
    too, but the model was trained at this one). Use :func:`segment_frames` for frames of any size.
    """

    def __init__(self, config: SelfieConfig = SELFIE_SQUARE) -> None:
        super().__init__()
        self.config = config
        self.stem = SameConv2d(3, STEM_CHANNELS, 3, 2)
        blocks, channels = [], STEM_CHANNELS
        for spec in ENCODER:
            blocks.append(InvertedResidual(channels, spec))
            channels = spec.out
        self.blocks = nn.ModuleList(blocks)
        self.head = Head(channels)
        stages, channels = [], HEAD_CHANNELS
        for out in DECODER_CHANNELS:
            stages.append(DecoderStage(channels, out))
            channels = out
        self.decoder = nn.ModuleList(stages)
        self.output = nn.ConvTranspose2d(channels, 1, 2, stride=2)

    def forward(self, image: Tensor) -> Tensor:
        x = F.hardswish(self.stem(image))
        skips = [x]
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in SKIP_AFTER_BLOCKS:
                skips.append(x)
        y = self.head(x)
        for stage, skip in zip(self.decoder, reversed(skips)):
            y = stage(y, skip)
        return self.output(y)


def resample_to_input(frames: Tensor, height: int, width: int) -> Tensor:
    """``(B, 3, H, W) -> (B, 3, height, width)`` sampled where MediaPipe's ``ImageToTensorCalculator`` samples.

    Its OpenCV path warps the frame's corners onto the tensor's corners, so tensor pixel ``(u, v)`` reads the
    frame bilinearly at ``(u * W / width, v * H / height)`` (no half-pixel shift, no anti-aliasing, zeros
    outside the frame). OpenCV then rounds to 8 bits; this keeps floats.
    """
    batch, _, frame_height, frame_width = frames.shape
    device, dtype = frames.device, frames.dtype
    # grid_sample with align_corners=True maps -1 and 1 onto the first and last pixel centres.
    xs = torch.arange(width, device=device, dtype=dtype) * (frame_width / width) * (2 / max(frame_width - 1, 1)) - 1
    ys = torch.arange(height, device=device, dtype=dtype) * (frame_height / height) * (2 / max(frame_height - 1, 1)) - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).expand(batch, height, width, 2)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def segment_frames(model: SelfieSegmenter, frames: Tensor) -> Tensor:
    """Person probability of every pixel: ``frames (B, 3, H, W)`` RGB in [0, 1] -> ``(B, H, W)`` in [0, 1].

    As MediaPipe's ``SelfieSegmentationCpu`` graph: the whole frame, stretched to the model input, then the
    mask resized to the frame bilinearly (OpenCV's ``resize``: half-pixel centres). Runs on ``frames``' device.
    """
    config = model.config
    with torch.no_grad():
        logits = model(resample_to_input(frames, config.height, config.width))
        mask = torch.sigmoid(logits)
        mask = F.interpolate(mask, size=frames.shape[-2:], mode="bilinear", align_corners=False)
    return mask[:, 0]


def load_selfie_segmenter(variant: str = SELFIE_SQUARE.name, device: str | torch.device = "cpu") -> SelfieSegmenter:
    """The segmenter with the weights that ship with vmat, in eval mode on ``device``.

    ``variant`` is ``"selfie_segmentation"`` (256x256, any frame) or ``"selfie_segmentation_landscape"``
    (144x256, for 16:9 frames).
    """
    if variant not in SELFIE_CONFIGS:
        raise ConfigError(f"unknown selfie segmentation model {variant!r}: choose one of {', '.join(SELFIE_CONFIGS)}")
    model = SelfieSegmenter(SELFIE_CONFIGS[variant])
    model.load_state_dict(load_person_state(variant))
    return model.eval().to(device)


# TFLite's TfLitePadding enum, as stored in the transposed convolution's options.
_TFLITE_PADDING_SAME = 1
_CONVOLUTIONS = ("CONV_2D", "DEPTHWISE_CONV_2D", "Convolution2DTransposeBias")


def selfie_segmenter_state_from_tflite(graph: TFLiteGraph) -> dict[str, torch.Tensor]:
    """The state dict of :class:`SelfieSegmenter` from a parsed ``selfie_segmentation*.tflite``.

    The graph's convolutions, in execution order, are those of the module in registration order (the
    module is written in the graph's order); each pairing is checked for kind, shape, stride, padding and
    (absent) fused activation, and every weight of the graph must be used.
    """
    input_shape = graph.shapes[graph.inputs[0]]
    config = SelfieConfig("tflite", input_shape[1], input_shape[2])
    model = SelfieSegmenter(config)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    names = {id(m): name for name, m in model.named_modules()}
    ops = [op for op in graph.ops if op.kind in _CONVOLUTIONS]
    assert len(ops) == len(layers), f"the graph has {len(ops)} convolutions, the module {len(layers)}"

    state: dict[str, Tensor] = {}
    used: set[int] = set()
    for op, layer in zip(ops, layers):
        kernel, bias = (graph.constant(t) for t in op.inputs[1:3])
        used.update(op.inputs[1:3])
        if op.kind == "Convolution2DTransposeBias":
            assert isinstance(layer, nn.ConvTranspose2d), names[id(layer)]
            padding, stride_w, stride_h = struct.unpack("<3i", op.options["CustomOptions"][:12])
            # SAME padding of a kernel as large as its stride pads nothing.
            assert padding == _TFLITE_PADDING_SAME and layer.kernel_size == layer.stride == (stride_h, stride_w)
            weight = torch.from_numpy(kernel).permute(3, 0, 1, 2)  # (O, H, W, I) -> (I, O, H, W)
        else:
            depthwise = op.kind == "DEPTHWISE_CONV_2D"
            assert isinstance(layer, nn.Conv2d) and (layer.groups > 1) == depthwise, names[id(layer)]
            assert layer.stride == (op.options["StrideH"], op.options["StrideW"]), names[id(layer)]
            assert op.options["FusedActivationFunction"] == 0 and op.options["DilationHFactor"] == 1
            # 1x1 convolutions are the same under either padding; larger ones must be SAME (0).
            assert layer.kernel_size == (1, 1) or op.options["Padding"] == 0, names[id(layer)]
            # Depthwise (1, H, W, C) and regular (O, H, W, I) kernels -> (O, I / groups, H, W).
            weight = torch.from_numpy(kernel).permute((3, 0, 1, 2) if depthwise else (0, 3, 1, 2))
        name = names[id(layer)]
        assert weight.shape == layer.weight.shape, (name, tuple(weight.shape), tuple(layer.weight.shape))
        assert layer.bias is not None and bias.shape == tuple(layer.bias.shape), (name, bias.shape)
        state[f"{name}.weight"] = weight.float().contiguous()
        state[f"{name}.bias"] = torch.from_numpy(bias).float()

    # Every float constant an operator reads (the folded float16 originals are read by none).
    read = {tensor for op in graph.ops for tensor in op.inputs if tensor in graph.constants}
    weights = {tensor for tensor in read if graph.constants[tensor].dtype.kind == "f"}
    unused = sorted(graph.names[t] for t in weights - used)
    assert not unused, f"TFLite weights left unused: {unused[:5]}"
    assert state.keys() == model.state_dict().keys()
    return state
