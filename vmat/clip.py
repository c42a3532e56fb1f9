"""A clip to matte and edit from Python, in memory and streamed (the SAM 2 / Cutie style of API).

    clip = vmat.Clip("dance.mp4", process_size=640)
    clip.add_prompt(0, 1, box=(120, 40, 330, 470))          # person 1 on frame 0
    clip.add_prompt(30, 2, points=[(600, 200)], labels=[1])  # person 2 first seen on frame 30
    for index, ids, masks in clip.masks():                   # masks: (N, H, W) bool, one per id
        ...
    for index, stack in clip.layers():                       # LayerStack at the processing size
        ...
    for index, image in clip.edit(remove=[2], background="#00b140"):   # (H, W, 3) uint8 RGB
        ...
    clip.write_video("out.mp4", remove=[2])                  # files are sinks over the same streams

Every iterator is one pass over the clip (:mod:`vmat.pipeline.stream`): the clip is decoded once, frames
are handed over as they are done, and memory holds a few frames whatever the clip's length. Without
prompts the people are found on frame 0. Prompts on a later frame are propagated back over at most
``backward_window`` frames held in memory (earlier frames get no people).
"""

from __future__ import annotations

import os
from contextlib import closing
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vmat.errors import ConfigError, InputNotFoundError
from vmat.io.atomic import atomic_output
from vmat.io.metadata import VideoInfo
from vmat.layers import LayerStack, LayersWriter
from vmat.layers.store import source_fingerprint
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import (
    LayerPass,
    RunConfig,
    finished,
    layer_stacks,
    masking_config,
    render,
    write_video,
)
from vmat.pipeline.stream import in_thread, torch_threads
from vmat.propagation.idmask import mask_path, write_id_mask
from vmat.propagation.prompts import Box, Click, FramePrompt, InstancePrompt, PromptError
from vmat.propagation.stream import MaskStream


class Clip:
    """A video file (or image folder) with the prompts given so far.

    ``config`` holds every pipeline choice (:class:`~vmat.pipeline.run.RunConfig`: stages, processing size,
    device, frame range); ``process_size`` and ``device`` are shortcuts into it. Its ``prompt`` and
    ``masks_folder`` are not used: prompts come from :meth:`add_prompt`.
    """

    path: Path
    config: RunConfig
    prompts: list[FramePrompt]

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        process_size: int | None = None,
        device: str | None = None,
        config: RunConfig | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputNotFoundError(f"clip {str(path)!r} does not exist")
        config = config or RunConfig()
        self.config = replace(
            config,
            prompt=None,
            masks_folder=None,
            process_size=config.process_size if process_size is None else process_size,
            device=config.device if device is None else device,
        )
        self.prompts = []
        self._info: VideoInfo | None = None

    @property
    def info(self) -> VideoInfo:
        """The clip's size, frame count, frame rate (probed once)."""
        if self._info is None:
            from vmat.io import open_video

            with open_video(self.path, backend=self.config.backend, start=self.config.start, end=self.config.end) as reader:
                self._info = reader.info
        return self._info

    def add_prompt(
        self,
        frame: int,
        id: int,
        *,
        box: Sequence[int] | None = None,
        points: Sequence[Sequence[int]] | None = None,
        labels: Sequence[int | bool] | None = None,
        mask: np.ndarray | None = None,
    ) -> None:
        """Say where person ``id`` is on frame ``frame`` (pixels of the full-size frame, ``x, y``).

        ``box``: ``(x0, y0, x1, y1)``, x1 and y1 excluded; ``points``: clicks ``[(x, y), ...]`` with ``labels``
        1 (on the person) or 0 (off them), all 1 by default; ``mask``: ``(H, W)`` bool, the person's pixels
        (taken as given, before any box or points refine it). Prompts on one frame apply in the order given.
        """
        if id < 1:
            raise PromptError(f"person ids start at 1, got {id}.")
        if frame < 0:
            raise PromptError(f"frame numbers start at 0, got {frame}.")
        if box is None and points is None and mask is None:
            raise PromptError(f"the prompt for person {id} on frame {frame} has no box, points or mask.")
        if mask is not None:
            mask = np.asarray(mask).astype(bool)
            if mask.ndim != 2:
                raise PromptError(f"a mask prompt is (H, W), not {mask.shape}.")
            self.prompts.append(FramePrompt(frame, id_mask=np.where(mask, id, 0).astype(np.uint16)))
        if box is None and points is None:
            return
        clicks: tuple[Click, ...] = ()
        if points is not None:
            labels = [1] * len(points) if labels is None else list(labels)
            if len(labels) != len(points):
                raise PromptError(f"{len(points)} points but {len(labels)} labels for person {id}.")
            clicks = tuple(Click(int(x), int(y), bool(label)) for (x, y), label in zip(points, labels))
        self.prompts.append(
            FramePrompt(
                frame, instances=(InstancePrompt(id, box=None if box is None else Box(*(int(v) for v in box)), clicks=clicks),)
            )
        )

    def clear_prompts(self) -> None:
        self.prompts = []

    @property
    def prompted_ids(self) -> list[int]:
        """Every person id the prompts name."""
        ids: set[int] = set()
        for round_ in self.prompts:
            if round_.id_mask is not None:
                ids.update(int(i) for i in np.unique(round_.id_mask) if i > 0)
            ids.update(instance.id for instance in round_.instances)
        return sorted(ids)

    def masks(self) -> Iterator[tuple[int, list[int], np.ndarray]]:
        """``(frame_index, ids, masks)`` per frame in order: ``masks`` ``(N, H, W)`` bool at the full size, one per
        id in ``ids`` (the people in that frame, sorted). Only mask propagation runs."""
        from vmat.io import open_video

        with torch_threads(self.config.torch_threads), open_video(
            self.path, backend=self.config.backend, start=self.config.start, end=self.config.end
        ) as reader, closing(in_thread(reader)) as frames:
            stream: MaskStream[int] = MaskStream(self.prompts or None, masking_config(self.config))
            for frame in frames:
                for index, ids in stream.push(frame.index, frame.image, frame.index):
                    yield _split(index, ids)
            for index, ids in stream.finish():
                yield _split(index, ids)

    def layers(self) -> Iterator[tuple[int, LayerStack]]:
        """``(frame_index, stack)`` per frame in order: the :class:`~vmat.layers.LayerStack` (background + one
        plane per person, at the processing size) after masks, depth, decomposition and temporal smoothing."""
        with (
            torch_threads(self.config.torch_threads),
            LayerPass(self.path, self.config, prompts=self.prompts or None) as layer_pass,
        ):
            for frame, stack in layer_stacks(layer_pass):
                yield frame.index, stack

    def edit(self, spec: EditSpec | None = None, **edits: Any) -> Iterator[tuple[int, np.ndarray]]:
        """``(frame_index, image)`` per frame in order: the edited frame, ``(H, W, 3)`` uint8 RGB at the full size.

        The edits are an :class:`~vmat.pipeline.edits.EditSpec` or its fields as keywords (``remove=[2]``,
        ``reorder=(1, 2)``, ``background="#00b140"`` or an image or video file or ``"blur:8"``,
        ``keep_shadow=True``). Ids the prompts do not name are refused before any work.
        """
        spec = self._spec(spec, edits)
        config = replace(self.config, edit=spec)
        with torch_threads(config.torch_threads), LayerPass(self.path, config, prompts=self.prompts or None) as layer_pass:
            for frame, stack in finished(iter(layer_pass), config, layer_pass.info, layer_pass.clock):
                yield frame.index, render(stack)

    # -- sinks: files written from the iterators ---------------------------------------------------------

    def write_masks(self, folder: str | os.PathLike[str]) -> Path:
        """Each frame's id mask as ``folder/000000.png``, ... (the ``vmat masks`` layout). Returns the folder."""
        with atomic_output(folder, is_dir=True) as temporary:
            for index, ids, masks in self.masks():
                id_mask = np.zeros(masks.shape[1:], np.uint16)
                for instance, mask in zip(ids, masks):
                    id_mask[mask] = instance
                write_id_mask(mask_path(temporary, index), id_mask)
        return Path(folder)

    def write_layers(self, path: str | os.PathLike[str]) -> Path:
        """The clip's layers file (reusable by ``vmat remove --layers`` and the other edits). Returns its path."""
        with (
            LayersWriter(
                path, frame_rate=self.info.frame_rate, source=source_fingerprint(self.path, self.config.start)
            ) as writer,
            torch_threads(self.config.torch_threads),
            LayerPass(self.path, self.config, prompts=self.prompts or None) as layer_pass,
        ):
            for frame, stack in layer_stacks(layer_pass):
                writer.write(stack, frame.time)
        return Path(path)

    def write_video(self, path: str | os.PathLike[str], spec: EditSpec | None = None, **edits: Any) -> Path:
        """The edited clip (:meth:`edit`'s frames) as a video file with the source's timing and audio."""
        config = replace(self.config, edit=self._spec(spec, edits))
        with torch_threads(config.torch_threads), LayerPass(self.path, config, prompts=self.prompts or None) as layer_pass:
            write_video(iter(layer_pass), path, config, layer_pass)
        return Path(path)

    def _spec(self, spec: EditSpec | None, edits: dict[str, Any]) -> EditSpec:
        if spec is not None and edits:
            raise ConfigError("give the edits as an EditSpec or as keywords, not both")
        if spec is None:
            known = set(EditSpec.__dataclass_fields__)
            unknown = sorted(set(edits) - known)
            if unknown:
                raise ConfigError(f"unknown edit(s) {unknown}: choose from {sorted(known)}")
            for name in ("remove", "reorder"):
                if edits.get(name) is not None:
                    edits[name] = tuple(int(i) for i in edits[name])
            spec = EditSpec(**edits)
        if self.prompts:
            missing = sorted(spec.instance_ids - set(self.prompted_ids))
            if missing:
                raise ConfigError(f"person id(s) {missing} are not in the prompts, whose people are {self.prompted_ids}")
        return spec


def _split(index: int, ids: np.ndarray) -> tuple[int, list[int], np.ndarray]:
    present = [int(i) for i in np.unique(ids) if i > 0]
    return index, present, np.stack([ids == i for i in present]) if present else np.zeros((0, *ids.shape), bool)
