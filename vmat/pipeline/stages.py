"""The pipeline's stages: thin adapters from :class:`Stage` to the library's per-stage code.

Each adapter only moves data between :class:`FrameRecord` fields and the stage's own API, so the maths
stays in its package (:mod:`vmat.depth`, :mod:`vmat.propagation`, :mod:`vmat.decomposition`).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from pathlib import Path

import numpy as np
import torch

from vmat.camera import CameraTracker, TrackerConfig
from vmat.decomposition import MaskMattingDecomposer, NetworkDecomposer
from vmat.decomposition.build import build_decomposer
from vmat.geometry import shrink_ids, shrink_image
from vmat.depth.base import DepthEstimator, images_to_tensor
from vmat.depth.build import build_depth_estimator
from vmat.editing.completion import CompletionConfig
from vmat.errors import ConfigError, InputNotFoundError, UnsupportedMediaError
from vmat.geometry import processing_size
from vmat.io.metadata import VideoInfo
from vmat.limits import MIN_TRACKED_SIDE
from vmat.pipeline.record import FrameRecord
from vmat.pipeline.stage import Stage
from vmat.propagation.clip import MaskingConfig
from vmat.propagation.idmask import mask_path, read_id_mask, write_id_mask
from vmat.propagation.prompts import FramePrompt
from vmat.propagation.stream import MaskStream
from vmat.temporal import FusionConfig, StreamConfig, TemporalRefiner, TemporalRefinerStream, build_temporal_refiner
from vmat.temporal.build import shipped_temporal_checkpoint
from vmat.temporal.colour import raised_colour, raised_pixels


class MaskFolderStage(Stage):
    """Instance ids per frame read from a folder of id-mask PNGs (one per frame, as ``vmat masks`` writes)."""

    name = "masks"

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputNotFoundError(f"mask folder {str(self.folder)!r} does not exist")

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        for record in batch:
            masks = read_id_mask(mask_path(self.folder, record.index))
            if masks.shape != record.frame.image.shape[:2]:
                raise ConfigError(
                    f"id mask {mask_path(self.folder, record.index)} is {masks.shape[1]}x{masks.shape[0]}, "
                    f"the frame is {record.frame.width}x{record.frame.height}"
                )
            record.masks = masks.astype(np.uint16)
        return batch


class PropagationStage(Stage):
    """Instance ids per frame propagated from prompts (or people found on frame 0) in the same stream as the
    other stages (:class:`~vmat.propagation.stream.MaskStream`): frames before the first prompted frame are
    held back, at most ``config.backward_window`` of them, until it arrives. Ordered: one instance per clip."""

    name = "masks"
    ordered = True

    def __init__(self, prompts: list[FramePrompt] | None, config: MaskingConfig | None = None) -> None:
        self.prompts, self.config = prompts, config or MaskingConfig()
        self._stream: MaskStream[FrameRecord] | None = None

    def start_clip(self, info: VideoInfo) -> None:
        if min(info.width, info.height) < MIN_TRACKED_SIDE:
            raise UnsupportedMediaError(
                f"the clip is {info.width}x{info.height}: people are tracked in frames of at least "
                f"{MIN_TRACKED_SIDE}x{MIN_TRACKED_SIDE} pixels."
            )
        self._stream = MaskStream(self.prompts, self.config)

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        stream = self._clip_stream()
        return [self._with(*ready) for record in batch for ready in stream.push(record.index, record.frame.image, record)]

    def finish_clip(self) -> list[FrameRecord]:
        return [self._with(*ready) for ready in self._clip_stream().finish()]

    def _clip_stream(self) -> MaskStream[FrameRecord]:
        assert self._stream is not None, "the runner calls start_clip before a clip's frames"
        return self._stream

    @staticmethod
    def _with(record: FrameRecord, ids: np.ndarray) -> FrameRecord:
        record.masks = ids
        return record


class MaskWriterStage(Stage):
    """Writes each record's id mask as ``folder/00000.png``, ... (the ``vmat masks`` layout), unchanged."""

    name = "masks file"

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        for record in batch:
            assert record.masks is not None, "the runner puts a mask stage before the mask writer"
            write_id_mask(mask_path(self.folder, record.index), record.masks)
        return batch


class ShrinkStage(Stage):
    """Frames and masks at the processing size (longer side at most ``max_side``), so the model stages after
    it cost less; :func:`vmat.decomposition.resolution.upsample_layers` brings the layers back up."""

    name = "shrink"
    light = True

    def __init__(self, max_side: int) -> None:
        if max_side < 16:
            raise ConfigError(f"a processing size of {max_side} pixels is too small: use 16 or more")
        self.max_side = max_side

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        for record in batch:
            size = processing_size(record.frame.width, record.frame.height, self.max_side)
            record.frame = dataclasses.replace(record.frame, image=shrink_image(record.frame.image, size))
            if record.masks is not None:
                record.masks = shrink_ids(record.masks, size)
        return batch


class DepthStage(Stage):
    """Relative depth per frame (batched), from any :class:`~vmat.depth.base.DepthEstimator`."""

    name = "depth"

    def __init__(self, estimator: DepthEstimator) -> None:
        self.estimator = estimator

    @classmethod
    def build(cls, name: str, checkpoint: str | None = None, device: str | None = None) -> DepthStage:
        """The depth stage named ``name`` (see :func:`vmat.depth.build.build_depth_estimator`)."""
        return cls(build_depth_estimator(name, checkpoint=checkpoint, device=device))

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        frames = images_to_tensor([record.frame.image for record in batch]).to(self.estimator.device)
        ids = [record.masks for record in batch]
        masks = None
        if all(m is not None for m in ids):
            masks = torch.from_numpy(np.stack([m.astype(np.int64) for m in ids if m is not None])).to(self.estimator.device)
        with torch.inference_mode():
            depth = self.estimator(frames, masks)
        for record, plane in zip(batch, depth[:, 0].float().cpu().numpy(), strict=True):
            record.depth = plane
        return batch


class DecomposeStage(Stage):
    """Layers per frame from the frame, its instance masks and (optionally) its depth.

    A frame's stack holds a plane for each person in its mask; a person out of view has no plane there
    (edits and the layers file handle ids that come and go). Frames are independent, so it can be pooled.
    """

    name = "decompose"

    def __init__(self, decomposer: MaskMattingDecomposer | NetworkDecomposer | None = None) -> None:
        self.decomposer = decomposer or MaskMattingDecomposer()

    @classmethod
    def build(cls, name: str, checkpoint: str | None = None, device: str | None = None) -> DecomposeStage:
        """The decompose stage named ``name`` (see :func:`vmat.decomposition.build.build_decomposer`)."""
        return cls(build_decomposer(name, checkpoint=checkpoint, device=device))

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        for record in batch:
            if record.masks is None:
                raise ConfigError("the decompose stage needs instance masks: run a mask stage before it")
            record.layers = self.decomposer.decompose(record.frame.image, record.masks, record.depth)
        return batch


class CameraStage(Stage):
    """The camera's motion from the previous frame to this one (``record.camera``), estimated once per frame on
    the background the layers leave seen (:class:`~vmat.camera.CameraTracker`); the temporal stage and
    completion read it. Ordered: the tracker carries its features from frame to frame."""

    name = "camera"
    ordered = True

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.start_clip(None)

    def start_clip(self, info: VideoInfo | None) -> None:
        self._tracker = CameraTracker(self.config)

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        for record in batch:
            assert record.layers is not None, "the runner puts the decompose stage before the camera stage"
            seen = (record.layers.weights()[0] > SEEN_BACKGROUND).numpy()
            record.camera = self._tracker.update(record.frame.image, seen)
        return batch


# A background pixel counts as seen (for tracking the camera on it) above this weight, as completion counts it.
SEEN_BACKGROUND = CompletionConfig.seen_above
TEMPORAL_MODES = ("off", "fusion", "refiner")
# Both modes end in forward fusion (eq. 12): a matte holds while its pixel's camera-aligned picture holds
# (ChangeTracker), with the change map's edge softened. Measured (README): still-region flicker on the real
# juggle clip 0.367 -> 0.188 (eq. 12-14's look-ahead check: 0.351; the refiner's own predicted change maps:
# 0.547); on the synthetic suite, MAD 5.59 -> 5.61 with exact masks, and the refiner keeps its 46% dtSSD cut
# with wandering masks.
HOLD_WHERE_STILL = StreamConfig(fusion="forward", fusion_lookahead=FusionConfig.lookahead, change="flow", change_soften=2.0)


class TemporalStage(Stage):
    """Steadier mattes over time (MaGGIe 7.8-7.9): each person's own alpha through the learned temporal
    refiner (sparsity prediction, bidirectional Conv-GRU) when ``model`` is given, then matte fusion (by
    default :data:`HOLD_WHERE_STILL`); see :class:`~vmat.temporal.TemporalRefinerStream`. Without a model it
    is the weight-free path, fusion alone. It holds back as many frames as its look-aheads need (none for the
    default fusion, the Conv-GRU's with the refiner) and needs the clip in order."""

    name = "temporal"
    ordered = True

    def __init__(self, model: TemporalRefiner | None = None, config: StreamConfig | None = None) -> None:
        self.model = model
        self.config = config or HOLD_WHERE_STILL
        self.start_clip(None)

    @classmethod
    def build(
        cls, mode: str, checkpoint: str | None = None, config: StreamConfig | None = None, device: str | None = None
    ) -> TemporalStage:
        """``mode`` ``"fusion"`` (weight-free) or ``"refiner"`` (``checkpoint``, else the shipped weights, on
        ``device``: CPU when ``None``)."""
        if mode == "fusion":
            if checkpoint is not None:
                raise ConfigError("temporal fusion uses no weights: a temporal checkpoint needs the refiner mode")
            return cls(None, config)
        if mode != "refiner":
            raise ConfigError(f"unknown temporal mode {mode!r}: choose one of {', '.join(TEMPORAL_MODES)}")
        weights = checkpoint or shipped_temporal_checkpoint()
        if weights is None:
            raise ConfigError("this vmat has no shipped temporal refiner weights: train some with `vmat train temporal`")
        return cls(build_temporal_refiner(checkpoint=weights).to(device or "cpu"), config)

    def start_clip(self, info: VideoInfo | None) -> None:
        self._stream = TemporalRefinerStream(self.model, self.config)
        self._held: deque[FrameRecord] = deque()

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        ready = []
        for record in batch:
            stack = record.layers
            assert stack is not None, "the runner puts the decompose stage before the temporal stage"
            # Only people in view enter the stream: a person who leaves and comes back starts afresh.
            planes = {instance: plane for plane, instance in enumerate(stack.ids) if plane > 0 and stack.alpha[plane].any()}
            alphas = {instance: stack.alpha[plane].numpy() for instance, plane in planes.items()}
            # Each person's colour travels with their alpha: coverage held from an earlier frame keeps its colour.
            colours = {instance: stack.colour[plane].numpy() for instance, plane in planes.items()}
            self._held.append(record)
            steadier = self._stream.push(record.frame.image, alphas, camera=record.camera, colours=colours)
            if steadier is not None:
                ready.append(_with_alphas(self._held.popleft(), steadier))
        return ready

    def finish_clip(self) -> list[FrameRecord]:
        return [_with_alphas(self._held.popleft(), steadier) for steadier in self._stream.flush()]


def _with_alphas(record: FrameRecord, mattes: dict[int, np.ndarray]) -> FrameRecord:
    """``record`` with each person's alpha from their ``(4, H, W)`` premultiplied matte, and the colour it
    carried where the alpha was raised above the frame's own."""
    stack = record.layers
    assert stack is not None, "records reach the temporal stream only with layers"
    alpha, colour = stack.alpha.clone(), stack.colour
    for plane, instance in enumerate(stack.ids):
        if instance in mattes:
            matte, own_alpha = mattes[instance], stack.alpha[plane].numpy()
            alpha[plane] = torch.from_numpy(matte[0])
            pixels = raised_pixels(matte, own_alpha)
            if len(pixels[0]):
                colour = colour.clone() if colour is stack.colour else colour  # the stack's tensors are shared
                own = colour[plane].numpy()
                own[:, pixels[0], pixels[1]] = raised_colour(matte, own_alpha, own, pixels)
    record.layers = stack.replace(alpha=alpha, colour=colour)
    return record
