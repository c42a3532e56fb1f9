"""User prompts on a frame (DFIMat's inputs) and their weight-free segmentation into instance masks.

A prompt names instances on one frame with any mix of: an id-mask image, a box, positive/negative clicks
and positive/negative scribbles (DFIMat sec. 3: box to localise, clicks and scribbles to refine).
Without weights each instance is segmented by GrabCut (colour GMMs + graph cut) seeded by its prompt:
a box starts GrabCut's "probably foreground" rectangle, clicks and scribbles are definite foreground or
background seeds. Prompts are applied in rounds: a later round on the same frame starts from the previous
round's masks and only changes the instances it names.

Prompt file (JSON)::

    {"prompts": [
      {"frame": 0, "id_mask": "first_frame_ids.png"},
      {"frame": 0, "instances": [
        {"id": 1, "box": [120, 40, 330, 470]},
        {"id": 2, "clicks": [[600, 200, true], [640, 120, false]],
         "scribbles": [{"points": [[590, 260], [600, 330]], "positive": true, "width": 7}]}
      ]}
    ]}

Coordinates are pixels ``x, y`` on the full-size frame; a box is ``[x0, y0, x1, y1]`` (x1, y1 excluded).
A relative ``id_mask`` path is read from the prompt file's folder. :data:`PROMPT_HELP` is the same for
users (``vmat masks --help``, ``vmat run --help``, docs/cli.md).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vmat.errors import ConfigError, InputNotFoundError, VmatError
from vmat.limits import MAX_FRAME_SIDE, MAX_INSTANCE_ID, MAX_PROMPT_FILE_BYTES, MAX_SCRIBBLE_WIDTH
from vmat.propagation.idmask import read_id_mask


PROMPT_HELP = """\
prompt (--prompt FILE): who is who, on one or more frames
  an id-mask PNG (with --prompt-frame N, default 0): 0 = background, k = person k; grey 8/16-bit
    or DAVIS palette colours; a binary mask (only 0 and 255, white on black) is one person, id 1
  or a JSON file:
    {"prompts": [
      {"frame": 0, "id_mask": "first_frame_ids.png"},
      {"frame": 0, "instances": [
        {"id": 1, "box": [120, 40, 330, 470]},
        {"id": 2, "clicks": [[600, 200], [640, 120, false]],
         "scribbles": [{"points": [[590, 260], [600, 330]], "positive": true, "width": 7}]}
      ]}
    ]}
  each entry: "frame" (required; frames count from 0, from --start when given) and an "id_mask"
  PNG (path relative to the JSON file) and/or "instances"; each instance: "id" (1 and up) and any of
  "box" [x0, y0, x1, y1] (x1, y1 excluded), "clicks" [x, y] or [x, y, false] (false: not this
  person), "scribbles" {"points": [[x, y], ...], "positive": true|false, "width": 5}; pixel
  coordinates on the full-size frame. Entries are applied in order: a later one on the same frame
  refines only the people it names. Masks are propagated forwards and backwards from the prompted
  frames. Person ids named by --remove/--swap are checked against the prompt before any work."""


class PromptError(VmatError):
    """A prompt or prompt file is malformed or does not fit the clip."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned box ``[x0, x1) x [y0, y1)`` in pixels."""

    x0: int
    y0: int
    x1: int
    y1: int


@dataclass(frozen=True)
class Click:
    """One click at pixel ``(x, y)``: on the instance (``positive``) or off it."""

    x: int
    y: int
    positive: bool = True


@dataclass(frozen=True)
class Scribble:
    """A polyline of ``(x, y)`` points drawn ``width`` pixels wide, on the instance or off it."""

    points: tuple[tuple[int, int], ...]
    positive: bool = True
    width: int = 5


@dataclass(frozen=True)
class InstancePrompt:
    """Everything the user said about instance ``id`` on one frame."""

    id: int
    box: Box | None = None
    clicks: tuple[Click, ...] = ()
    scribbles: tuple[Scribble, ...] = ()


@dataclass(frozen=True)
class FramePrompt:
    """One round of prompts on frame ``frame``: an optional id mask, then per-instance prompts on top."""

    frame: int
    id_mask: np.ndarray | None = None
    instances: tuple[InstancePrompt, ...] = ()


@dataclass
class SegmentConfig:
    """How prompts become masks: the person prior first (see :mod:`.person_prompt`), GrabCut otherwise."""

    # A box or positive clicks on a person take the person prior's mask (weight-free GrabCut when False).
    person_prior: bool = True

    iterations: int = 4
    click_radius: int = 4
    # Without a box or an earlier mask, clicks/scribbles get a "probably foreground" window this fraction
    # of the image diagonal around their positive seeds, because GrabCut needs a region, not just seeds.
    seed_window: float = 0.12
    # GrabCut runs on a crop of the region of interest grown by this many pixels, for speed.
    crop_margin: int = 24


def _seed_map(shape: tuple[int, int], prompt: InstancePrompt, radius: int) -> tuple[np.ndarray, np.ndarray]:
    positive = np.zeros(shape, np.uint8)
    negative = np.zeros(shape, np.uint8)
    for click in prompt.clicks:
        if not (0 <= click.x < shape[1] and 0 <= click.y < shape[0]):
            raise PromptError(
                f"instance {prompt.id}'s click ({click.x}, {click.y}) lies outside the {shape[1]}x{shape[0]} frame."
            )
        cv2.circle(positive if click.positive else negative, (int(click.x), int(click.y)), radius, 1, -1)
    for scribble in prompt.scribbles:
        points = np.array(scribble.points, np.int32).reshape(-1, 1, 2)
        target = positive if scribble.positive else negative
        cv2.polylines(target, [points], False, 1, max(1, int(scribble.width)))
        if len(scribble.points) == 1:
            cv2.circle(target, tuple(int(v) for v in scribble.points[0]), max(1, scribble.width // 2), 1, -1)
    return positive.astype(bool), negative.astype(bool)


def segment_instance(
    image: np.ndarray,
    prompt: InstancePrompt,
    previous: np.ndarray | None = None,
    blocked: np.ndarray | None = None,
    config: SegmentConfig | None = None,
) -> np.ndarray:
    """Segment one instance of an ``(H, W, 3)`` RGB uint8 image from its prompt with GrabCut.

    ``previous`` is the instance's ``(H, W)`` bool mask from an earlier round (refined, not discarded);
    ``blocked`` marks pixels known to belong elsewhere (definite background here). Returns ``(H, W)`` bool.
    """
    config = config or SegmentConfig()
    height, width = image.shape[:2]
    positive, negative = _seed_map((height, width), prompt, config.click_radius)
    labels = np.full((height, width), cv2.GC_BGD, np.uint8)
    if prompt.box is not None:
        box = _clip_box(prompt.box, width, height)
        labels[box.y0 : box.y1, box.x0 : box.x1] = cv2.GC_PR_FGD
    if previous is not None and previous.any():
        # The earlier mask is a belief, not a fact: its pixels and a band around it stay open.
        band = cv2.dilate(previous.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
        labels[band & (labels == cv2.GC_BGD)] = cv2.GC_PR_BGD
        labels[previous] = cv2.GC_PR_FGD
    if prompt.box is None and (previous is None or not previous.any()):
        if not positive.any():
            raise PromptError(f"instance {prompt.id} has no box, no earlier mask and no positive click or scribble.")
        half = int(config.seed_window * np.hypot(height, width))
        ys, xs = np.nonzero(positive)
        window = _clip_box(Box(xs.min() - half, ys.min() - half, xs.max() + half + 1, ys.max() + half + 1), width, height)
        labels[window.y0 : window.y1, window.x0 : window.x1] = cv2.GC_PR_BGD
        inner = cv2.dilate(positive.astype(np.uint8), np.ones((2 * half // 3 + 1,) * 2, np.uint8)).astype(bool)
        labels[inner & (labels == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
    if blocked is not None:
        labels[blocked] = cv2.GC_BGD
    labels[negative] = cv2.GC_BGD
    labels[positive] = cv2.GC_FGD
    return _grabcut(image, labels, config)


def _grabcut(image: np.ndarray, labels: np.ndarray, config: SegmentConfig) -> np.ndarray:
    open_pixels = labels != cv2.GC_BGD
    result = np.zeros(labels.shape, bool)
    if not open_pixels.any():
        return result
    ys, xs = np.nonzero(open_pixels)
    m = config.crop_margin
    y0, y1 = max(0, ys.min() - m), min(labels.shape[0], ys.max() + m + 1)
    x0, x1 = max(0, xs.min() - m), min(labels.shape[1], xs.max() + m + 1)
    crop_labels = np.ascontiguousarray(labels[y0:y1, x0:x1])
    has_fg = np.isin(crop_labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).any()
    has_bg = np.isin(crop_labels, (cv2.GC_BGD, cv2.GC_PR_BGD)).any()
    if has_fg and has_bg:
        crop = np.ascontiguousarray(image[y0:y1, x0:x1, ::-1])
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        # The stub wants a rect; OpenCV reads none when starting from the mask (rect=None is its documented use).
        cv2.grabCut(crop, crop_labels, None, bgd, fgd, config.iterations, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
    result[y0:y1, x0:x1] = np.isin(crop_labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    return result


def _clip_box(box: Box, width: int, height: int) -> Box:
    x0, x1 = sorted((int(box.x0), int(box.x1)))
    y0, y1 = sorted((int(box.y0), int(box.y1)))
    clipped = Box(max(0, x0), max(0, y0), min(width, x1), min(height, y1))
    if clipped.x1 - clipped.x0 < 2 or clipped.y1 - clipped.y0 < 2:
        raise PromptError(f"the box {[box.x0, box.y0, box.x1, box.y1]} lies outside the {width}x{height} frame.")
    return clipped


def apply_prompt(
    image: np.ndarray,
    prompt: FramePrompt,
    previous: np.ndarray | None = None,
    config: SegmentConfig | None = None,
) -> np.ndarray:
    """Turn one round of prompts into an ``(H, W)`` uint16 id mask for an ``(H, W, 3)`` RGB image.

    Starts from ``previous`` (the last round's id mask, or zeros); a given ``id_mask`` replaces the ids it
    contains; each instance prompt then re-segments its instance, in order, so a later instance wins pixels
    an earlier one of the same round also claimed. Other instances keep their pixels.
    """
    height, width = image.shape[:2]
    ids = np.zeros((height, width), np.uint16) if previous is None else previous.astype(np.uint16)
    if ids.shape != (height, width):
        raise PromptError(f"the earlier id mask is {ids.shape[1]}x{ids.shape[0]}, the frame is {width}x{height}.")
    if prompt.id_mask is not None:
        given = prompt.id_mask
        if given.shape != (height, width):
            raise PromptError(f"the prompt id mask is {given.shape[1]}x{given.shape[0]}, the frame is {width}x{height}.")
        for k in np.unique(given[given > 0]).tolist():
            ids[ids == k] = 0
        ids[given > 0] = given[given > 0]
    named = {instance.id for instance in prompt.instances}
    for instance in prompt.instances:
        if instance.id <= 0:
            raise PromptError(f"instance ids start at 1, got {instance.id}.")
        mine = ids == instance.id
        # Pixels of instances this round does not touch stay theirs; instances named in this round compete.
        blocked = (ids > 0) & ~mine & ~np.isin(ids, list(named))
        mask = _segment(image, instance, mine, blocked, config or SegmentConfig())
        ids[mine] = 0
        ids[mask] = instance.id
    return ids


def _segment(
    image: np.ndarray, prompt: InstancePrompt, previous: np.ndarray, blocked: np.ndarray, config: SegmentConfig
) -> np.ndarray:
    """One instance's mask: the person prior's where it finds the person the prompt names, refined by
    GrabCut when negative clicks or scribbles ask for it; GrabCut alone otherwise."""
    if config.person_prior:
        from vmat.propagation.person_prompt import person_mask

        person = person_mask(image, prompt, blocked)
        if person is not None:
            refine = prompt.scribbles or any(not click.positive for click in prompt.clicks)
            if not refine:
                return person
            # GrabCut keeps the prior's mask as a belief around which the seeds decide.
            previous = person
            prompt = dataclasses.replace(prompt, box=None)
    return segment_instance(image, prompt, previous=previous, blocked=blocked, config=config)


def load_prompts(path: str | os.PathLike[str]) -> list[FramePrompt]:
    """Read a prompt file (see the module docstring) into rounds, in file order.

    Every value is checked (types, ids up to :data:`~vmat.limits.MAX_INSTANCE_ID`, coordinates within
    :data:`~vmat.limits.MAX_FRAME_SIDE`, scribble widths, no unknown keys); anything else raises a
    :class:`PromptError` that names the prompt and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"the prompt file {str(path)!r} does not exist.")
    where = f"the prompt file {str(path)!r}"
    if path.stat().st_size > MAX_PROMPT_FILE_BYTES:
        raise PromptError(
            f"{where} is larger than {MAX_PROMPT_FILE_BYTES >> 20} MiB; prompt files are boxes, clicks and scribbles."
        )
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise PromptError(f"{where} is not UTF-8 text; a prompt file is JSON.") from None
    except json.JSONDecodeError as error:
        raise PromptError(f"{where} is not valid JSON ({error}).") from None
    except RecursionError:
        raise PromptError(f"{where} nests its JSON too deeply to be a prompt file.") from None
    entries = document.get("prompts") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise PromptError(f'{where} is not a vmat prompt file: it needs {{"prompts": [...]}} with a list of prompts.')
    return [_parse_round(entry, f"prompt {index + 1} of {where}", path.parent) for index, entry in enumerate(entries)]


def _parse_round(entry: object, where: str, folder: Path) -> FramePrompt:
    fields = _fields(entry, where, required=("frame",), optional=("id_mask", "instances"))
    frame = _whole(fields["frame"], f"{where}: 'frame'", 0)
    id_mask = None
    if fields.get("id_mask") is not None:
        if not isinstance(fields["id_mask"], str):
            raise PromptError(f"{where}: 'id_mask' is the name of a PNG file, not {_shown(fields['id_mask'])}.")
        mask_file = Path(fields["id_mask"])
        id_mask = read_id_mask(mask_file if mask_file.is_absolute() else folder / mask_file)
    items = fields.get("instances", [])
    if not isinstance(items, list):
        raise PromptError(f"{where}: 'instances' is a list of instances, not {_shown(items)}.")
    instances = tuple(_parse_instance(item, f"{where}, instance {number + 1}") for number, item in enumerate(items))
    if id_mask is None and not instances:
        raise PromptError(f"{where} (frame {frame}) names no id mask and no instance.")
    return FramePrompt(frame=frame, id_mask=id_mask, instances=instances)


def _parse_instance(entry: object, where: str) -> InstancePrompt:
    fields = _fields(entry, where, required=("id",), optional=("box", "clicks", "scribbles"))
    instance_id = _whole(fields["id"], f"{where}: 'id'", 1, MAX_INSTANCE_ID)
    box = None
    if fields.get("box") is not None:
        box = Box(*_coordinates(fields["box"], 4, f"{where}: 'box' [x0, y0, x1, y1]"))
    clicks = []
    for number, click in enumerate(_list(fields.get("clicks", []), f"{where}: 'clicks'")):
        what = f"{where}, click {number + 1} [x, y] or [x, y, true|false]"
        if isinstance(click, list) and len(click) == 3:
            clicks.append(Click(*_point(click[:2], what), _flag(click[2], what)))
        else:
            clicks.append(Click(*_point(click, what)))
    scribbles = []
    for number, scribble in enumerate(_list(fields.get("scribbles", []), f"{where}: 'scribbles'")):
        what = f"{where}, scribble {number + 1}"
        parts = _fields(scribble, what, required=("points",), optional=("positive", "width"))
        points = _list(parts["points"], f"{what}: 'points'")
        if not points:
            raise PromptError(f"{what} has no points.")
        scribbles.append(
            Scribble(
                points=tuple(_point(point, f"{what}: a point [x, y]") for point in points),
                positive=_flag(parts.get("positive", True), f"{what}: 'positive'"),
                width=_whole(parts.get("width", 5), f"{what}: 'width'", 1, MAX_SCRIBBLE_WIDTH),
            )
        )
    return InstancePrompt(id=instance_id, box=box, clicks=tuple(clicks), scribbles=tuple(scribbles))


def _shown(value: object) -> str:
    """A short JSON rendering of a value for an error message."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fields(entry: object, where: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict:
    """``entry`` as a JSON object with every ``required`` key and no key outside ``required + optional``."""
    if not isinstance(entry, dict):
        raise PromptError(f"{where} is {_shown(entry)}, not an object with {', '.join(required + optional)}.")
    missing = [key for key in required if key not in entry]
    if missing:
        raise PromptError(f"{where} has no {missing[0]!r}.")
    unknown = sorted(set(entry) - set(required + optional))
    if unknown:
        raise PromptError(f"{where} has the unknown key {unknown[0]!r} (known: {', '.join(required + optional)}).")
    return entry


def _list(value: object, where: str) -> list:
    if not isinstance(value, list):
        raise PromptError(f"{where} is a list, not {_shown(value)}.")
    return value


def _whole(value: object, where: str, low: int, high: int | None = None) -> int:
    """A JSON whole number in ``[low, high]`` (a bool is not one)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise PromptError(f"{where} is a whole number {bounds}, not {_shown(value)}.")
    return value


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise PromptError(f"{where}: {_shown(value)} is not true or false.")
    return value


def _coordinates(value: object, count: int, where: str) -> tuple[int, ...]:
    """``count`` pixel coordinates, each a finite number within :data:`~vmat.limits.MAX_FRAME_SIDE` of 0."""
    numbers = value if isinstance(value, list) and len(value) == count else None
    if numbers is None or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= MAX_FRAME_SIDE for v in numbers
    ):
        raise PromptError(f"{where} needs {count} pixel coordinates within {MAX_FRAME_SIDE} of 0, not {_shown(value)}.")
    return tuple(int(v) for v in numbers)


def _point(value: object, where: str) -> tuple[int, int]:
    """One ``[x, y]`` pixel position (see :func:`_coordinates`)."""
    x, y = _coordinates(value, 2, where)
    return x, y


def boxes_prompt(frame: int, boxes: Sequence[Box], first_id: int = 1) -> FramePrompt:
    """A prompt that names one instance per box, numbered from ``first_id``."""
    if first_id < 1:
        raise ConfigError(f"instance ids start at 1, got {first_id}.")
    return FramePrompt(frame=frame, instances=tuple(InstancePrompt(first_id + i, box=b) for i, b in enumerate(boxes)))


def prompts_by_frame(rounds: Sequence[FramePrompt]) -> dict[int, list[FramePrompt]]:
    """Group rounds by frame, keeping their order."""
    grouped: dict[int, list[FramePrompt]] = {}
    for round_ in rounds:
        if round_.frame < 0:
            raise PromptError(f"frame numbers start at 0, got {round_.frame}.")
        grouped.setdefault(round_.frame, []).append(round_)
    return grouped


def prompt_ids(rounds: Sequence[FramePrompt]) -> set[int]:
    """Every person id a prompt names: its id masks' and its instances'."""
    ids: set[int] = set()
    for round_ in rounds:
        if round_.id_mask is not None:
            ids.update(np.unique(round_.id_mask).tolist())
        ids.update(instance.id for instance in round_.instances)
    return ids - {0}


def prompt_rounds(path: str | os.PathLike[str] | None, frame: int = 0) -> list[FramePrompt] | None:
    """The prompt rounds a user gave: a JSON prompt file, or an id-mask PNG naming the people on ``frame``.

    ``None`` when there is no prompt (the caller falls back to finding people automatically).
    """
    if path is None:
        return None
    if Path(path).suffix.lower() == ".json":
        return load_prompts(path)
    return [FramePrompt(frame, id_mask=read_id_mask(path))]
