"""Everything the app asks of vmat, in one module: open a clip, read a frame, turn prompts into a frame's
id mask, propagate masks through the clip, run the edits.

The server and the job worker call only these functions, so moving them onto the public ``vmat`` API
(``vmat.Clip`` / ``vmat.run``) changes this file alone. The prompt is always the JSON file that
``vmat run --prompt`` reads (:func:`vmat.propagation.prompts.load_prompts`): the page edits that file and
every job reads it back, so the page and the command line are two faces of one job.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Generator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import cv2
import numpy as np

from vmat.errors import ConfigError, NoVideoError
from vmat.propagation.prompts import FramePrompt, PromptError

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ClipInfo:
    """What the page needs to know about a clip before showing it."""

    path: str
    width: int
    height: int
    frames: int
    fps: float

    def to_json(self) -> dict:
        return {"name": Path(self.path).name, "width": self.width, "height": self.height, "frames": self.frames, "fps": self.fps}


def probe_clip(path: PathLike) -> ClipInfo:
    """Probe a clip (raises :class:`~vmat.errors.VmatError` when it is no video vmat can read)."""
    from vmat.io import probe

    info = probe(path)
    frames = info.num_frames if info.num_frames is not None else sum(1 for _ in frames_of(path))
    if not frames:
        raise NoVideoError(f"{Path(path).name!r} has no frames.")
    return ClipInfo(str(path), info.width, info.height, int(frames), float(info.frame_rate))


def frames_of(path: PathLike) -> Generator[np.ndarray, None, None]:
    """The clip's ``(H, W, 3)`` RGB uint8 frames, streamed (``close()`` closes the clip)."""
    from vmat.propagation.clip import video_frames

    yield from video_frames(path)()


def read_frame(path: PathLike, index: int) -> np.ndarray:
    """Frame ``index`` of the clip, decoded exactly as propagation and the pipeline decode it."""
    frame = next(islice(frames_of(path), index, index + 1), None)
    if frame is None:
        raise ConfigError(f"the clip has no frame {index}.")
    return frame


def load_rounds(prompt_file: PathLike) -> list[FramePrompt]:
    """The prompt rounds of a prompt file, checked exactly as ``vmat run --prompt`` checks them."""
    from vmat.propagation.prompts import load_prompts

    return load_prompts(prompt_file)


def check_document(document: object) -> dict:
    """A prompt document the page may hold: the prompt file format without ``id_mask`` entries.

    An ``id_mask`` names a file to read; a document sent by a browser must not make the server read files,
    and the page edits boxes, clicks and scribbles (id-mask prompts go to ``vmat run --prompt`` directly).
    """
    if not isinstance(document, dict) or not isinstance(document.get("prompts"), list):
        raise PromptError('a prompt file is {"prompts": [...]} with a list of prompts.')
    if any(isinstance(entry, dict) and "id_mask" in entry for entry in document["prompts"]):
        raise PromptError(
            "the page edits box, click and scribble prompts; run prompt files with an id_mask with `vmat run --prompt`."
        )
    return document


def frame_ids(image: np.ndarray, rounds: list[FramePrompt], previous: np.ndarray | None = None) -> np.ndarray:
    """The ``(H, W)`` uint16 id mask of one frame after its prompt ``rounds``, in order, starting from
    ``previous`` (the propagated mask there, or nothing on the first prompted frame), as propagation does."""
    from vmat.propagation.prompts import apply_prompt

    ids = previous
    for round_ in rounds:
        ids = apply_prompt(image, round_, ids)
    return ids if ids is not None else np.zeros(image.shape[:2], np.uint16)


def read_ids(path: Path) -> np.ndarray | None:
    """An id-mask PNG, or ``None`` when it does not exist."""
    from vmat.propagation.idmask import read_id_mask

    return read_id_mask(path) if path.is_file() else None


def write_ids(path: Path, ids: np.ndarray) -> None:
    from vmat.io.atomic import atomic_output
    from vmat.propagation.idmask import write_id_mask

    with atomic_output(path) as temporary:
        write_id_mask(temporary, ids)


def mask_file(folder: Path, index: int) -> Path:
    """Where propagation writes frame ``index``'s id mask."""
    from vmat.propagation.idmask import mask_path

    return mask_path(folder, index)


def colour(instance_id: int) -> str:
    """The ``#rrggbb`` colour of an id, as vmat's previews draw it."""
    r, g, b = _palette()[(instance_id - 1) % 255 + 1]
    return f"#{r:02x}{g:02x}{b:02x}"


def overlay_png(ids: np.ndarray | None, width: int, height: int) -> bytes:
    """A transparent PNG with each instance in its colour (outlines solid), to lay over the frame."""
    rgba = np.zeros((height, width, 4), np.uint8)
    if ids is not None and ids.any():
        palette = _palette()
        fg = ids > 0
        rgba[..., :3] = palette[np.where(fg, (ids.astype(np.int64) - 1) % 255 + 1, 0)]
        rgba[..., 3] = np.where(fg, 130, 0)
        edges = cv2.morphologyEx(ids.astype(np.uint16), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        rgba[edges & fg, 3] = 255
    return _encoded(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    return _encoded(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])


def _encoded(suffix: str, image: np.ndarray, options: list[int] | None = None) -> bytes:
    ok, data = cv2.imencode(suffix, image, options or [])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {suffix}")
    return data.tobytes()


def areas(ids: np.ndarray | None) -> dict[int, int]:
    """Pixels per instance id."""
    if ids is None:
        return {}
    counts = np.bincount(ids.reshape(-1).astype(np.int64))
    return {k: int(counts[k]) for k in np.nonzero(counts)[0].tolist() if k > 0}


def _palette() -> np.ndarray:
    from vmat.propagation.idmask import davis_palette

    return davis_palette()


@dataclass(frozen=True)
class EditOptions:
    """The edits and outputs the page asks for, as plain JSON values (checked by :meth:`from_json`)."""

    remove: tuple[int, ...] = ()
    swap: tuple[int, int] | None = None
    drag: tuple[int, float, float, float] | None = None  # id, dx, dy, scale
    background: str | None = None
    video: bool = True
    people: bool = False
    layers: bool = False

    @classmethod
    def from_json(cls, data: object, ids: set[int]) -> EditOptions:
        if not isinstance(data, dict):
            raise ConfigError("the run options are a JSON object.")
        unknown = sorted(set(data) - {"remove", "swap", "drag", "background", "video", "people", "layers"})
        if unknown:
            raise ConfigError(f"unknown run option {unknown[0]!r}.")

        def person(value: object, what: str) -> int:
            if not isinstance(value, int) or isinstance(value, bool) or value not in ids:
                raise ConfigError(f"{what}: {value!r} is not one of the prompted people {sorted(ids)}.")
            return value

        def number(value: object, what: str) -> float:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"{what} is a finite number, not {value!r}.")
            return float(value)

        remove = data.get("remove") or []
        if not isinstance(remove, list):
            raise ConfigError("remove is a list of person ids.")
        swap = data.get("swap")
        if swap is not None:
            if not isinstance(swap, list) or len(swap) != 2:
                raise ConfigError("swap is two person ids.")
            swap = (person(swap[0], "swap"), person(swap[1], "swap"))
            if swap[0] == swap[1]:
                raise ConfigError("swap needs two different people.")
        drag = data.get("drag")
        if drag is not None:
            if not isinstance(drag, dict):
                raise ConfigError("drag is {id, dx, dy, scale}.")
            drag = (person(drag.get("id"), "drag"), number(drag.get("dx", 0), "drag dx"), number(drag.get("dy", 0), "drag dy"),
                    number(drag.get("scale", 1), "drag scale"))
            if drag[3] <= 0:
                raise ConfigError("the drag scale is positive.")
        background = data.get("background")
        if background is not None:
            from vmat.pipeline.edits import check_background

            if not isinstance(background, str):
                raise ConfigError("background is a colour or a file.")
            check_background(background)
        flags = {key: data.get(key, cls.__dataclass_fields__[key].default) for key in ("video", "people", "layers")}
        if not all(isinstance(value, bool) for value in flags.values()):
            raise ConfigError("video, people and layers are true or false.")
        if not any(flags.values()):
            raise ConfigError("choose at least one output: the edited video, each person's mattes or the layers.")
        return cls(tuple(person(k, "remove") for k in remove), swap, drag, background, **flags)

    def to_json(self) -> dict:
        return {
            "remove": list(self.remove), "swap": list(self.swap) if self.swap else None,
            "drag": dict(zip(("id", "dx", "dy", "scale"), self.drag)) if self.drag else None,
            "background": self.background, "video": self.video, "people": self.people, "layers": self.layers,
        }


def propagate(clip: PathLike, prompt_file: PathLike, masks: PathLike) -> dict:
    """Propagate the prompt through the clip into a folder of per-frame id masks (``vmat masks``)."""
    from vmat.propagation.clip import mask_clip, video_frames

    summary = mask_clip(video_frames(clip), masks, load_rounds(prompt_file))
    return {"frames": summary.frames, "ids": summary.ids, "fps": round(summary.propagation_fps, 2)}


def run(clip: PathLike, prompt_file: PathLike, masks: PathLike | None, out: PathLike, options: EditOptions) -> dict:
    """Run the pipeline with the page's edits into ``out`` (``vmat run``): the propagated ``masks`` when they
    are from the current prompt, else the prompt itself."""
    from vmat.editing import Placement
    from vmat.pipeline.edits import DragSpec, EditSpec
    from vmat.pipeline.run import RunConfig, run_clip

    drag = None
    if options.drag is not None:
        instance, dx, dy, scale = options.drag
        drag = DragSpec(instance, Placement(dx=dx, dy=dy, scale=scale))
    edit = EditSpec(remove=options.remove, reorder=options.swap, drag=drag, background=options.background)
    config = RunConfig(
        masks_folder=None if masks is None else str(masks),
        prompt=None if masks is not None else str(prompt_file),
        edit=edit,
        write_video=options.video,
        write_people=options.people,
        write_layers=options.layers,
        write_preview=True,
    )
    summary = run_clip(clip, out, config)
    return {"frames": summary.frames, "seconds": round(summary.wall_seconds, 2), "outputs": summary.outputs}


def write_json(path: Path, data: object) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    from vmat.io.atomic import atomic_output

    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(data, indent=1))
