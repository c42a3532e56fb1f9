"""Straight lines carried through a hole before it is inpainted (structure propagation, after Sun et al. 2005).

Exemplar inpainting lays out a hole at a coarse scale, where a line a few pixels wide (a kerb, a tile joint,
the edge of a step) is less than a pixel: a kerb that runs under a removed person's foot comes out broken,
with the pavement on one side spilling over it. Here a line is continued only where the picture confirms it:
a straight segment (OpenCV's LSD) ending at the hole and another, collinear and pointing back at it, ending
on the hole's far side, with the same colour on at least one side of the line. The hole pixels on the line
between them take the line's colour profile across it (each segment's, blended along the gap) and become
known, so the search then fills the rest of the hole around the line instead of through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vmat.geometry import bounding_box

_MIN_LENGTH = 20.0  # pixels: a shorter segment is texture (a pebble's edge), not structure
_NEAR = 10.0  # pixels: a segment whose end is this close to the hole leads into it
_ANGLE = np.deg2rad(4.0)  # two segments of one line point at each other within this angle
_OFFSET = 2.0  # pixels: and lie on one line within this distance
_SIDE_AGREE = 24.0  # 8-bit levels: the colour beside the line that both ends must share (one side at least)
_GAP_SEEN = 0.3  # at most this share of the gap between the ends is known (else the line would show there)
_SAMPLES = 9  # points along a segment where its colour profile is read
_SEARCH_MARGIN = 64  # pixels around the hole's box where segments are looked for


@dataclass(frozen=True)
class _Segment:
    """A line segment from ``start`` to ``end`` (``end`` nearer the hole), ``width`` pixels wide (LSD's)."""

    start: np.ndarray
    end: np.ndarray
    width: float

    @property
    def direction(self) -> np.ndarray:
        step = self.end - self.start
        return step / np.linalg.norm(step)

    @property
    def normal(self) -> np.ndarray:
        u = self.direction
        return np.array([-u[1], u[0]])


def _leading_in(image: np.ndarray, hole: np.ndarray) -> list[_Segment]:
    """The picture's long straight segments with an end near the hole, ``end`` the nearer one. A segment that
    crosses the hole (whatever the hole's pixels hold) counts as its pieces outside it."""
    found = cv2.createLineSegmentDetector().detect(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    if found[0] is None:
        return []
    to_hole = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    height, width = hole.shape
    segments = []
    for (x1, y1, x2, y2), line_width in zip(found[0][:, 0], found[1][:, 0]):
        a, b = np.array([x1, y1], float), np.array([x2, y2], float)
        count = int(np.ceil(np.linalg.norm(b - a))) + 1
        if count - 1 < _MIN_LENGTH:
            continue
        points = a + np.linspace(0.0, 1.0, count)[:, None] * (b - a)
        xs = np.clip(np.round(points[:, 0]).astype(int), 0, width - 1)
        ys = np.clip(np.round(points[:, 1]).astype(int), 0, height - 1)
        distance = to_hole[ys, xs]
        outside = np.concatenate([[False], distance > 1.0, [False]])
        edges = np.flatnonzero(np.diff(outside.astype(np.int8)))
        for first, stop in zip(edges[::2], edges[1::2]):
            last = stop - 1
            if last - first < _MIN_LENGTH or min(distance[first], distance[last]) > _NEAR:
                continue
            start, end = (first, last) if distance[last] <= distance[first] else (last, first)
            segments.append(_Segment(points[start], points[end], float(line_width)))
    return segments


def _profile(image: np.ndarray, known: np.ndarray, segment: _Segment, offsets: np.ndarray) -> np.ndarray | None:
    """``(len(offsets), 3)``: the segment's mean colour at each signed distance across it (along its
    :attr:`_Segment.normal`), read at known pixels; ``None`` where an offset has too few."""
    height, width = known.shape
    along = np.linspace(0.1, 0.9, _SAMPLES)
    points = segment.start + along[:, None] * (segment.end - segment.start)
    profile = np.empty((offsets.size, 3), np.float32)
    for k, offset in enumerate(offsets):
        at = points + offset * segment.normal
        xs = np.clip(np.round(at[:, 0]).astype(int), 0, width - 1)
        ys = np.clip(np.round(at[:, 1]).astype(int), 0, height - 1)
        ok = known[ys, xs]
        if ok.sum() < 3:
            return None
        profile[k] = image[ys[ok], xs[ok]].astype(np.float32).mean(0)
    return profile


def _gap_points(a: np.ndarray, b: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The pixels on the straight line from ``a`` to ``b``, one per pixel of its length."""
    count = max(2, int(np.ceil(np.linalg.norm(b - a))) + 1)
    points = a + np.linspace(0.0, 1.0, count)[:, None] * (b - a)
    xs = np.clip(np.round(points[:, 0]).astype(int), 0, shape[1] - 1)
    ys = np.clip(np.round(points[:, 1]).astype(int), 0, shape[0] - 1)
    return ys, xs


def continue_lines(image: np.ndarray, hole: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Carry confirmed straight lines through ``hole`` (see the module docstring).

    Args:
        image: ``(H, W, 3)`` uint8.
        hole: ``(H, W)`` bool, the pixels to synthesise.
        known: ``(H, W)`` bool, pixels whose colour is trusted (outside ``hole``).

    Returns:
        ``image`` with the lines painted, and the ``(H, W)`` bool hole pixels painted.
    """
    painted = np.zeros_like(hole)
    out = image.copy()
    if not hole.any():
        return out, painted
    # Only segments reaching within _NEAR of the hole count, so they are looked for in a box around it alone (a
    # moving camera's plate is a canvas up to three frames each way).
    rows, cols = bounding_box(hole, _SEARCH_MARGIN)
    found, done = _continue(image[rows, cols], hole[rows, cols], known[rows, cols])
    out[rows, cols], painted[rows, cols] = found, done
    return out, painted


def _continue(image: np.ndarray, hole: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`continue_lines` in a box around the hole."""
    painted = np.zeros_like(hole)
    out = image.copy()
    segments = _leading_in(image, hole)
    for i, near in enumerate(segments):
        for far in segments[i + 1 :]:
            if np.arccos(np.clip(-near.direction @ far.direction, -1.0, 1.0)) > _ANGLE:
                continue
            if max(abs((far.start - near.start) @ near.normal), abs((far.end - near.start) @ near.normal)) > _OFFSET:
                continue
            if (far.end - near.end) @ near.direction <= 0:  # the ends must face each other across a gap
                continue
            ys, xs = _gap_points(near.end, far.end, hole.shape)
            if not hole[ys, xs].any() or known[ys, xs].mean() > _GAP_SEEN:
                continue
            # LSD's width spans the edge's ramp; a pixel more on each side takes in the whole of a thin line
            # found as its two edges.
            half = max(near.width, far.width) / 2
            offsets = np.arange(-np.ceil(half + 1), np.ceil(half + 1) + 1)
            beside = np.array([-(half + 2), half + 2])
            # The far segment points the other way: its normal is the near one's reversed.
            sides_near = _profile(image, known, near, beside)
            sides_far = _profile(image, known, far, -beside)
            if sides_near is None or sides_far is None or not (np.abs(sides_near - sides_far).max(1) < _SIDE_AGREE).any():
                continue
            profile_near = _profile(image, known, near, offsets)
            profile_far = _profile(image, known, far, -offsets)
            if profile_near is None or profile_far is None:
                continue
            _paint(out, painted, hole, near, far.end, offsets, profile_near, profile_far)
    return out, painted


def _paint(
    out: np.ndarray,
    painted: np.ndarray,
    hole: np.ndarray,
    near: _Segment,
    far_end: np.ndarray,
    offsets: np.ndarray,
    profile_near: np.ndarray,
    profile_far: np.ndarray,
) -> None:
    """Paint the hole pixels within the profile's width of the line from ``near.end`` to ``far_end``: each the
    profile at its distance across the line, the two ends' blended by where along the gap it lies."""
    gap = far_end - near.end
    length = float(np.linalg.norm(gap))
    direction = gap / length
    normal = np.array([-direction[1], direction[0]])
    reach = int(np.ceil(abs(offsets).max())) + 1
    corners = np.array([near.end, far_end])
    x0, y0 = np.floor(corners.min(0)).astype(int) - reach
    x1, y1 = np.ceil(corners.max(0)).astype(int) + reach + 1
    height, width = hole.shape
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1]
    relative = np.stack([xs - near.end[0], ys - near.end[1]], -1).astype(np.float32)
    along = relative @ direction / length
    across = relative @ normal
    inside = hole[y0:y1, x0:x1] & (along >= 0) & (along <= 1) & (np.abs(across) <= abs(offsets).max())
    if not inside.any():
        return
    t = along[inside][:, None]
    position = np.interp(across[inside], offsets, np.arange(offsets.size))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, offsets.size - 1)
    share = (position - low)[:, None]

    def read(profile: np.ndarray) -> np.ndarray:
        return profile[low] * (1 - share) + profile[high] * share

    colour = read(profile_near) * (1 - t) + read(profile_far) * t
    region = out[y0:y1, x0:x1]
    region[inside] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
    painted[y0:y1, x0:x1] |= inside
