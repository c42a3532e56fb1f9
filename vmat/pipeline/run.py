"""``vmat run``: the whole pipeline on one clip, in this process, in one pass.

The clip is decoded once and every stage reads what the earlier ones computed (:mod:`vmat.pipeline.stream`):

    decode -> masks (propagated from the prompts in the same stream) -> shrink to ``process_size`` -> depth ->
    decomposition -> camera motion -> temporal -> completion -> upsample -> edits -> render -> encode

Files are sinks on that stream, written only when asked: the layers file (``write_layers``; edits can be
redone from it without the models), the id masks (``write_masks``), each person's videos (``write_people``),
the labelled first frame (``write_preview``) and the edited video (``write_video``).

Memory holds a few frames per stage, whatever the clip's length (the masks' backward window and
completion's look-ahead are the largest).
"""

from __future__ import annotations

import os
import re
import resource
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Literal, NamedTuple, cast

import numpy as np

from vmat.decomposition.build import check_decomposer
from vmat.decomposition.resolution import upsample_layers
from vmat.editing import complete_background
from vmat.editing.amodal import AmodalPeople, complete_people
from vmat.editing.completion import CompletionConfig, changed_ground
from vmat.editing.completion_stream import CompletionStream
from vmat.errors import ConfigError, OutputError
from vmat.geometry import processing_size
from vmat.io import VideoWriter, WriteSummary, open_video
from vmat.io.atomic import atomic_output, atomic_outputs, check_new_output, created_folder
from vmat.io.frame import Frame
from vmat.io.image_sequence import write_png
from vmat.io.metadata import VideoInfo
from vmat.io.reader import Backend
from vmat.layers import LayersReader, LayerStack, LayersWriter, label_preview, tensor_to_image
from vmat.layers.store import check_source, source_fingerprint
from vmat.pipeline.clock import StageClock
from vmat.pipeline.edits import EditSpec, apply_edits, check_background
from vmat.pipeline.record import FrameRecord
from vmat.pipeline.pipelined import PipelinedRunner, core_to_spare
from vmat.pipeline.stage import InProcessRunner, StageFactory, StageRunner, chained
from vmat.pipeline.stages import (
    CameraStage,
    DecomposeStage,
    DepthStage,
    MaskFolderStage,
    MaskWriterStage,
    PropagationStage,
    ShrinkStage,
    TemporalStage,
)
from vmat.pipeline.stream import Alongside, BackgroundSink, in_thread, paired, stored, torch_threads
from vmat.progress import progress
from vmat.propagation.clip import MaskingConfig
from vmat.propagation.prompts import FramePrompt, prompt_rounds


@dataclass(frozen=True)
class RunConfig:
    """Every choice of a pipeline run, with the measured-best defaults.

    ``process_size`` runs depth, decomposition and completion with the frame's longer side at most that many
    pixels (the layers file is at that size), and brings the layers back to the source size, with the
    source frame's detail, before edits (:mod:`vmat.decomposition.resolution`).

    People come from ``masks_folder`` (per-frame id-mask PNGs ``000000.png``, ... as ``vmat masks`` writes
    them) when given; otherwise from ``prompt`` (a JSON prompt file, or an id-mask PNG of frame
    ``prompt_frame``) propagated through the clip; with neither, from the automatic people finder (the person detector).
    Frames more than ``backward_window`` frames before the first prompted frame get no people (the masks are
    propagated back from it over frames held in memory, not by decoding the clip again).
    """

    masks_folder: str | None = None
    prompt: str | None = None
    prompt_frame: int = 0
    # How masks are carried through the clip: "prior" (flow fused with the person prior) or "flow" (weight-free).
    propagator: Literal["prior", "flow"] = "prior"
    backward_window: int = MaskingConfig.backward_window
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
    write_layers: bool = False
    write_masks: bool = False
    write_preview: bool = True
    write_people: bool = False
    crf: int = 18  # H.264 quality of the edited video, lower is better (0-51)
    preset: str = "veryfast"
    fast_encode: bool = False  # let the encoders pick their thread count: faster, but the bytes depend on the machine
    batch_size: int = 4
    backend: Backend = "pyav"
    # Where the networks run (depth, decomposition): "cpu", "cuda", "cuda:N"; None: each stage's default.
    device: str | None = None
    # Only frames start .. end - 1 of the clip, as a clip of its own (vmat.io.open_video): frames, prompts and
    # mask files are numbered from 0 at ``start``.
    start: int = 0
    end: int | None = None
    # Torch intra-op and OpenCV threads per process while the run lasts (None: leave their settings). One: a second
    # gained about 1% on an idle 2-core machine and cost 2-3x when anything else ran (docs/results/pipeline.md).
    torch_threads: int | None = 1
    # The leading stages in a second process, alongside the rest (vmat.pipeline.pipelined): None means on when a
    # CPU is to spare (vmat.pipeline.pipelined.core_to_spare). ``pipeline_split`` names the last stage of the
    # second process (None: the split that balances the measured stage costs).
    pipelining: bool | None = None
    pipeline_split: str | None = None


@dataclass
class RunSummary:
    """What a run wrote and how long each stage took (seconds, summed over the clip)."""

    frames: int = 0
    outputs: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    ids: list[int] = field(default_factory=list)
    peak_rss_mb: float = 0.0  # this process's peak resident memory plus the pipeline's second process's

    def describe(self) -> str:
        rate = self.frames / self.wall_seconds if self.wall_seconds else 0.0
        stages = ", ".join(f"{name} {1000 * seconds / max(self.frames, 1):.1f}" for name, seconds in self.stage_seconds.items())
        return "\n".join(
            [*self.outputs, f"{self.frames} frames in {self.wall_seconds:.1f} s ({rate:.1f} frames/s); ms per frame: {stages}"]
        )


def masking_config(config: RunConfig) -> MaskingConfig:
    """How ``config``'s masks are propagated (the settings :class:`RunConfig` and :class:`MaskingConfig` share)."""
    return MaskingConfig(propagator=config.propagator, backward_window=config.backward_window, device=config.device or "cpu")


def stage_factories(
    config: RunConfig, prompts: list[FramePrompt] | None = None, masks_out: str | os.PathLike[str] | None = None
) -> list[StageFactory]:
    """The stages a runner executes for ``config``, as factories (so a Ray actor can build its own).

    Masks come from ``config.masks_folder`` when given, else they are propagated in the stream from
    ``prompts`` (default: ``config.prompt``; none: people found on frame 0). ``masks_out``: write them there.
    """
    if config.masks_folder is not None:
        factories: list[StageFactory] = [partial(MaskFolderStage, config.masks_folder)]
    else:
        rounds = prompts if prompts is not None else prompt_rounds(config.prompt, config.prompt_frame)
        factories = [partial(PropagationStage, rounds, masking_config(config))]
    if masks_out is not None:
        factories.append(partial(MaskWriterStage, str(masks_out)))
    factories += [
        *([partial(ShrinkStage, config.process_size)] if config.process_size is not None else []),
        partial(DepthStage.build, config.depth, config.depth_checkpoint, device=config.device),
        partial(DecomposeStage.build, config.decomposer, config.decomposer_checkpoint, device=config.device),
    ]
    if config.temporal == "off":
        return [*factories, CameraStage]
    # The camera estimate and the temporal stage both carry state from frame to frame: one worker for both.
    temporal = partial(TemporalStage.build, config.temporal, config.temporal_checkpoint, device=config.device)
    return [*factories, partial(chained, CameraStage, temporal)]


class LayerPass:
    """The clip decoded once and run through :func:`stage_factories`: iterate ``(frame, record)`` in frame
    order, ``frame`` the full-size decoded frame and ``record`` holding the masks, the camera motion and the
    layers (at the processing size, at the precision of the layers file: :func:`~vmat.pipeline.stream.stored`).

    Use as a context manager (it holds the clip open); :attr:`info` describes the clip, :attr:`ids` gathers
    the people seen so far. Decoding runs on a thread of its own.
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        config: RunConfig = RunConfig(),
        *,
        prompts: list[FramePrompt] | None = None,
        runner: StageRunner | None = None,
        clock: StageClock | None = None,
        masks_out: str | os.PathLike[str] | None = None,
    ) -> None:
        self.source, self.config = Path(source), config
        self.clock = clock or StageClock()
        self.runner = runner
        if config.masks_folder is None:
            prompts = prompts if prompts is not None else prompt_rounds(config.prompt, config.prompt_frame)
        self.factories = stage_factories(config, prompts, masks_out)
        self.start_frame = min((p.frame for p in prompts), default=0) if prompts else 0
        self.ids: set[int] = set()
        self._files = ExitStack()
        self._info: VideoInfo | None = None

    @property
    def info(self) -> VideoInfo:
        """The clip's description (known once the pass is entered)."""
        assert self._info is not None, "a LayerPass is read inside its with block"
        return self._info

    @property
    def unreached(self) -> int:
        """Frames given no people because they lie beyond the masks' backward window."""
        return max(0, self.start_frame - self.config.backward_window) if self.config.masks_folder is None else 0

    def __enter__(self) -> LayerPass:
        config = self.config
        reader = self._files.enter_context(open_video(self.source, backend=config.backend, start=config.start, end=config.end))
        self._reader, self._info = reader, reader.info
        runner = self._runner()
        if isinstance(runner, PipelinedRunner):
            # Now, before decoding and encoding start their threads: the second process can then be forked.
            self._files.callback(runner.close)
            with self.clock.measure("wait"):
                runner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._files.close()

    def __iter__(self) -> Iterator[tuple[Frame, FrameRecord]]:
        frames: Alongside[Frame] = Alongside()

        decoding = in_thread(self._reader)
        # Stopped before the reader closes (callbacks run last-in first-out), even while an error that holds this
        # generator in its traceback is on its way out.
        self._files.callback(decoding.close)

        def decoded() -> Iterator[FrameRecord]:
            for frame in self.clock.iterate("decode", decoding):
                frames.keep(frame)
                yield FrameRecord(frame)

        processed = self._runner().run(decoded(), self.factories, self.info, self.config.batch_size, self.clock)
        # Closed with the pass, so a run that stops early (an error, Ctrl-C) stops the stages' second process too.
        self._files.callback(getattr(processed, "close", lambda: None))
        for frame, record in paired(processed, frames):
            assert record.layers is not None, "the decompose stage gives every record its layers"
            with self.clock.measure("quantise"):
                record.layers = stored(record.layers)
            self.ids.update(record.layers.instance_ids)
            yield frame, record


    @property
    def second_process_rss_mb(self) -> float:
        """The peak resident memory of the stages' second process (0 when the stages ran in this one)."""
        return self.runner.peak_rss_mb if isinstance(self.runner, PipelinedRunner) else 0.0

    def _runner(self) -> StageRunner:
        """The runner given, else the stages in this process, or in two when pipelining (by default when a CPU is
        to spare)."""
        config = self.config
        pipelining = config.pipelining if config.pipelining is not None else core_to_spare()
        if self.runner is None and not pipelining:
            self.runner = InProcessRunner()
        elif self.runner is None:
            scale = 1.0
            if config.process_size is not None:
                width, height = processing_size(self.info.width, self.info.height, config.process_size)
                scale = width * height / (self.info.width * self.info.height)
            self.runner = PipelinedRunner(
                config.pipeline_split, downstream=downstream_stages(config), scale=scale,
                threads=config.torch_threads,
            )
        return self.runner


def downstream_stages(config: RunConfig) -> list[str]:
    """The steps a run takes after the stages, by :class:`~vmat.pipeline.stage.Stage` name (their costs choose
    the pipelining split)."""
    steps = ["quantise"]
    steps += ["completion"] if completion_shown(config) else []
    steps += ["upsample"] if config.process_size is not None else []
    steps += ["edit", "render"] if config.write_video else []
    steps += ["layers file"] if config.write_layers else []
    return steps


def completion_shown(config: RunConfig) -> bool:
    """Whether the completed background shows in the video: where the edits take people away, or under everyone
    when the background is blurred (:attr:`EditSpec.completes_background`)."""
    return config.write_video and config.complete_background and config.edit.completes_background


class Layered(NamedTuple):
    """A frame on its way to the edits: the decoded frame, its layers, and ``source`` ``(h, w)`` uint8
    :class:`~vmat.editing.completion.Filled` codes at the layers' size saying where completion filled their
    background from (``None``: not completed), which bringing the layers up to the frame's size needs (a
    lifted shadow is no longer what the frame shows)."""

    frame: Frame
    stack: LayerStack
    source: np.ndarray | None = None


def completed(pairs: Iterable[tuple[Frame, FrameRecord]], edit: EditSpec, clock: StageClock) -> Iterator[Layered]:
    """Each frame with its background completed, through the streaming completion (frames come back after
    its look-ahead, in order)."""
    stream = CompletionStream(
        CompletionConfig(), removing=edit.vacated_ids, keep_shadows=edit.keep_shadow, leave_staying=not edit.blurs_background
    )
    frames: Alongside[Frame] = Alongside()
    for frame, record in pairs:
        frames.keep(frame)
        assert record.layers is not None, "a LayerPass gives every record its layers"
        with clock.measure("completion"):
            done = stream.push(record.layers, record.camera)
        for item in done:
            yield Layered(frames.take(), item.stack, item.source)
    for item in clock.iterate("completion", stream.drain()):  # one at a time: the look-ahead's floats are not held at once
        yield Layered(frames.take(), item.stack, item.source)


def edited(stacks: Iterable[Layered], edit: EditSpec, info: VideoInfo, clock: StageClock) -> Iterator[tuple[Frame, LayerStack]]:
    """Each frame's layers brought to the frame's size (its detail where the source shows and completion left
    it; no colour for the planes the edits drop) and edited."""
    frames: Alongside[Frame] = Alongside()
    discarded = edit.discarded_ids

    def upsampled() -> Iterator[LayerStack]:
        for frame, stack, source in stacks:
            frames.keep(frame)
            redrawn = relit = None
            if source is not None and (stack.height, stack.width) != frame.image.shape[:2]:  # at the frame's size, no upsampling
                redrawn, relit = changed_ground(stack, source, edit.vacated_ids)
            yield upsample_layers(stack, frame.image, discard=discarded, redrawn=redrawn, relit=relit)

    for stack in clock.iterate("edit", apply_edits(clock.iterate("upsample", upsampled()), edit, info.width, info.height)):
        yield frames.take(), stack


def finished(
    pairs: Iterable[tuple[Frame, FrameRecord]], config: RunConfig, info: VideoInfo, clock: StageClock
) -> Iterator[tuple[Frame, LayerStack]]:
    """A :class:`LayerPass`'s frames completed (where it shows), the people behind those the edit takes away
    completed, brought to the frame's size and edited by ``config.edit``: what :func:`write_video` encodes."""
    if completion_shown(config):
        stacks: Iterable[Layered] = completed(pairs, config.edit, clock)
    else:
        stacks = (Layered(frame, stack) for frame, stack in layer_stacks(pairs))
    if config.complete_background and config.edit.uncovering_ids:
        # After the background, as `vmat remove` does it (edit_clip): see there why the order is free.
        stacks = people_completed(stacks, config.edit, clock)
    return edited(stacks, config.edit, info, clock)


def people_completed(stacks: Iterable[Layered], edit: EditSpec, clock: StageClock) -> Iterator[Layered]:
    """Each frame with the people behind those ``edit`` takes away from in front of them completed in its
    layers (:mod:`vmat.editing.amodal`; frames come back after its look-ahead, in order), charged to the
    "edit" stage."""
    people = AmodalPeople(edit.uncovering_ids, skip=edit.remove)
    waiting: Alongside[Layered] = Alongside()
    for item in stacks:
        waiting.keep(item)
        with clock.measure("edit"):
            done = people.push(item.stack)
        for completed_stack in done:
            yield waiting.take()._replace(stack=completed_stack)
    with clock.measure("edit"):
        done = people.finish()
    for completed_stack in done:
        yield waiting.take()._replace(stack=completed_stack)


def layer_stacks(pairs: Iterable[tuple[Frame, FrameRecord]]) -> Iterator[tuple[Frame, LayerStack]]:
    """Each frame with its record's layers, as they come from a :class:`LayerPass`."""
    for frame, record in pairs:
        assert record.layers is not None, "a LayerPass gives every record its layers"
        yield frame, record.layers


def render(stack: LayerStack) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a frame's layers composited."""
    return np.ascontiguousarray(tensor_to_image(stack.render()))


def write_video(
    pairs: Iterator[tuple[Frame, FrameRecord]], path: str | os.PathLike[str], config: RunConfig, layer_pass: LayerPass
) -> WriteSummary:
    """``layer_pass``'s frames :func:`finished` (completed, edited) and encoded to ``path`` with the source's
    timing and audio."""
    clock, info = layer_pass.clock, layer_pass.info
    with _video_writer(path, info, layer_pass.source, config.crf, config.preset, not config.fast_encode) as writer:
        _encode(finished(pairs, config, info, clock), writer, clock)
    return writer.summary


def make_layers(
    source: str | os.PathLike[str],
    layers_path: str | os.PathLike[str],
    config: RunConfig = RunConfig(),
    *,
    runner: StageRunner | None = None,
    clock: StageClock | None = None,
) -> list[str]:
    """The clip's layers file (and, when made from prompts, its id masks beside it: ``NAME.masks`` for
    ``NAME.vlayers``), in one pass. ``runner`` executes the stages: in this process by default, or on Ray actors
    (:mod:`vmat.pipelines`); both give the same layers. Returns a line per output written."""
    layers_path = Path(layers_path)
    _make_folder(layers_path.parent)
    masks = layers_path.with_suffix(".masks") if config.masks_folder is None else None
    with (
        _masks_folder(masks) as masks_out,
        LayerPass(source, config, runner=runner, clock=clock, masks_out=masks_out) as layer_pass,
    ):
        sinks = _Sinks(layer_pass, layers_path=layers_path)
        with sinks:
            for frame, record in progress(layer_pass, total=layer_pass.info.num_frames, desc="layers"):
                sinks.take(frame, record)
    return [*_masks_lines(layer_pass, masks), f"wrote {layers_path} (layers of {sinks.frames} frames)"]


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
    start: int | None = None,
    end: int | None = None,
) -> WriteSummary:
    """A clip's saved layers -> background completion -> ``edit`` -> ``output`` video, with each frame's
    source timing and the source audio. Redo it with other edits as often as wanted: the models do not run.
    ``deterministic``: the same edit gives the same bytes on any machine (see :class:`~vmat.io.VideoWriter`).
    ``start``/``end``: the frame range the layers were made from (:attr:`RunConfig.start`); ``None``: the one
    the layers file records (files written before it kept one: from frame 0 to the last)."""
    source = Path(source)
    clock = clock or StageClock()
    layers = LayersReader(layers_path)
    info = layers.info
    check_source(layers_path, info, source)
    made = None if info.source is None else info.source.start
    made_from = f"{str(layers_path)!r} was made from frames {made} to {(made or 0) + info.num_frames - 1} of {str(source)!r}"
    leave_out = "leave --start and --end out to edit those frames"
    if made is not None:
        if start is not None and start != made:
            raise ConfigError(f"{made_from}, not from frame {start}: {leave_out}")
        start, end = made, made + info.num_frames if end is None else end
    missing = sorted(set(edit.instance_ids) - set(info.instance_ids))
    if missing:
        raise ConfigError(f"person id(s) {missing} are not in {str(layers_path)!r}, whose people are {info.instance_ids}")
    stacks: Iterator = clock.iterate("layers file", layers)
    sources: Alongside[np.ndarray | None] = Alongside()
    completing = complete and edit.completes_background
    if completing:
        completed = complete_background(
            _ClockedLayers(layers, clock),
            removing=edit.vacated_ids,
            keep_shadows=edit.keep_shadow,
            leave_staying=not edit.blurs_background,
        )

        def backgrounds() -> Iterator[LayerStack]:
            for frame in completed:
                sources.keep(frame.source)
                yield frame.stack

        stacks = backgrounds()
    if complete:
        # The people behind those the edit takes away are completed once, on the way out, not on each of the
        # background's passes (four times the work): they change no view of the background (where they are
        # completed, the person in front hides it by more than half), and their completion reads nothing of
        # the background plane. Only a still camera's agreement renders the people: 3 pixels a frame differ
        # on DAVIS schoolgirls, where it now sees what the frame showed rather than what was completed.
        stacks = clock.iterate("completion", complete_people(stacks, edit.uncovering_ids, skip=edit.remove))
    with open_video(source, backend=backend, start=start or 0, end=end) as reader, _video_writer(
        output, reader.info, source, crf, preset, deterministic
    ) as writer, closing(in_thread(reader)) as decoding:
        if reader.info.num_frames != info.num_frames:
            if made is not None:  # the clip matched its fingerprint and the start is the layers': --end differs
                raise ConfigError(f"{made_from}, not to frame {made + (reader.info.num_frames or 0) - 1}: {leave_out}")
            part = "" if start is None and end is None else f" from frame {start or 0}"
            part += "" if end is None else f" to {end - 1}"
            # A file that does not record its range may have been made from a part of the clip.
            raise ConfigError(
                f"{str(layers_path)!r} holds {info.num_frames} frames but {str(source)!r} has {reader.info.num_frames}{part}: "
                "not its layers, or give the --start and --end they were made with"
            )
        frames = zip(clock.iterate("decode", decoding), stacks)
        layered = (Layered(frame, stack, sources.take() if completing else None) for frame, stack in frames)
        pairs = edited(layered, edit, reader.info, clock)
        _encode(progress(pairs, total=info.num_frames, desc="edit + encode"), writer, clock)
    return writer.summary


def run_outputs(
    source: str | os.PathLike[str], output_dir: str | os.PathLike[str], config: RunConfig = RunConfig()
) -> list[Path]:
    """The outputs :func:`run_clip` would write for ``source`` into ``output_dir`` that exist now or are known by
    name before the run (each person's videos are named after ids found on the way: those already there count)."""
    stem, folder = Path(source).stem, Path(output_dir)
    names = []
    names += [f"{stem}.vlayers"] if config.write_layers else []
    names += [f"{stem}.masks"] if config.write_masks and config.masks_folder is None else []
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
    ``CLIP.vmat.mp4`` and ``CLIP.ids.png``; with ``write_layers`` ``CLIP.vlayers``, with ``write_masks``
    ``CLIP.masks`` (when made from prompts), with ``write_people`` each person's matte and RGBA videos.

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
    with torch_threads(config.torch_threads), created_folder(folder), atomic_outputs(folder) as staging:
        here = staging.folder
        masks = here / f"{source.stem}.masks" if config.write_masks and config.masks_folder is None else None
        layers_path = here / f"{source.stem}.vlayers" if config.write_layers else None
        with (
            _masks_folder(masks) as masks_out,
            LayerPass(source, config, runner=runner, clock=clock, masks_out=masks_out) as layer_pass,
        ):
            sinks = _Sinks(
                layer_pass,
                layers_path=layers_path,
                preview=here / f"{source.stem}.ids.png" if config.write_preview else None,
                people=here if config.write_people else None,
            )
            with sinks:
                pairs = progress(sinks.tapped(layer_pass), total=layer_pass.info.num_frames, desc="run")
                if config.write_video:
                    summary.outputs.append(write_video(pairs, here / f"{source.stem}.vmat.mp4", config, layer_pass).describe())
                else:
                    for _ in pairs:
                        pass
            _check_ids(config.edit, layer_pass.ids)
        summary.frames = sinks.frames
        summary.ids = sorted(layer_pass.ids)
        summary.peak_rss_mb = layer_pass.second_process_rss_mb
        summary.outputs = [*_masks_lines(layer_pass, masks), *sinks.lines, *summary.outputs]
    summary.outputs = [staging.shown(line) for line in summary.outputs]
    summary.wall_seconds = time.perf_counter() - started
    summary.stage_seconds = clock.seconds
    summary.peak_rss_mb += resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    return summary


class _Sinks:
    """The files a run writes from the layer stream as it goes by: the layers file, the labelled first frame and
    each person's matte and RGBA videos (:meth:`take` one ``(frame, record)`` at a time; use as a context
    manager: the files appear on a clean exit)."""

    def __init__(
        self, layer_pass: LayerPass, *, layers_path: Path | None = None, preview: Path | None = None, people: Path | None = None
    ) -> None:
        self.layer_pass, self.layers_path, self.preview, self.people = layer_pass, layers_path, preview, people
        self.clock = layer_pass.clock
        self.frames = 0
        self.lines: list[str] = []
        self._files = ExitStack()
        self._layers: LayersWriter | None = None
        self._cameras: list[list[float] | None] = []
        self._people: dict[int, tuple[VideoWriter, VideoWriter]] = {}
        self._timings: list[tuple[int, Fraction, int | None]] = []  # each frame's pts, time base and duration so far

    def __enter__(self) -> _Sinks:
        info = self.layer_pass.info
        if self.layers_path is not None:
            self._layers = self._files.enter_context(
                LayersWriter(
                    self.layers_path,
                    frame_rate=info.frame_rate,
                    source=source_fingerprint(self.layer_pass.source, self.layer_pass.config.start),
                )
            )
        return self

    def __exit__(self, kind, error, tb) -> None:
        if kind is None and self._layers is not None:
            # The one camera estimate per frame (previous frame -> this one, at the layers' size), for later edits.
            self._layers.metadata["camera"] = self._cameras
        if kind is None:
            # Each person's videos exist for every frame: one who appeared late is transparent before.
            self._files.close()
            self.lines += [writer.summary.describe() for pair in self._people.values() for writer in pair]
        else:
            self._files.__exit__(kind, error, tb)

    def tapped(self, pairs: Iterable[tuple[Frame, FrameRecord]]) -> Iterator[tuple[Frame, FrameRecord]]:
        for frame, record in pairs:
            self.take(frame, record)
            yield frame, record

    def take(self, frame: Frame, record: FrameRecord) -> None:
        stack = record.layers
        assert stack is not None, "a LayerPass gives every record its layers"
        if self._layers is not None:
            with self.clock.measure("layers file"):
                self._layers.write(stack, frame.time)
            self._cameras.append(None if record.camera is None else np.asarray(record.camera, float).round(6).ravel().tolist())
        if self.preview is not None and self.frames == 0:
            _write_image(self.preview, label_preview(stack))
            self.lines.append(f"wrote {self.preview} (first frame, each person labelled with their id)")
        if self.people is not None:
            with self.clock.measure("people"):
                self._write_people(frame, stack)
        self.frames += 1
        if self.frames == 1 and self._layers is not None:
            self.lines.insert(0, f"wrote {self.layers_path}")

    def _write_people(self, frame: Frame, stack: LayerStack) -> None:
        info = self.layer_pass.info
        for instance in stack.instance_ids:
            if instance not in self._people:
                self._people[instance] = self._person_writers(instance)
        stack = upsample_layers(stack, frame.image)
        weights = stack.weights()
        for instance, (matte, rgba) in self._people.items():
            if instance in stack.ids:
                plane = stack.ids.index(instance)
                alpha = np.round(weights[plane].numpy() * 255).astype(np.uint8)
                colour = tensor_to_image(stack.colour[plane])
            else:
                alpha = np.zeros((info.height, info.width), np.uint8)
                colour = np.zeros((info.height, info.width, 3), np.uint8)
            matte.write_frame(frame, image=alpha)
            rgba.write_frame(frame, image=np.dstack([colour, alpha]))
        self._timings.append((frame.pts, frame.time_base, frame.duration))

    def _person_writers(self, instance: int) -> tuple[VideoWriter, VideoWriter]:
        """Person ``instance``'s matte and RGBA videos, transparent over the frames before they appeared."""
        info, name = self.layer_pass.info, f"{self.layer_pass.source.stem}.person{instance}"
        assert self.people is not None, "only a run writing each person's videos makes their writers"
        pair = (
            self._files.enter_context(VideoWriter(self.people / f"{name}.matte.mp4", format="matte", fps=info.frame_rate)),
            self._files.enter_context(VideoWriter(self.people / f"{name}.webm", format="vp9-alpha", fps=info.frame_rate)),
        )
        for pts, time_base, duration in self._timings:
            pair[0].write(np.zeros((info.height, info.width), np.uint8), pts, time_base, duration)
            pair[1].write(np.zeros((info.height, info.width, 4), np.uint8), pts, time_base, duration)
        return pair


def _encode(pairs: Iterator[tuple[Frame, LayerStack]], writer: VideoWriter, clock: StageClock) -> None:
    """Render each frame here and encode it on a thread of its own."""
    encoder = BackgroundSink(lambda item: writer.write_frame(*cast(tuple[Frame, np.ndarray], item)))
    try:
        for frame, stack in pairs:
            with clock.measure("render"):
                image = render(stack)
            with clock.measure("encode"):  # only what the encoder thread keeps this one waiting
                encoder.put((frame, image))
    finally:
        with clock.measure("encode"):
            encoder.close()


def _video_writer(
    path: Path | str | os.PathLike[str], info: VideoInfo, source: Path, crf: int | None, preset: str, deterministic: bool
) -> VideoWriter:
    return VideoWriter(
        path, fps=info.frame_rate, crf=crf, preset=preset, audio_from=source if info.audio else None,
        colour=info.colour, deterministic=deterministic,
    )


@contextmanager
def _masks_folder(folder: Path | None) -> Iterator[Path | None]:
    """``folder`` for the id masks, appearing under its name only once every frame's mask is in it."""
    if folder is None:
        yield None
        return
    with atomic_output(folder, is_dir=True) as temporary:
        Path(temporary).mkdir(parents=True, exist_ok=True)
        yield Path(temporary)


def _masks_lines(layer_pass: LayerPass, masks: Path | None) -> list[str]:
    lines = []
    if masks is not None:
        how = "people found automatically" if layer_pass.config.prompt is None else f"prompts from frame {layer_pass.start_frame}"
        lines.append(f"wrote {masks} (id masks, {how}; ids {sorted(layer_pass.ids)})")
    if layer_pass.unreached:
        lines.append(
            f"frames 0-{layer_pass.unreached - 1} have no people: they lie more than {layer_pass.config.backward_window} frames "
            f"before the first prompt (frame {layer_pass.start_frame}); prompt an earlier frame or raise backward_window"
        )
    return lines


def _check_ids(edit: EditSpec, ids: set[int]) -> None:
    missing = sorted(edit.instance_ids - ids)
    if missing:
        raise ConfigError(f"person id(s) {missing} are not in this clip, whose people are {sorted(ids)}")


class _ClockedLayers:
    """A re-iterable view of a layers file whose reads are charged to the "layers file" stage."""

    def __init__(self, layers: LayersReader, clock: StageClock) -> None:
        self.layers, self.clock = layers, clock

    def __iter__(self) -> Iterator:
        return self.clock.iterate("layers file", self.layers)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output folder {str(folder)!r}: {error.strerror}") from None


def _write_image(path: Path, rgb: np.ndarray) -> None:
    with atomic_output(path) as temporary:
        write_png(temporary, rgb)
