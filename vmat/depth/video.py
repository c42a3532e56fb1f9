"""Depth for a whole clip, streamed: frames in, one depth map per frame out, memory bounded by the batch.

Depth maps are saved as 16-bit grey PNGs (``round(depth * 65535)``, 0 = nearest), one per frame named
by the frame index, and optionally as a colour preview video (warm = near, cold = far).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from vmat.depth.base import DepthEstimator, images_to_tensor
from vmat.depth.stabilize import DepthStabilizer
from vmat.errors import ConfigError, OutputError
from vmat.progress import progress
from vmat.propagation.idmask import read_id_mask_folder

if TYPE_CHECKING:
    from vmat.io.reader import Backend

_UINT16_MAX = 65535


def stream_depth(
    images: Iterable[np.ndarray],
    estimator: DepthEstimator,
    *,
    masks: Iterable[np.ndarray] | None = None,
    batch_size: int = 4,
    stabilizer: DepthStabilizer | None = None,
) -> Iterator[np.ndarray]:
    """Yield one float32 depth map ``(H, W)`` in [0, 1] (smaller = nearer) per uint8 RGB image ``(H, W, 3)``.

    ``masks`` (optional) yields one integer id mask ``(H, W)`` per image, in the same order. At most
    ``batch_size`` frames are held at a time; the stabiliser's state is carried across batches.
    """
    if batch_size < 1:
        raise ConfigError(f"The depth batch size must be at least 1, not {batch_size}.")
    image_iter = iter(images)
    mask_iter = iter(masks) if masks is not None else None
    state = None
    while batch := list(islice(image_iter, batch_size)):
        frames = images_to_tensor(batch)
        mask_batch = None
        if mask_iter is not None:
            mask_list = list(islice(mask_iter, len(batch)))
            if len(mask_list) < len(batch):
                raise ConfigError("There are fewer instance masks than frames in the clip.")
            mask_batch = torch.from_numpy(np.stack(mask_list).astype(np.int64))
            if mask_batch.shape[1:] != frames.shape[2:]:
                raise ConfigError(
                    f"The instance masks are {mask_batch.shape[2]}x{mask_batch.shape[1]} but the frames are "
                    f"{frames.shape[3]}x{frames.shape[2]}."
                )
        with torch.inference_mode():
            depth = estimator(frames, mask_batch)
            if stabilizer is not None:
                depth, state = stabilizer(depth, state, mask_batch)
        yield from depth[:, 0].float().cpu().numpy()


def depth_to_uint16(depth: np.ndarray) -> np.ndarray:
    """``(H, W)`` depth in [0, 1] -> uint16 ``round(depth * 65535)``, the on-disk form."""
    return np.round(np.clip(depth, 0.0, 1.0) * _UINT16_MAX).astype(np.uint16)


def depth_preview(depth: np.ndarray) -> np.ndarray:
    """``(H, W)`` depth in [0, 1] -> ``(H, W, 3)`` uint8 RGB colour map, warm = near, cold = far."""
    nearness = np.round((1.0 - np.clip(depth, 0.0, 1.0)) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(nearness, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)


@dataclass
class DepthRunSummary:
    """What :func:`write_clip_depth` did."""

    frames: int
    width: int
    height: int
    estimator: str
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        return (
            f"depth ({self.estimator}) for {self.frames} frames of {self.width}x{self.height} "
            f"in {self.seconds:.1f} s ({self.fps:.1f} frames/s)"
        )


def write_clip_depth(
    clip: str | Path,
    output_dir: str | Path,
    estimator: DepthEstimator,
    *,
    masks_dir: str | Path | None = None,
    stabilizer: DepthStabilizer | None = None,
    batch_size: int = 4,
    preview: str | Path | None = None,
    max_frames: int | None = None,
    backend: Backend = "pyav",
) -> DepthRunSummary:
    """Estimate depth for every frame of ``clip`` and save it as 16-bit PNGs ``NNNNNN.png`` in ``output_dir``.

    ``masks_dir``: a folder of id-mask PNGs, one per frame in name order, used by mask-aware estimators
    and to keep people out of the stabiliser's fit. ``preview``: also write a colour preview video there.
    ``max_frames``: stop after that many frames. The folder (and preview) appear only when all is done.
    """
    # Imported here so that the depth models stay usable without the video I/O stack.
    from vmat.io import Frame, VideoWriter, atomic_output, open_video

    start = time.perf_counter()
    frames = width = height = 0
    with ExitStack() as stack:
        reader = stack.enter_context(open_video(clip, backend=backend))
        folder = stack.enter_context(atomic_output(output_dir, is_dir=True))
        writer = stack.enter_context(VideoWriter(preview, fps=reader.info.frame_rate)) if preview is not None else None
        # Frames decoded but not yet turned into depth: at most one batch, for their index and timing.
        pending: deque[Frame] = deque()

        def images() -> Iterator[np.ndarray]:
            total = reader.info.num_frames if max_frames is None else max_frames
            for frame in progress(islice(reader, max_frames), total=total, desc="depth"):
                pending.append(frame)
                yield frame.image

        masks = read_id_mask_folder(masks_dir) if masks_dir is not None else None
        for depth in stream_depth(images(), estimator, masks=masks, batch_size=batch_size, stabilizer=stabilizer):
            frame = pending.popleft()
            if not cv2.imwrite(str(folder / f"{frame.index:06d}.png"), depth_to_uint16(depth)):
                raise OutputError(f"Could not write the depth image of frame {frame.index} to {output_dir}.")
            if writer is not None:
                writer.write_frame(frame, depth_preview(depth))
            frames += 1
            height, width = depth.shape
    return DepthRunSummary(frames, width, height, estimator.name, time.perf_counter() - start)
