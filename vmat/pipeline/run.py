"""``vmat run``: the whole pipeline on one clip, in this process.

Streamed passes over the clip (masks from prompts take one more before these):

1. :func:`make_layers`: instance masks (propagated from prompts, in a pass of their own) -> decode ->
   depth -> decomposition, written as the clip's layers file (the layers are an output in their own right: edits
   can be redone from them without the models);
2. :func:`edit_clip`: layers -> background completion (it needs the whole clip, hence the second pass) ->
   edits -> encode, with each frame's source timing and the source audio.

Memory holds a few frames per stage, whatever the clip's length.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal
from pathlib import Path

import numpy as np

from vmat.decomposition.build import check_decomposer
from vmat.decomposition.resolution import upsample_layers
from vmat.editing import complete_background
from vmat.errors import ConfigError, OutputError
from vmat.io import VideoWriter, WriteSummary, open_video
from vmat.io.atomic import atomic_output, atomic_outputs, check_new_output, created_folder
from vmat.io.image_sequence import write_png
from vmat.io.reader import Backend
from vmat.io.frame import Frame
from vmat.layers import LayerStack, LayersReader, LayersWriter, label_preview, tensor_to_image
from vmat.layers.store import check_source, source_fingerprint
from vmat.pipeline.edits import EditSpec, apply_edits, check_background
from vmat.pipeline.clock import StageClock
from vmat.pipeline.record import FrameRecord
from vmat.pipeline.stage import InProcessRunner, Stage, StageFactory, StageRunner
from vmat.pipeline.stages import DecomposeStage, DepthStage, MaskFolderStage, ShrinkStage, TemporalStage
from vmat.progress import progress
from vmat.propagation.clip import MaskingConfig, mask_clip, video_frames
from vmat.propagation.prompts import prompt_rounds


@dataclass(frozen=True)
class RunConfig:
    """Every choice of a pipeline run, with the measured-best defaults.

    ``process_size`` runs depth, decomposition and completion with the frame's longer side at most that many
    pixels (the layers file is at that size), and brings the layers back to the source size, with the
    source frame's detail, before edits (:mod:`vmat.decomposition.resolution`).

    People come from ``masks_folder`` (per-frame id-mask PNGs ``000000.png``, ... as ``vmat masks`` writes
    them) when given; otherwise from ``prompt`` (a JSON prompt file, or an id-mask PNG of frame
    ``prompt_frame``) propagated through the clip; with neither, from the automatic people finder (the person detector).
    """

    masks_folder: str | None = None
    prompt: str | None = None
    prompt_frame: int = 0
    # How masks are carried through the clip: "prior" (flow fused with the person prior) or "flow" (weight-free).
    propagator: Literal["prior", "flow"] = "prior"
    depth: str = "ground-plane"
    depth_checkpoint: str | None = None
    decomposer: str = "mask-matting"
    decomposer_checkpoint: str | None = None
    temporal: Literal["off", "fusion", "refiner"] = "fusion"
    temporal_checkpoint: str | None = None
    process_size: int | None = None
    complete_background: bool = True
    edit: EditSpec = field(default_factory=EditSpec)
    write_video: bool = True
    write_layers: bool = True
    write_preview: bool = True
    write_people: bool = False
    crf: int = 18  # H.264 quality of the edited video, lower is better (0-51)
    preset: str = "veryfast"
    fast_encode: bool = False  # let the encoders pick their thread count: faster, but the bytes depend on the machine
    batch_size: int = 4
    backend: Backend = "pyav"
    # Where the networks run: "cpu", "cuda" or "cuda:N" (None: each stage's own default, CPU but for dav2-small).
    device: str | None = None
    # Frames start to end - 1 of the clip only (end None: to its last), read as a clip of their own: prompt
    # frames and mask files count from start, the outputs start at the clip's start time (vmat.io.open_video).
    start: int = 0
    end: int | None = None


@dataclass
class RunSummary:
    """What a run wrote and how long each stage took (seconds, summed over the clip)."""

    frames: int = 0
    outputs: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def describe(self) -> str:
        rate = self.frames / self.wall_seconds if self.wall_seconds else 0.0
        stages = ", ".join(f"{name} {1000 * seconds / max(self.frames, 1):.1f}" for name, seconds in self.stage_seconds.items())
        return "\n".join(
            [*self.outputs, f"{self.frames} frames in {self.wall_seconds:.1f} s ({rate:.1f} frames/s); ms per frame: {stages}"]
        )


def stage_factories(config: RunConfig) -> list[StageFactory]:
    """The first pass's stages for ``config``, as factories (so a Ray actor can build its own).

    The masks must exist by then (:func:`make_layers` makes them from prompts first).
    """
    if config.masks_folder is None:
        raise ConfigError("the layer stages need a folder of per-frame id masks")
    factories: list[StageFactory] = [
        partial(MaskFolderStage, config.masks_folder),
        *([partial(ShrinkStage, config.process_size)] if config.process_size is not None else []),
        partial(DepthStage.build, config.depth, config.depth_checkpoint),
        partial(DecomposeStage.build, config.decomposer, config.decomposer_checkpoint),
    ]
    if config.temporal != "off":
        factories.append(partial(TemporalStage.build, config.temporal, config.temporal_checkpoint))
    return factories


def make_layers(
    source: str | os.PathLike[str],
    layers_path: str | os.PathLike[str],
    config: RunConfig = RunConfig(),
    *,
    runner: StageRunner | None = None,
    clock: StageClock | None = None,
) -> list[str]:
    """First pass: the clip's instance masks (unless ``config.masks_folder`` has them) and its layers file.

    Masks made from prompts are written beside the layers (``NAME.masks`` for ``NAME.vlayers``). ``runner``
    executes the stages: in this process by default, or on Ray actors (``pipelines``); both give the same
    layers. Returns a line per output written.
    """
    source, layers_path = Path(source), Path(layers_path)
    clock = clock or StageClock()
    written = []
    rounds = prompt_rounds(config.prompt, config.prompt_frame) if config.masks_folder is None else None
    _make_folder(layers_path.parent)
    if config.masks_folder is None:
        masks = layers_path.with_suffix(".masks")
        with clock.measure("masks"):
            masking = mask_clip(video_frames(source), masks, rounds, config=MaskingConfig(propagator=config.propagator))
        how = "people found automatically" if masking.automatic else f"prompts from frame {masking.start_frame}"
        written.append(f"wrote {masks} (id masks of {masking.frames} frames, {how}; ids {masking.ids})")
        config = replace(config, masks_folder=str(masks))
    factories = stage_factories(config)
    runner = runner or InProcessRunner(wrap=lambda stage: _TimedStage(stage, clock))
    frames = 0
    fingerprint = source_fingerprint(source)  # edits check that they are given this clip
    with open_video(source, backend=config.backend) as reader, LayersWriter(
        layers_path, frame_rate=reader.info.frame_rate, source=fingerprint
    ) as layers:
        records = (FrameRecord(frame) for frame in clock.iterate("decode", reader))
        processed = runner.run(records, factories, reader.info, config.batch_size)
        for record in progress(processed, total=reader.info.num_frames, desc="layers"):
            with clock.measure("layers file"):
                layers.write(record.layers, record.frame.time)
            frames += 1
    written.append(f"wrote {layers_path} (layers of {frames} frames)")
    return written


def edit_clip(
    source: str | os.PathLike[str],
    layers_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    edit: EditSpec,
    *,
    complete: bool = True,
    crf: int | None = None,
    preset: str = "veryfast",
    backend: Backend = "pyav",
    clock: StageClock | None = None,
    deterministic: bool = True,
) -> WriteSummary:
    """Second pass: the clip's layers -> background completion -> ``edit`` -> ``output`` video, with each frame's
    source timing and the source audio. Redo it with other edits as often as wanted: the models do not run.
    ``deterministic``: the same edit gives the same bytes on any machine (see :class:`~vmat.io.VideoWriter`)."""
    source = Path(source)
    clock = clock or StageClock()
    layers = LayersReader(layers_path)
    info = layers.info
    check_source(layers_path, info, source)
    missing = sorted(set(edit.instance_ids) - set(info.instance_ids))
    if missing:
        raise ConfigError(f"person id(s) {missing} are not in {str(layers_path)!r}, whose people are {info.instance_ids}")
    stacks: Iterator = clock.iterate("layers file", layers)
    if complete:
        stacks = clock.iterate("completion", (frame.stack for frame in complete_background(_ClockedLayers(layers, clock), removing=edit.vacated_ids, keep_shadows=edit.keep_shadow)))
    with open_video(source, backend=backend) as reader, VideoWriter(
        output, fps=reader.info.frame_rate, crf=crf, preset=preset, audio_from=source if reader.info.audio else None,
        colour=reader.info.colour, deterministic=deterministic,
    ) as writer:
        if reader.info.num_frames != info.num_frames:
            raise ConfigError(f"{str(layers_path)!r} holds {info.num_frames} frames but {str(source)!r} has {reader.info.num_frames}: not its layers")
        frames = _FramesAlongside(clock.iterate("decode", reader))
        full_size = clock.iterate("upsample", frames.upsampled(stacks))
        edited = clock.iterate("edit", apply_edits(full_size, edit, reader.info.width, reader.info.height))
        for stack in progress(edited, total=info.num_frames, desc="edit + encode"):
            with clock.measure("render + encode"):
                writer.write_frame(frames.pop(), image=np.ascontiguousarray(tensor_to_image(stack.render())))
    return writer.summary


def export_people(
    source: str | os.PathLike[str],
    layers_path: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    backend: Backend = "pyav",
    clock: StageClock | None = None,
) -> list[str]:
    """Write each person's layer as videos: ``CLIP.person<ID>.matte.mp4`` (their visible alpha, grey) and
    ``CLIP.person<ID>.webm`` (their straight colour with that alpha, VP9 with alpha), with the clip's timing.

    A person out of view in a frame is fully transparent there. Returns a line per file written.
    """
    source, folder = Path(source), Path(folder)
    clock = clock or StageClock()
    layers = LayersReader(layers_path)
    check_source(layers_path, layers.info, source)
    with ExitStack() as files, open_video(source, backend=backend) as reader:
        writers = {}
        for instance in layers.info.instance_ids:
            name = f"{source.stem}.person{instance}"
            writers[instance] = (
                files.enter_context(VideoWriter(folder / f"{name}.matte.mp4", format="matte", fps=reader.info.frame_rate)),
                files.enter_context(VideoWriter(folder / f"{name}.webm", format="vp9-alpha", fps=reader.info.frame_rate)),
            )
        frames = clock.iterate("decode", reader)
        for frame, stack in progress(zip(frames, clock.iterate("layers file", layers), strict=True), total=layers.info.num_frames, desc="people"):
            with clock.measure("upsample"):
                stack = upsample_layers(stack, frame.image)
            with clock.measure("people"):
                weights = stack.weights()
                for instance, (matte, rgba) in writers.items():
                    if instance in stack.ids:
                        plane = stack.ids.index(instance)
                        alpha = np.round(weights[plane].numpy() * 255).astype(np.uint8)
                        colour = tensor_to_image(stack.colour[plane])
                    else:
                        alpha = np.zeros((stack.height, stack.width), np.uint8)
                        colour = np.zeros((stack.height, stack.width, 3), np.uint8)
                    matte.write_frame(frame, image=alpha)
                    rgba.write_frame(frame, image=np.dstack([colour, alpha]))
    return [writer.summary.describe() for pair in writers.values() for writer in pair]


def run_outputs(source: str | os.PathLike[str], output_dir: str | os.PathLike[str], config: RunConfig = RunConfig()) -> list[Path]:
    """The outputs :func:`run_clip` would write for ``source`` into ``output_dir`` that exist now or are known by
    name before the run (each person's videos are named after ids found on the way: those already there count)."""
    stem, folder = Path(source).stem, Path(output_dir)
    names = []
    if config.write_layers:
        names += [f"{stem}.vlayers"] + ([f"{stem}.masks"] if config.masks_folder is None else [])
    names += [f"{stem}.ids.png"] if config.write_preview else []
    names += [f"{stem}.vmat.mp4"] if config.write_video else []
    if config.write_people and folder.is_dir():
        person = re.compile(rf"{re.escape(stem)}\.person\d+\.(matte\.mp4|webm)")
        names += sorted(entry.name for entry in folder.iterdir() if person.fullmatch(entry.name))
    return [folder / name for name in names]


def run_clip(
    source: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    config: RunConfig = RunConfig(),
    *,
    runner: StageRunner | None = None,
    overwrite: bool = False,
) -> RunSummary:
    """Run the pipeline on ``source`` and write its outputs into ``output_dir``, named after the clip:
    ``CLIP.masks`` (when made from prompts), ``CLIP.vlayers``, ``CLIP.ids.png``, ``CLIP.vmat.mp4`` and, with
    ``write_people``, each person's matte and RGBA videos (:func:`export_people`).

    The outputs appear together, only when all are complete (:func:`vmat.io.atomic.atomic_outputs`); one that
    exists already is an error unless ``overwrite``, and none may be an input."""
    started = time.perf_counter()
    source = Path(source)
    folder = Path(output_dir)
    if config.edit.background is not None:
        check_background(config.edit.background)
    check_decomposer(config.decomposer, config.decomposer_checkpoint)
    inputs = (
        source, config.masks_folder, config.prompt, config.depth_checkpoint, config.decomposer_checkpoint,
        config.temporal_checkpoint, config.edit.background,
    )
    for output in run_outputs(source, folder, config):
        check_new_output(output, overwrite=overwrite, inputs=inputs)
    summary = RunSummary()
    clock = StageClock()
    with created_folder(folder), atomic_outputs(folder) as staging, tempfile.TemporaryDirectory(prefix="vmat-run-") as scratch:
        here = staging.folder
        layers_path = (here if config.write_layers else Path(scratch)) / f"{source.stem}.vlayers"
        written = make_layers(source, layers_path, config, runner=runner, clock=clock)
        summary.outputs.extend(written if config.write_layers else [])
        layers = LayersReader(layers_path)
        summary.frames = layers.info.num_frames
        if config.write_preview:
            preview = here / f"{source.stem}.ids.png"
            _write_image(preview, label_preview(layers.read(0)))
            summary.outputs.append(f"wrote {preview} (first frame, each person labelled with their id)")
        if config.write_people:
            summary.outputs += export_people(source, layers_path, here, backend=config.backend, clock=clock)
        if config.write_video:
            video = here / f"{source.stem}.vmat.mp4"
            result = edit_clip(
                source, layers_path, video, config.edit, complete=config.complete_background, crf=config.crf,
                preset=config.preset, backend=config.backend, clock=clock, deterministic=not config.fast_encode,
            )
            summary.outputs.append(result.describe())
    summary.outputs = [staging.shown(line) for line in summary.outputs]
    summary.wall_seconds = time.perf_counter() - started
    summary.stage_seconds = clock.seconds
    return summary


class _FramesAlongside:
    """Source frames decoded in step with a stream of layer stacks: :meth:`upsampled` brings each stack to its
    frame's size (a no-op at full size) and keeps the frame until the writer pops it, so the
    frames need not be decoded twice and at most one waits."""

    def __init__(self, frames: Iterator[Frame]) -> None:
        self.frames = frames
        self.waiting: deque[Frame] = deque()

    def upsampled(self, stacks: Iterator[LayerStack]) -> Iterator[LayerStack]:
        for stack in stacks:
            frame = next(self.frames)
            self.waiting.append(frame)
            yield upsample_layers(stack, frame.image)

    def pop(self) -> Frame:
        return self.waiting.popleft()


class _ClockedLayers:
    """A re-iterable view of a layers file whose reads are charged to the "layers file" stage."""

    def __init__(self, layers: LayersReader, clock: StageClock) -> None:
        self.layers, self.clock = layers, clock

    def __iter__(self) -> Iterator:
        return self.clock.iterate("layers file", self.layers)


class _TimedStage(Stage):
    """A stage whose work is charged to its name on the run's clock."""

    def __init__(self, inner: Stage, clock: StageClock) -> None:
        self.inner, self.clock = inner, clock
        self.name, self.ordered = inner.name, inner.ordered

    def start_clip(self, info) -> None:
        self.inner.start_clip(info)

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        with self.clock.measure(self.name):
            return self.inner.process(batch)

    def finish_clip(self) -> list[FrameRecord]:
        with self.clock.measure(self.name):
            return self.inner.finish_clip()


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output folder {str(folder)!r}: {error.strerror}") from None


def _write_image(path: Path, rgb: np.ndarray) -> None:
    with atomic_output(path) as temporary:
        write_png(temporary, rgb)
