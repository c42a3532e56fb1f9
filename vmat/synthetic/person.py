"""Procedural articulated people: a skeleton animated over time, drawn as soft capsules with hair strands.

A person lives in body units (height 1, origin between the feet, y pointing down). :func:`pose` places
the joints at a time ``t`` (seconds): the legs walk, the arms swing or wave, the torso leans and bobs.
:func:`render_person` draws the body onto the frame at a pixel scale and position and returns the exact
layer: coverage ``alpha`` and premultiplied colour, with

- soft edges: every part's coverage ramps over ``edge_softness`` pixels (anti-aliasing plus feathering);
- hair strands: sub-pixel-wide curves, partly transparent, that sway with time; a *detailed* look
  (``hair_width`` > 0) draws many strands with a thickness in body units, soft edges as wide as the strand
  (they blend into each other, as a tuft of hair does) and a translucent halo of stray hair around the head;
- clothing edges (detailed looks): a coat or skirt below the waist whose hem sways and whose fabric may be
  sheer (``coat_opacity`` < 1), and shirt cuffs in the stripe colour, so clothes end at edges that are not
  the body's outline;
- motion blur: the layer is the mean of premultiplied layers at times spread over the shutter interval,
  which is exactly how a camera integrates a moving layer.

Inside one person, parts are stacked with the "over" operator in drawing order, so the person's own
alpha and colour are exact too. Colours are textured in body coordinates, so patterns move with the body.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

# Body proportions in body units (height 1).
HIP_HEIGHT = 0.50
TORSO_LENGTH = 0.29
NECK_LENGTH = 0.06
HEAD_RADIUS = 0.068
SHOULDER_HALF_WIDTH = 0.085
HIP_HALF_WIDTH = 0.045
UPPER_ARM, FOREARM = 0.16, 0.15
THIGH, SHIN = 0.24, 0.23
RADII = {
    "torso": 0.085, "pelvis": 0.06, "neck": 0.028, "upper_arm": 0.032, "forearm": 0.026, "hand": 0.028,
    "thigh": 0.046, "shin": 0.036, "foot": 0.026,
}


@dataclass(frozen=True)
class PersonLook:
    """Appearance: colours are RGB in [0, 1]; ``stripe_*`` texture the shirt in body coordinates."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    shirt: tuple[float, float, float]
    shirt_stripe: tuple[float, float, float]
    trousers: tuple[float, float, float]
    stripe_frequency: float  # stripes per body height
    stripe_angle: float  # radians
    hair_strands: int
    hair_length: float  # body units
    hair_opacity: float
    edge_softness: float  # pixels
    hair_seed: int  # fixes where the strands grow; only their sway changes over time
    # Detailed looks only (0 = the original mannequin): strand thickness (body units), the stray-hair halo's
    # opacity, and a coat/skirt reaching this far below the hips (body units) at this opacity.
    hair_width: float = 0.0
    hair_halo: float = 0.0
    coat_length: float = 0.0
    coat_opacity: float = 1.0
    cuffs: bool = False  # sleeves end in a band of the stripe colour


@dataclass(frozen=True)
class PersonMotion:
    """Animation: a walk cycle, optional waving arm, lean, and a path across the world and in depth."""

    cycle_hz: float
    phase: float
    arm_swing: float  # radians
    leg_swing: float  # radians
    waving_arm: int  # 0 none, -1 left, +1 right
    lean_amplitude: float  # radians
    x_start: float  # world pixels, where the feet are at t = 0
    x_speed: float  # world pixels per second
    depth_start: float  # metres from the camera
    depth_end: float  # metres at the end of the clip


@dataclass(frozen=True)
class PersonSpec:
    """One person of a scene: instance id (1-based), look and motion."""

    instance_id: int
    look: PersonLook
    motion: PersonMotion


def _rotate(vector: tuple[float, float], angle: float) -> np.ndarray:
    # Angle 0 points down (+y); positive turns towards +x.
    x, y = vector
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * x + s * y, -s * x + c * y])


def _limb(start: np.ndarray, angle: float, length: float) -> np.ndarray:
    return start + length * np.array([math.sin(angle), math.cos(angle)])


def pose(motion: PersonMotion, t: float) -> dict[str, np.ndarray]:
    """Joint positions ``{name: (x, y)}`` in body units at time ``t`` seconds."""
    w = 2 * math.pi * motion.cycle_hz
    phase = w * t + motion.phase
    lean = motion.lean_amplitude * math.sin(0.5 * w * t + motion.phase)
    bob = 0.008 * math.sin(2 * phase)
    hip = np.array([0.0, -HIP_HEIGHT + bob])
    up = _rotate((0.0, -1.0), lean)
    neck = hip + TORSO_LENGTH * up
    joints = {"hip": hip, "neck": neck, "head": neck + (NECK_LENGTH + HEAD_RADIUS * 0.8) * up}
    for side in (-1, 1):
        name = "l" if side < 0 else "r"
        shoulder = neck + np.array([side * SHOULDER_HALF_WIDTH, 0.02])
        swing = motion.arm_swing * math.sin(phase + (0 if side < 0 else math.pi))
        if motion.waving_arm == side:
            upper = side * (2.4 + 0.25 * math.sin(3 * phase))
            bend = -side * (0.6 + 0.4 * math.sin(4 * phase))
        else:
            upper = side * 0.18 + swing
            bend = side * (0.15 + 0.35 * (0.5 + 0.5 * math.sin(phase + 1.0)))
        elbow = _limb(shoulder, upper, UPPER_ARM)
        wrist = _limb(elbow, upper + bend, FOREARM)
        hip_joint = hip + np.array([side * HIP_HALF_WIDTH, 0.0])
        leg = motion.leg_swing * math.sin(phase + (math.pi if side < 0 else 0))
        knee = _limb(hip_joint, side * 0.04 + leg, THIGH)
        knee_bend = 0.5 * max(0.0, math.sin(phase + (math.pi if side < 0 else 0) + 1.2))
        ankle = _limb(knee, side * 0.04 + leg - knee_bend, SHIN)
        joints |= {
            f"shoulder_{name}": shoulder, f"elbow_{name}": elbow, f"wrist_{name}": wrist,
            f"hip_{name}": hip_joint, f"knee_{name}": knee, f"ankle_{name}": ankle,
            f"toe_{name}": ankle + np.array([side * 0.05, 0.01]),
        }
    return joints


def capsule_coverage(
    xs: np.ndarray, ys: np.ndarray, p0: np.ndarray, p1: np.ndarray, radius: float, softness: float
) -> np.ndarray:
    """Coverage in [0, 1] of a capsule (segment ``p0``-``p1`` thickened by ``radius``) at pixel centres.

    ``xs`` ``(1, W)`` and ``ys`` ``(H, 1)`` are pixel-centre coordinates; coverage falls linearly from 1 to
    0 over ``softness`` pixels centred on the capsule's edge.
    """
    d = p1 - p0
    length_sq = float(d @ d)
    if length_sq > 0:
        s = np.clip(((xs - p0[0]) * d[0] + (ys - p0[1]) * d[1]) / length_sq, 0.0, 1.0)
    else:
        s = np.zeros(np.broadcast_shapes(xs.shape, ys.shape))
    distance = np.hypot(xs - (p0[0] + s * d[0]), ys - (p0[1] + s * d[1]))
    return np.clip(0.5 - (distance - radius) / softness, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Placement:
    """Where a person is drawn: the feet midpoint ``(x, y)`` in frame pixels and the height in pixels."""

    x: float
    y: float
    height: float


def _body_parts(joints: dict[str, np.ndarray], look: PersonLook) -> list[tuple[str, np.ndarray, np.ndarray, float, tuple]]:
    """(part, p0, p1, radius, colour) back to front; radius in body units."""
    parts = []
    for side in ("l", "r"):
        parts += [
            ("thigh", joints[f"hip_{side}"], joints[f"knee_{side}"], RADII["thigh"], look.trousers),
            ("shin", joints[f"knee_{side}"], joints[f"ankle_{side}"], RADII["shin"], look.trousers),
            ("foot", joints[f"ankle_{side}"], joints[f"toe_{side}"], RADII["foot"], (0.12, 0.1, 0.1)),
        ]
    parts += [
        ("pelvis", joints["hip_l"], joints["hip_r"], RADII["pelvis"], look.trousers),
        ("torso", joints["neck"] + 0.07 * (joints["hip"] - joints["neck"]), joints["hip"], RADII["torso"], look.shirt),
        ("neck", joints["neck"], joints["head"], RADII["neck"], look.skin),
        (
            "hair_cap",
            joints["head"] + np.array([0.0, -0.012]),
            joints["head"] + np.array([0.0, -0.012]),
            HEAD_RADIUS * 1.06,
            look.hair,
        ),
        ("face", joints["head"] + np.array([0.0, 0.008]), joints["head"] + np.array([0.0, 0.012]), HEAD_RADIUS * 0.88, look.skin),
    ]
    for side in ("l", "r"):
        parts += [
            ("upper_arm", joints[f"shoulder_{side}"], joints[f"elbow_{side}"], RADII["upper_arm"], look.shirt),
            ("forearm", joints[f"elbow_{side}"], joints[f"wrist_{side}"], RADII["forearm"], look.skin),
            ("hand", joints[f"wrist_{side}"], joints[f"wrist_{side}"], RADII["hand"], look.skin),
        ]
    return parts


def _hair_strands(joints: dict[str, np.ndarray], look: PersonLook, t: float) -> list[np.ndarray]:
    """Polylines ``(K, 2)`` in body units, rooted on the upper half of the head, swaying with time."""
    rng = np.random.default_rng(look.hair_seed)
    centre = joints["head"] + np.array([0.0, -0.012])
    strands = []
    for _ in range(look.hair_strands):
        root_angle = rng.uniform(-2.6, 2.6)  # around the top of the head, 0 = straight up
        length = look.hair_length * rng.uniform(0.5, 1.0)
        sway_phase = rng.uniform(0, 2 * math.pi)
        root = centre + HEAD_RADIUS * 1.02 * np.array([math.sin(root_angle), -math.cos(root_angle)])
        direction = root_angle + math.copysign(0.6, root_angle)  # strands comb outwards and then droop
        points = [root]
        for k in range(1, 6):
            sway = 0.25 * math.sin(2 * math.pi * 1.3 * t + sway_phase + 0.6 * k)
            heading = direction + (math.copysign(0.35, root_angle) * k) + sway
            points.append(points[-1] + (length / 5) * np.array([math.sin(heading), -math.cos(heading)]))
        strands.append(np.array(points))
    return strands


def polygon_coverage(points: np.ndarray, shape: tuple[int, int], supersample: int = 4) -> np.ndarray:
    """Anti-aliased coverage ``(H, W)`` float32 of a filled polygon ``(K, 2)`` (x, y) in pixel coordinates,
    the share of its ``supersample``² sub-pixel centres inside or on the polygon (pixel centres at +0.5, as
    :func:`capsule_coverage`)."""
    height, width = shape
    fine = np.zeros((height * supersample, width * supersample), np.uint8)
    cv2.fillPoly(fine, [np.round(points * supersample - 0.5).astype(np.int32)], 1)
    return cv2.resize(fine.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)


def _coat_outline(joints: dict[str, np.ndarray], look: PersonLook, t: float) -> np.ndarray:
    """The coat/skirt as a polygon ``(K, 2)`` in body units: from the waist, flaring to a swaying, wavy hem."""
    waist = joints["hip"] + 0.35 * (joints["neck"] - joints["hip"])
    half_top, half_hem = RADII["torso"] * 0.95, RADII["torso"] * 1.35
    hem_y = joints["hip"][1] + look.coat_length
    sway = 0.02 * math.sin(2 * math.pi * 0.9 * t)
    xs = np.linspace(-half_hem, half_hem, 9)
    hem = [(joints["hip"][0] + x + sway, hem_y + 0.008 * math.sin(23 * x + 3 * t)) for x in xs[::-1]]
    return np.array([(waist[0] - half_top, waist[1]), (waist[0] + half_top, waist[1]), *hem])


def _shirt_texture(xs_body: np.ndarray, ys_body: np.ndarray, look: PersonLook) -> np.ndarray:
    c, s = math.cos(look.stripe_angle), math.sin(look.stripe_angle)
    wave = 0.5 + 0.5 * np.sin(2 * math.pi * look.stripe_frequency * (c * ys_body + s * xs_body))
    base = np.asarray(look.shirt, np.float32)
    stripe = np.asarray(look.shirt_stripe, np.float32)
    return base + (stripe - base) * wave[..., None]


def _render_instant(
    spec: PersonSpec, t: float, placement: Placement, shape: tuple[int, int], with_hair: bool
) -> tuple[np.ndarray, np.ndarray]:
    height, width = shape
    joints = pose(spec.motion, t)
    scale = placement.height
    origin = np.array([placement.x, placement.y])
    alpha = np.zeros(shape, np.float32)
    colour = np.zeros((*shape, 3), np.float32)  # premultiplied
    soft = spec.look.edge_softness

    def draw(p0: np.ndarray, p1: np.ndarray, radius_px: float, opacity: float, paint, softness: float | None = None) -> None:
        edge = soft if softness is None else softness
        q0 = origin + scale * p0
        q1 = origin + scale * p1
        margin = radius_px + edge + 1
        x0 = max(int(math.floor(min(q0[0], q1[0]) - margin)), 0)
        x1 = min(int(math.ceil(max(q0[0], q1[0]) + margin)) + 1, width)
        y0 = max(int(math.floor(min(q0[1], q1[1]) - margin)), 0)
        y1 = min(int(math.ceil(max(q0[1], q1[1]) + margin)) + 1, height)
        if x0 >= x1 or y0 >= y1:
            return
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5)[None, :]
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5)[:, None]
        a = capsule_coverage(xs, ys, q0, q1, radius_px, edge) * opacity
        over(a, paint(xs, ys, q0, q1, radius_px), y0, y1, x0, x1)

    def over(a: np.ndarray, c: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> None:
        region_a = alpha[y0:y1, x0:x1]
        region_c = colour[y0:y1, x0:x1]
        region_c *= (1 - a)[..., None]
        region_c += a[..., None] * c
        region_a *= 1 - a
        region_a += a

    def shaded(rgb: tuple) -> Callable:
        base = np.asarray(rgb, np.float32)

        def paint(xs, ys, q0, q1, radius_px):
            # Cylinder shading: darker towards the silhouette, so parts read as round.
            d = q1 - q0
            length_sq = float(d @ d)
            s = np.clip(((xs - q0[0]) * d[0] + (ys - q0[1]) * d[1]) / length_sq, 0, 1) if length_sq > 0 else 0.0
            r = np.hypot(xs - (q0[0] + s * d[0]), ys - (q0[1] + s * d[1])) / max(radius_px, 1e-3)
            light = 0.72 + 0.28 * np.sqrt(np.clip(1 - r**2, 0, 1))
            return base * light[..., None]

        return paint

    def shirt(xs, ys, q0, q1, radius_px):
        textured = _shirt_texture((xs - origin[0]) / scale, (ys - origin[1]) / scale, spec.look)
        return textured * shaded((1.0, 1.0, 1.0))(xs, ys, q0, q1, radius_px)

    look = spec.look
    hair = np.asarray(look.hair, np.float32)

    def flat(rgb: np.ndarray) -> Callable:
        return lambda xs, ys, *_: np.broadcast_to(rgb, (*np.broadcast_shapes(xs.shape, ys.shape), 3))

    for part, p0, p1, radius, rgb in _body_parts(joints, look):
        if part == "hair_cap" and with_hair and look.hair_halo > 0:
            # Stray hair: a translucent fringe that fades out over a fifth of the head, behind the cap.
            draw(p0, p1, radius * scale * 1.05, look.hair_halo, flat(hair), softness=0.45 * HEAD_RADIUS * scale)
        paint = shirt if part in ("torso", "upper_arm") else shaded(rgb)
        draw(p0, p1, radius * scale, 1.0, paint)
        if part == "pelvis" and look.coat_length > 0:
            outline = origin + scale * _coat_outline(joints, look, t)
            x0, y0 = np.maximum(np.floor(outline.min(0)).astype(int) - 1, 0)
            x1, y1 = np.minimum(np.ceil(outline.max(0)).astype(int) + 2, (width, height))
            if x0 < x1 and y0 < y1:
                a = polygon_coverage(outline - (x0, y0), (y1 - y0, x1 - x0)) * look.coat_opacity
                xs = (np.arange(x0, x1, dtype=np.float32) + 0.5)[None, :]
                ys = (np.arange(y0, y1, dtype=np.float32) + 0.5)[:, None]
                over(a, shirt(xs, ys, origin, origin, scale) * 0.8, y0, y1, x0, x1)
        if part == "forearm" and look.cuffs:
            # A cuff in the stripe colour where the sleeve ends: a clothing edge across the arm.
            cuff_end = p0 + 0.18 * (p1 - p0)
            draw(p0, cuff_end, RADII["upper_arm"] * 1.05 * scale, 1.0, shaded(look.shirt_stripe))
    if with_hair:
        width_px = max(0.35, look.hair_width * scale)
        # A thick strand's edge is as soft as it is wide: strands overlap into a translucent tuft.
        softness = soft if look.hair_width == 0 else max(soft, 1.5 * width_px)
        for strand in _hair_strands(joints, look, t):
            for a, b in zip(strand[:-1], strand[1:]):
                draw(a, b, width_px, look.hair_opacity, flat(hair), softness=softness)
    return alpha, colour


def render_person(
    spec: PersonSpec,
    t: float,
    placement_at: Callable[[float], Placement],
    shape: tuple[int, int],
    *,
    shutter: float = 0.0,
    samples: int = 1,
    with_hair: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The person's layer at time ``t``: ``alpha`` ``(H, W)`` and premultiplied colour ``(H, W, 3)``, float32.

    ``placement_at(time) -> Placement`` says where the person stands; with ``samples`` > 1 the layer is
    averaged over ``samples`` instants spread evenly across ``[t - shutter / 2, t + shutter / 2]``.
    """
    if samples <= 1 or shutter <= 0:
        times = [t]
    else:
        times = [t + shutter * (k / (samples - 1) - 0.5) for k in range(samples)]
    alpha = np.zeros(shape, np.float32)
    colour = np.zeros((*shape, 3), np.float32)
    for time in times:
        a, c = _render_instant(spec, time, placement_at(time), shape, with_hair)
        alpha += a
        colour += c
    return alpha / len(times), colour / len(times)
