"""The edits a pipeline run applies to a clip's layers, described by plain options."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2

from vmat.editing import (
    Placement,
    blur_background_clip,
    check_blur_sigma,
    drag_clip,
    fit_background,
    remove_clip,
    reorder_clip,
    replace_background_clip,
    solid_background,
    video_backgrounds,
)
from vmat.errors import ConfigError
from vmat.io.reader import open_video
from vmat.layers import LayerStack
from vmat.layers.stack import BACKGROUND_ID

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass(frozen=True)
class DragSpec:
    """Move person ``instance_id`` by ``placement`` in every frame; in front of everyone (MP-Mat eq. 14)
    unless ``keep_depth``."""

    instance_id: int
    placement: Placement
    keep_depth: bool = False


@dataclass(frozen=True)
class EditSpec:
    """What to do to the layers, applied in this order: reorder, remove, drag, replace the background.

    ``background`` is a colour (``"#00b140"`` or ``"0,177,64"``), ``"blur:SIGMA"`` (the clip's own
    background blurred), an image file, or a video file (looped when shorter than the clip).
    """

    remove: tuple[int, ...] = ()
    reorder: tuple[int, int] | None = None
    drag: DragSpec | None = None
    background: str | None = None
    keep_shadow: bool = False
    """Leave the shadows of removed and dragged people where they are (by default they go with them)."""
    keep_hidden: bool = False
    """Leave the people behind a removed, moved or swapped person as the frames showed them, cut where that
    person hid them (by default they are completed there from nearby frames, :mod:`vmat.editing.amodal`)."""

    @property
    def vacated_ids(self) -> tuple[int, ...]:
        """The people who leave their place (removed or moved): completion fills where they were."""
        return (*self.remove, *((self.drag.instance_id,) if self.drag is not None else ()))

    @property
    def uncovering_ids(self) -> tuple[int, ...]:
        """The people who stop hiding someone behind them where they stood: removed, moved and swapped people
        (the people behind them are completed there, :mod:`vmat.editing.amodal`)."""
        return () if self.keep_hidden else (*self.vacated_ids, *(self.reorder or ()))

    @property
    def blurs_background(self) -> bool:
        """Whether the clip's own background is shown blurred (``blur:``), which spreads what lies under people
        into view around them."""
        return self.background is not None and self.background.startswith("blur:")

    @property
    def replaces_background(self) -> bool:
        """Whether a new background (a colour, an image or a video) hides the whole background plane (``blur:``
        keeps the clip's own)."""
        return self.background is not None and not self.blurs_background

    @property
    def completes_background(self) -> bool:
        """Whether the edits show ground the frames did not, which completion recovers: where people leave their
        place, and under everyone when the background is blurred. With no edit, a swap or a new background,
        completion would change only what other people's soft edges let through, which the frame shows right."""
        return not self.replaces_background and (bool(self.vacated_ids) or self.blurs_background)

    @property
    def discarded_ids(self) -> set[int]:
        """The planes whose colour the edits never show: removed people, and the background (0) when replaced."""
        return set(self.remove) | ({BACKGROUND_ID} if self.replaces_background else set())

    @property
    def instance_ids(self) -> set[int]:
        """Every person id the edits name."""
        ids = set(self.remove) | set(self.reorder or ())
        return ids | ({self.drag.instance_id} if self.drag is not None else set())


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """``"#rrggbb"`` or ``"r,g,b"`` -> an RGB triple; anything else -> ``None``."""
    if re.fullmatch(r"#[0-9a-fA-F]{6}", text):
        return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)
    if re.fullmatch(r"\d{1,3},\d{1,3},\d{1,3}", text):
        r, g, b = (int(part) for part in text.split(","))
        if all(0 <= c <= 255 for c in (r, g, b)):
            return r, g, b
    return None


def check_background(spec: str) -> None:
    """Fail early, before any work, on a background the run could not use."""
    if parse_colour(spec) is not None:
        return
    if spec.startswith("blur:"):
        try:
            sigma = float(spec[5:])
        except ValueError:
            raise ConfigError(f"background {spec!r}: blur needs a positive number of pixels, e.g. blur:8") from None
        check_blur_sigma(sigma)
        return
    if not Path(spec).exists():
        raise ConfigError(f"background {spec!r} is not a colour (#rrggbb or r,g,b), blur:SIGMA, or an existing file")


def apply_edits(stacks: Iterable[LayerStack], spec: EditSpec, width: int, height: int) -> Iterator[LayerStack]:
    """The clip's layers with ``spec``'s edits applied, streamed frame by frame."""
    stream: Iterable[LayerStack] = stacks
    if spec.reorder is not None:
        stream = reorder_clip(stream, *spec.reorder)
    if spec.remove:
        stream = remove_clip(stream, spec.remove)
    if spec.drag is not None:
        placement = spec.drag.placement
        stream = drag_clip(stream, spec.drag.instance_id, lambda _: placement, keep_depth=spec.drag.keep_depth)
    if spec.background is not None:
        stream = _replace_background(stream, spec.background, width, height)
    return iter(stream)


def _replace_background(stacks: Iterable[LayerStack], spec: str, width: int, height: int) -> Iterator[LayerStack]:
    check_background(spec)
    colour = parse_colour(spec)
    if colour is not None:
        return replace_background_clip(stacks, solid_background(colour, width, height))
    if spec.startswith("blur:"):
        return blur_background_clip(stacks, float(spec[5:]))
    path = Path(spec)
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ConfigError(f"background image {spec!r} cannot be read")
        return replace_background_clip(stacks, fit_background(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), width, height))

    def frames() -> Iterator:
        with open_video(path) as reader:
            for frame in reader:
                yield frame.image

    return replace_background_clip(stacks, video_backgrounds(frames, width, height))

