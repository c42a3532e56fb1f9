"""Seeded multi-person scenes with exact layers, streamed one frame at a time.

:class:`SyntheticScene` turns a :class:`SceneConfig` into people (look, walk, depth path), a background
plate and a camera, then :meth:`SyntheticScene.frames` renders each frame on demand as a
:class:`SyntheticFrame`: the composite, the background plate, every instance's amodal layer (alpha and
colour), the depth order, and everything derived from them exactly (instance mattes, id map, depth map,
removal and occlusion-swap ground truth). Nothing is kept between frames, so memory does not grow with
clip length.

Difficulty follows V-HIM (MaGGIe supplementary 9.1): ``easy`` has 2-3 people that never overlap,
``medium`` up to 5 with 5-50 % occlusion per frame, ``hard`` up to 5 with 50-85 %. A frame's occlusion
is that of its most hidden person: ``1 - sum(visible alpha) / sum(layer alpha)``. Placements are drawn
until every frame of a coarse preview lands in the level's range; the full-resolution value of every
frame is recorded in the manifest.

Seeds: the same ``(namespace, seed)`` gives identical arrays. The ``eval`` namespace is reserved for the
benchmark suites (:mod:`vmat.synthetic.suites`); training draws from ``train``, so no training scene can
repeat a test scene.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from vmat.errors import ConfigError, InputNotFoundError
from vmat.geometry import morph
from vmat.synthetic.background import GroundCamera, crop, list_backgrounds, procedural_plate, user_plates
from vmat.synthetic.compose import (
    composite,
    removal_order,
    render_order,
    swapped_order,
    to_uint8,
    unit,
    visible_contributions,
)
from vmat.synthetic.person import PersonLook, PersonMotion, PersonSpec, Placement, render_person

NAMESPACES = {"train": 0, "eval": 1}
CAMERAS = ("static", "pan")
GENERATOR_VERSION = 1
PREVIEW_MARGIN = 0.03


@dataclass(frozen=True)
class LevelSpec:
    """A V-HIM difficulty level: how many people and how much of the most hidden one may be covered."""

    name: str
    min_people: int
    max_people: int
    occlusion: tuple[float, float]


LEVELS = {
    "easy": LevelSpec("easy", 2, 3, (0.0, 0.0)),
    "medium": LevelSpec("medium", 3, 5, (0.05, 0.50)),
    "hard": LevelSpec("hard", 3, 5, (0.50, 0.85)),
}


@dataclass(frozen=True)
class SceneConfig:
    """What to generate. ``background`` is an image/video file or a folder of them (procedural when ``None``)."""

    level: str = "medium"
    camera: str = "static"
    width: int = 320
    height: int = 192
    num_frames: int = 24
    fps: float = 24.0
    seed: int = 0
    namespace: str = "train"
    num_people: int | None = None
    motion_blur_samples: int = 3
    shutter: float = 0.5  # fraction of the frame interval the shutter is open
    hair: bool = True
    # Detailed people: thick soft hair strands with a stray-hair halo, coats or skirts (some sheer), cuffs.
    detailed: bool = False
    background: Path | None = None
    max_attempts: int = 400

    def validate(self) -> None:
        if self.level not in LEVELS:
            raise ConfigError(f"unknown level {self.level!r}: choose one of {', '.join(LEVELS)}.")
        if self.camera not in CAMERAS:
            raise ConfigError(f"unknown camera {self.camera!r}: choose 'static' or 'pan'.")
        if self.namespace not in NAMESPACES:
            raise ConfigError(f"unknown seed namespace {self.namespace!r}: choose 'train' or 'eval'.")
        if self.width < 64 or self.height < 64:
            raise ConfigError(f"frame size {self.width}x{self.height} is too small: use at least 64x64.")
        if self.num_frames < 1 or self.fps <= 0:
            raise ConfigError("a scene needs at least one frame and a positive frame rate.")
        level = LEVELS[self.level]
        if self.num_people is not None and not level.min_people <= self.num_people <= level.max_people:
            raise ConfigError(f"level {self.level} has {level.min_people} to {level.max_people} people, not {self.num_people}.")

    def to_json(self) -> dict:
        data = asdict(self)
        data["background"] = None if self.background is None else str(self.background)
        if not self.detailed:
            # Plain scenes keep the manifest they always had, so suites cached before detailed people existed stay current.
            del data["detailed"]
        return data


@dataclass
class SyntheticFrame:
    """One frame with exact layers. Layer ``k`` is instance ``instance_ids[k]``.

    Stored fields: ``image`` and ``background`` ``(H, W, 3)`` uint8; ``layer_alpha`` ``(N, H, W)`` float32
    (each person's own coverage, ignoring occluders); ``foreground`` ``(N, H, W, 3)`` uint8 (each person's
    colour, 0 where the layer is empty); ``order`` layer indices nearest first; ``instance_depth`` ``(N,)``
    metres; ``background_depth`` ``(H, W)`` metres. The rest is derived exactly from them.
    """

    index: int
    time: float
    image: np.ndarray
    background: np.ndarray
    layer_alpha: np.ndarray
    foreground: np.ndarray
    order: list[int]
    instance_ids: list[int]
    instance_depth: np.ndarray
    background_depth: np.ndarray = field(repr=False)

    @cached_property
    def _contributions(self) -> tuple[np.ndarray, np.ndarray]:
        return visible_contributions(self.layer_alpha, self.order)

    @property
    def alpha(self) -> np.ndarray:
        """Instance mattes ``(N, H, W)`` float32: each person's visible contribution (the matting ground truth)."""
        return self._contributions[0]

    @property
    def background_alpha(self) -> np.ndarray:
        """The background's contribution ``(H, W)``; with :attr:`alpha` it sums to 1 at every pixel."""
        return self._contributions[1]

    @cached_property
    def _dominant(self) -> np.ndarray:
        # 0 for background, k + 1 for layer k: whichever contributes most to the pixel.
        return np.argmax(np.concatenate([self.background_alpha[None], self.alpha]), axis=0)

    @property
    def id_map(self) -> np.ndarray:
        """``(H, W)`` uint8: the instance id contributing most to each pixel, 0 for background."""
        ids = np.concatenate([[0], np.asarray(self.instance_ids)])
        return ids[self._dominant].astype(np.uint8)

    @property
    def depth(self) -> np.ndarray:
        """``(H, W)`` float32 metres: the depth of whichever layer contributes most to each pixel."""
        depth = self.background_depth.copy()
        for k in range(len(self.instance_ids)):
            depth[self._dominant == k + 1] = self.instance_depth[k]
        return depth

    @property
    def hidden_fraction(self) -> np.ndarray:
        """``(N,)``: share of each person's own coverage hidden by nearer people (NaN when out of frame)."""
        own = self.layer_alpha.reshape(len(self.instance_ids), -1).sum(1)
        seen = self.alpha.reshape(len(self.instance_ids), -1).sum(1)
        return np.where(own > 0, 1.0 - seen / np.maximum(own, 1e-12), np.nan)

    @property
    def occlusion(self) -> float:
        """The frame's occlusion: the hidden fraction of its most hidden person."""
        hidden = self.hidden_fraction
        return float(np.nanmax(hidden)) if np.isfinite(hidden).any() else 0.0

    def removed(self, instance_id: int) -> np.ndarray:
        """Exact frame ``(H, W, 3)`` uint8 without instance ``instance_id``."""
        k = self.instance_ids.index(instance_id)
        return render_order(self.layer_alpha, self.foreground, self.background, removal_order(self.order, k))

    def swapped(self, first_id: int, second_id: int) -> np.ndarray:
        """Exact frame ``(H, W, 3)`` uint8 with the two instances exchanging depth places."""
        p, q = self.instance_ids.index(first_id), self.instance_ids.index(second_id)
        return render_order(self.layer_alpha, self.foreground, self.background, swapped_order(self.order, p, q))

    def overlapping_pairs(self) -> list[tuple[int, int]]:
        """Instance id pairs ``(nearer, farther)`` whose layers overlap here, i.e. whose swap changes the frame."""
        covered = self.layer_alpha > 0
        pairs = []
        for i, p in enumerate(self.order):
            for q in self.order[i + 1 :]:
                if np.logical_and(covered[p], covered[q]).any():
                    pairs.append((self.instance_ids[p], self.instance_ids[q]))
        return pairs


@dataclass(frozen=True)
class _Person:
    spec: PersonSpec
    metres: float  # standing height

    def depth_at(self, t: float, duration: float) -> float:
        m = self.spec.motion
        return m.depth_start + (m.depth_end - m.depth_start) * (t / duration if duration > 0 else 0.0)


def _palette_colour(rng: np.random.Generator, low: float = 0.1, high: float = 0.95) -> tuple[float, float, float]:
    return tuple(float(v) for v in rng.uniform(low, high, 3))


def _sample_look(rng: np.random.Generator, detailed: bool = False) -> PersonLook:
    skin_tones = ((0.96, 0.80, 0.69), (0.87, 0.67, 0.52), (0.72, 0.52, 0.38), (0.55, 0.38, 0.26), (0.36, 0.24, 0.16))
    hair_tones = ((0.08, 0.06, 0.05), (0.30, 0.18, 0.10), (0.62, 0.45, 0.22), (0.85, 0.75, 0.5), (0.55, 0.55, 0.55))
    skin = np.clip(np.array(skin_tones[rng.integers(len(skin_tones))]) + rng.uniform(-0.04, 0.04, 3), 0, 1)
    hair = np.clip(np.array(hair_tones[rng.integers(len(hair_tones))]) + rng.uniform(-0.04, 0.04, 3), 0, 1)
    look = PersonLook(
        skin=tuple(float(v) for v in skin),
        hair=tuple(float(v) for v in hair),
        shirt=_palette_colour(rng),
        shirt_stripe=_palette_colour(rng),
        trousers=_palette_colour(rng, 0.05, 0.6),
        stripe_frequency=float(rng.uniform(8, 30)),
        stripe_angle=float(rng.uniform(-0.8, 0.8)),
        hair_strands=int(rng.integers(10, 30)),
        hair_length=float(rng.uniform(0.05, 0.2)),
        hair_opacity=float(rng.uniform(0.35, 0.8)),
        edge_softness=float(rng.uniform(1.0, 2.2)),
        hair_seed=int(rng.integers(2**31)),
    )
    if not detailed:
        return look
    # Drawn after everything above, so plain looks keep the seeds' old draws.
    coat = rng.random() < 0.5
    return replace(
        look,
        hair_strands=int(rng.integers(60, 160)),
        hair_length=float(rng.uniform(0.08, 0.28)),
        hair_width=float(rng.uniform(0.0015, 0.004)),
        hair_halo=float(rng.uniform(0.15, 0.45)),
        coat_length=float(rng.uniform(0.1, 0.32)) if coat else 0.0,
        coat_opacity=float(rng.uniform(0.5, 0.8)) if coat and rng.random() < 0.3 else 1.0,
        cuffs=bool(rng.random() < 0.6),
    )


class SyntheticScene:
    """A seeded scene; iterate :meth:`frames` to render it. See the module docstring."""

    def __init__(self, config: SceneConfig) -> None:
        config.validate()
        self.config = config
        self.level = LEVELS[config.level]
        self.camera = GroundCamera(config.height)
        self.duration = (config.num_frames - 1) / config.fps
        rng = np.random.default_rng(np.random.SeedSequence([NAMESPACES[config.namespace], config.seed]))
        self._plate_seed = int(rng.integers(2**31))
        self._background_choice = None
        if config.background is not None:
            if not config.background.exists():
                raise InputNotFoundError(f"background {str(config.background)!r} does not exist.")
            files = [config.background] if config.background.is_file() else list_backgrounds(config.background)
            self._background_choice = files[int(rng.integers(len(files)))]
        # The camera pans over a quarter of the frame width during the clip, in a random direction.
        self.pan_speed = 0.0
        if config.camera == "pan":
            self.pan_speed = float(rng.choice([-1.0, 1.0])) * 0.25 * config.width / max(self.duration, 1 / config.fps)
        self.plate_width = config.width + math.ceil(abs(self.pan_speed) * self.duration) + 2
        self.people, self.attempts, self.preview_occlusion = self._place_people(rng)

    # -- placement ---------------------------------------------------------------------------------

    def camera_offset(self, t: float) -> float:
        """World column at the frame's left edge at time ``t``."""
        return (0.0 if self.pan_speed >= 0 else self.plate_width - self.config.width - 2) + self.pan_speed * t

    def placement(self, person: _Person, scale: float = 1.0) -> Callable[[float], Placement]:
        motion = person.spec.motion

        def at(t: float) -> Placement:
            depth = person.depth_at(t, self.duration)
            x = motion.x_start + motion.x_speed * t - self.camera_offset(t)
            return Placement(
                x * scale, self.camera.feet_row(depth) * scale, self.camera.pixel_height(depth, person.metres) * scale
            )

        return at

    def _sample_people(self, rng: np.random.Generator) -> list[_Person]:
        config, level = self.config, self.level
        count = config.num_people or int(rng.integers(level.min_people, level.max_people + 1))
        width = config.width
        near, far = (3.4, 5.8) if level.name == "easy" else (2.7, 5.2)
        depths_start = rng.uniform(near, far, count)
        depths_end = np.clip(depths_start + rng.uniform(-1.0, 1.0, count), near, far)
        metres = rng.uniform(1.5, 1.9, count)
        mean_height = float(np.mean([self.camera.pixel_height(d, m) for d, m in zip(depths_start, metres)]))
        if level.name == "easy":
            slots = (np.arange(count) + 0.5) / count
            screen_x = width * (0.08 + 0.84 * slots) + rng.uniform(-0.03, 0.03, count) * width
            relative_speed = rng.uniform(-0.04, 0.04, count) * width / max(self.duration, 1 / config.fps)
        else:
            spread = {"medium": (0.25, 0.55), "hard": (0.04, 0.2)}[level.name]
            gaps = rng.uniform(*spread, count - 1) * mean_height
            screen_x = np.concatenate([[0.0], np.cumsum(gaps)])
            screen_x += width / 2 - screen_x.mean() + rng.uniform(-0.1, 0.1) * width
            relative_speed = rng.uniform(-0.05, 0.05, count) * width / max(self.duration, 1 / config.fps)
        people = []
        for k in range(count):
            motion = PersonMotion(
                cycle_hz=float(rng.uniform(0.6, 1.4)),
                phase=float(rng.uniform(0, 2 * math.pi)),
                arm_swing=float(rng.uniform(0.2, 0.6)),
                leg_swing=float(rng.uniform(0.15, 0.4)),
                waving_arm=int(rng.choice([0, 0, -1, 1])),
                lean_amplitude=float(rng.uniform(0.0, 0.12)),
                x_start=float(screen_x[k] + self.camera_offset(0.0)),
                x_speed=float(self.pan_speed + relative_speed[k]),
                depth_start=float(depths_start[k]),
                depth_end=float(depths_end[k]),
            )
            people.append(_Person(PersonSpec(k + 1, _sample_look(rng, config.detailed), motion), float(metres[k])))
        return people

    def _preview_occlusion(self, people: list[_Person]) -> list[float]:
        """Per-frame occlusion of a quick render (about 160 pixels wide, no hair, no blur); for easy, any contact counts."""
        scale = min(1.0, 160 / self.config.width)
        shape = (max(8, round(self.config.height * scale)), max(8, round(self.config.width * scale)))
        values = []
        for index in range(self.config.num_frames):
            t = index / self.config.fps
            layers = np.stack([render_person(p.spec, t, self.placement(p, scale), shape, with_hair=False)[0] for p in people])
            depths = [p.depth_at(t, self.duration) for p in people]
            order = list(np.argsort(depths, kind="stable"))
            if self.level.name == "easy":
                # Easy means no contact at all, hair and blur included: require a gap of a few pixels.
                grown = [morph(layer > 0, 3) for layer in layers]
                values.append(float(np.sum(np.sum(grown, axis=0) >= 2) > 0))
            else:
                contributions, _ = visible_contributions(layers, order)
                own = layers.reshape(len(people), -1).sum(1)
                seen = contributions.reshape(len(people), -1).sum(1)
                visible = own > 0
                values.append(float(np.max(1 - seen[visible] / own[visible])) if visible.any() else 0.0)
            if not self._in_range(values[-1]):
                break  # a wrong frame rejects the placement; no need to look further
        return values

    def _in_range(self, value: float) -> bool:
        # The preview is coarser than the final frames, so it must clear the level's bounds by a margin.
        low, high = self.level.occlusion
        if high == 0.0:
            return value == 0.0
        return low + PREVIEW_MARGIN <= value <= high - PREVIEW_MARGIN

    def _place_people(self, rng: np.random.Generator) -> tuple[list[_Person], int, list[float]]:
        best: tuple[int, list[_Person], list[float]] | None = None
        for attempt in range(1, self.config.max_attempts + 1):
            people = self._sample_people(rng)
            values = self._preview_occlusion(people)
            good = sum(self._in_range(v) for v in values)
            if good == self.config.num_frames:
                return people, attempt, values
            if best is None or good > best[0]:
                best = (good, people, values)
        raise ConfigError(
            f"no placement of people met the {self.level.name} occlusion range in {self.config.max_attempts} attempts "
            f"(best: {best[0]} of {self.config.num_frames} frames); try another seed or more frames per attempt."
        )

    # -- rendering ---------------------------------------------------------------------------------

    @property
    def instance_ids(self) -> list[int]:
        return [p.spec.instance_id for p in self.people]

    def _plates(self) -> Iterator[np.ndarray]:
        config = self.config
        if self._background_choice is None:
            plate = procedural_plate(
                np.random.default_rng(self._plate_seed), config.height, self.plate_width, self.camera.horizon
            )
            while True:
                yield plate
        yield from user_plates(self._background_choice, config.height, self.plate_width)

    def frames(self) -> Iterator[SyntheticFrame]:
        """Render the clip frame by frame."""
        config = self.config
        shape = (config.height, config.width)
        ground_depth = self.camera.ground_depth(config.width)
        shutter = config.shutter / config.fps
        ids = self.instance_ids
        plates = self._plates()
        for index in range(config.num_frames):
            t = index / config.fps
            background = to_uint8(crop(next(plates), self.camera_offset(t), config.width))
            layer_alpha = np.zeros((len(self.people), *shape), np.float32)
            foreground = np.zeros((len(self.people), *shape, 3), np.uint8)
            for k, person in enumerate(self.people):
                alpha, premultiplied = render_person(
                    person.spec, t, self.placement(person), shape,
                    shutter=shutter, samples=config.motion_blur_samples, with_hair=config.hair,
                )
                covered = alpha > 0
                colour = np.zeros_like(premultiplied)
                colour[covered] = premultiplied[covered] / alpha[covered][:, None]
                layer_alpha[k] = alpha
                foreground[k] = to_uint8(colour)
            depths = np.array([p.depth_at(t, self.duration) for p in self.people], np.float32)
            order = [int(k) for k in np.argsort(depths, kind="stable")]
            contributions, rest = visible_contributions(layer_alpha, order)
            image = to_uint8(composite(contributions, rest, unit(foreground), unit(background)))
            yield SyntheticFrame(index, t, image, background, layer_alpha, foreground, order, ids, depths, ground_depth)

    def manifest(self) -> dict:
        """Everything needed to know what this scene is (JSON-ready); per-frame facts are added by the writer."""
        return {
            "generator_version": GENERATOR_VERSION,
            "config": self.config.to_json(),
            "level": asdict(self.level),
            "instance_ids": self.instance_ids,
            "people": [
                {
                    "instance_id": p.spec.instance_id,
                    "height_m": p.metres,
                    "look": asdict(p.spec.look),
                    "motion": asdict(p.spec.motion),
                }
                for p in self.people
            ],
            "camera": asdict(self.camera) | {"pan_speed_px_per_s": self.pan_speed},
            "background": "procedural" if self._background_choice is None else str(self._background_choice),
            "placement_attempts": self.attempts,
        }


