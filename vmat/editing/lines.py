"""Straight lines carried through a hole before it is inpainted (structure propagation, after Sun et al. 2005).

Exemplar inpainting lays out a hole at a coarse scale, where a line a few pixels wide (a kerb, a tile joint,
the edge of a step) is less than a pixel: a kerb that runs under a removed person's foot comes out broken,
with the pavement on one side spilling over it; a horizon hidden behind a group is lost, and the ground
climbs into the buildings. Here a line is continued only where the picture confirms it: a straight segment
(OpenCV's LSD, on the brightness and on two colour-opponent channels, so a boundary between two colours of
one brightness counts) ending at the hole and another, collinear and pointing back at it, ending on the
hole's far side, with the same colour on at least one side of the line. The hole pixels on the line between
them take the line's colour profile across it (each end's mean, blended along the gap, plus the grain of the
nearer end's own pixels) and become known; the line is also returned, so that the search keeps each side of
it to sources from its own side (:func:`vmat.editing.inpaint.inpaint`). A segment that only enters the hole is
then carried on to one of those lines it meets steeply (a T junction, :func:`_meeting`): the edge of a building
going down behind a group to the horizon carried through it.
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
_SAMPLES = 9  # points along a segment where its mean colour profile is read
_SEARCH_MARGIN = 64  # pixels around the hole's box where segments are looked for
_T_ANGLE = np.deg2rad(30.0)  # a segment ending on a carried line meets it at least this steeply


def _normal(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The unit normal of the line from ``start`` to ``end``, ``(x, y)``: its direction turned a quarter."""
    step = (end - start) / np.linalg.norm(end - start)
    return np.array([-step[1], step[0]])


def _pixels(points: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the pixels nearest ``points`` (``(..., 2)`` as ``(x, y)``), clipped to ``shape``."""
    xs = np.clip(np.round(points[..., 0]).astype(int), 0, shape[1] - 1)
    ys = np.clip(np.round(points[..., 1]).astype(int), 0, shape[0] - 1)
    return ys, xs


def _between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(n, 2)``: points on the straight line from ``a`` to ``b``, one per pixel of its length (two at least)."""
    count = max(2, int(np.ceil(np.linalg.norm(b - a))) + 1)
    return a + np.linspace(0.0, 1.0, count)[:, None] * (b - a)


@dataclass(frozen=True)
class Line:
    """A line carried through a hole, in pixel coordinates ``(x, y)``: from ``start`` to ``end`` across the
    hole, ``normal`` its unit normal."""

    start: np.ndarray
    end: np.ndarray

    @property
    def normal(self) -> np.ndarray:
        return _normal(self.start, self.end)

    def shifted(self, dx: float, dy: float) -> Line:
        return Line(self.start + (dx, dy), self.end + (dx, dy))

    def place(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For points ``(xs, ys)``: their signed distance from the line (positive on the side ``normal`` points
        to), and whether they lie across the hole from it, between the perpendiculars through ``start`` and
        ``end`` (bool)."""
        step = self.end - self.start
        along = ((xs - self.start[0]) * step[0] + (ys - self.start[1]) * step[1]) / float(step @ step)
        distance = (xs - self.start[0]) * self.normal[0] + (ys - self.start[1]) * self.normal[1]
        return distance, (along >= 0) & (along <= 1)


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
        return _normal(self.start, self.end)


def _channels(image: np.ndarray) -> list[np.ndarray]:
    """Brightness and two colour-opponent channels, 8-bit: a boundary between two colours of one brightness
    (a teal wall on beige ground) shows in one of the last two."""
    red, green, blue = (image[..., k].astype(np.float32) for k in range(3))
    planes = (0.299 * red + 0.587 * green + 0.114 * blue, (red - green) / 2 + 128, (red + green) / 4 - blue / 2 + 128)
    return [np.clip(plane + 0.5, 0, 255).astype(np.uint8) for plane in planes]


def _leading_in(image: np.ndarray, hole: np.ndarray) -> list[_Segment]:
    """The picture's long straight segments with an end near the hole, ``end`` the nearer one. A segment that
    crosses the hole (whatever the hole's pixels hold) counts as its pieces outside it."""
    to_hole = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    detector = cv2.createLineSegmentDetector()
    segments = []
    for channel in _channels(image):
        found = detector.detect(channel)
        if found[0] is None:
            continue
        for (x1, y1, x2, y2), line_width in zip(found[0][:, 0], found[1][:, 0]):
            a, b = np.array([x1, y1], float), np.array([x2, y2], float)
            if np.linalg.norm(b - a) <= _MIN_LENGTH - 1:
                continue
            points = _between(a, b)
            distance = to_hole[_pixels(points, hole.shape)]
            outside = np.concatenate([[False], distance > 1.0, [False]])
            edges = np.flatnonzero(np.diff(outside.astype(np.int8)))
            for first, stop in zip(edges[::2], edges[1::2]):
                last = stop - 1
                if last - first < _MIN_LENGTH:
                    continue
                # A segment between two parts of the hole leads into both.
                for start, end in ((first, last), (last, first)):
                    if distance[end] <= _NEAR:
                        segments.append(_Segment(points[start], points[end], float(line_width)))
    return segments


def _samples(segment: _Segment, along: np.ndarray, offsets: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns ``(len(along), len(offsets))`` of the pixels ``along`` pixels back from the segment's
    end (towards its start) and ``offsets`` across it."""
    points = segment.end - along[:, None, None] * segment.direction + offsets[None, :, None] * segment.normal
    return _pixels(points, shape)


def _profile(image: np.ndarray, known: np.ndarray, segment: _Segment, offsets: np.ndarray) -> np.ndarray | None:
    """``(len(offsets), 3)``: the segment's mean colour at each signed distance across it (along its
    :attr:`_Segment.normal`), read at known pixels; ``None`` where an offset has too few."""
    length = float(np.linalg.norm(segment.end - segment.start))
    ys, xs = _samples(segment, np.linspace(0.1, 0.9, _SAMPLES) * length, offsets, known.shape)
    ok = known[ys, xs]
    if (ok.sum(0) < 3).any():
        return None
    values = image[ys, xs].astype(np.float32) * ok[..., None]
    return values.sum(0) / ok.sum(0)[:, None]


def continue_lines(image: np.ndarray, hole: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Line]]:
    """Carry confirmed straight lines through ``hole`` (see the module docstring).

    Args:
        image: ``(H, W, 3)`` uint8.
        hole: ``(H, W)`` bool, the pixels to synthesise.
        known: ``(H, W)`` bool, pixels whose colour is trusted (outside ``hole``).

    Returns:
        ``image`` with the lines painted, the ``(H, W)`` bool hole pixels painted, and the lines.
    """
    painted = np.zeros_like(hole)
    out = image.copy()
    if not hole.any():
        return out, painted, []
    # Only segments reaching within _NEAR of the hole count, so they are looked for in a box around it alone (a
    # moving camera's plate is a canvas up to three frames each way).
    rows, cols = bounding_box(hole, _SEARCH_MARGIN)
    found, done, lines = _continue(image[rows, cols], hole[rows, cols], known[rows, cols])
    out[rows, cols], painted[rows, cols] = found, done
    return out, painted, [line.shifted(cols.start, rows.start) for line in lines]


def _continue(image: np.ndarray, hole: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Line]]:
    """:func:`continue_lines` in a box around the hole."""
    painted = np.zeros_like(hole)
    out = image.copy()
    lines: list[Line] = []
    segments = _leading_in(image, hole)
    for i, near in enumerate(segments):
        for far in segments[i + 1 :]:
            if np.arccos(np.clip(-near.direction @ far.direction, -1.0, 1.0)) > _ANGLE:
                continue
            if max(abs((far.start - near.start) @ near.normal), abs((far.end - near.start) @ near.normal)) > _OFFSET:
                continue
            if (far.end - near.end) @ near.direction <= 0:  # the ends must face each other across a gap
                continue
            if not _gap_open(hole, known, near.end, far.end):
                continue
            if any(_same(line, near.end, far.end) for line in lines):  # found again, in another channel
                continue
            # LSD's width spans the edge's ramp; a pixel more on each side takes in the whole of a thin line
            # found as its two edges.
            half = max(near.width, far.width) / 2
            offsets = _across(half)
            beside = np.array([-(half + 2), half + 2])
            # The far segment points the other way: its normal is the near one's reversed.
            sides_near = _profile(image, known, near, beside)
            sides_far = _profile(image, known, far, -beside)
            if sides_near is None or sides_far is None:
                continue
            if not (np.abs(sides_near - sides_far).max(1) < _SIDE_AGREE).any():
                continue
            if _paint(image, known, out, painted, hole, near, far, far.end, offsets):
                lines.append(Line(near.end, far.end))
    through = list(lines)
    for near in segments:
        meeting = _meeting(near, through)
        if meeting is None or any(_same(line, near.end, meeting) for line in lines):
            continue
        if not _gap_open(hole, known, near.end, meeting):
            continue
        # The line it ends on stays whole: the edge is painted up to it, not over it.
        if _paint(image, known, out, painted, hole & ~painted, near, None, meeting, _across(near.width / 2)):
            lines.append(Line(near.end, meeting))
    return out, painted, lines


def _gap_open(hole: np.ndarray, known: np.ndarray, start: np.ndarray, end: np.ndarray) -> bool:
    """Whether the straight gap from ``start`` to ``end`` crosses the hole and is at most ``_GAP_SEEN`` known (else
    the line would show there)."""
    gap = _pixels(_between(start, end), hole.shape)
    return bool(hole[gap].any()) and known[gap].mean() <= _GAP_SEEN


def _across(half: float) -> np.ndarray:
    """The offsets across a line ``half`` its width each way, and a pixel more on each side, where it is painted."""
    return np.arange(-np.ceil(half + 1), np.ceil(half + 1) + 1)


def _meeting(segment: _Segment, lines: list[Line]) -> np.ndarray | None:
    """Where ``segment``, carried on past its end by at most its own length, first meets one of the ``lines``
    carried through the hole at least ``_T_ANGLE`` steeply (within that line's span), or ``None``: a wall's edge
    that goes down into the hole ends on the horizon carried through it (a T junction), where else it would be
    left to the search. The bound on the length keeps the side of a window whose bottom the hole hides from
    being drawn down the wall to the ground."""
    best: np.ndarray | None = None
    reach = float(np.linalg.norm(segment.end - segment.start))
    for line in lines:
        if abs(float(segment.direction @ line.normal)) < np.sin(_T_ANGLE):
            continue
        # Solve end + t * direction = start + u * (line's end - start): t the distance past the segment's end,
        # u the share of the way along the line.
        matrix = np.array([segment.direction, line.start - line.end]).T
        t, u = np.linalg.solve(matrix, line.start - segment.end)
        if 0.0 < t < reach and 0.0 <= u <= 1.0:
            best, reach = segment.end + t * segment.direction, t
    return best


def _same(line: Line, start: np.ndarray, end: np.ndarray) -> bool:
    """Whether the gap from ``start`` to ``end`` lies on ``line`` and mostly across the same stretch of the hole:
    the same line found again in another channel, from its other end or from another piece of a segment."""
    distance, _ = line.place(np.array([start[0], end[0]]), np.array([start[1], end[1]]))
    if np.abs(distance).max() > _OFFSET:
        return False
    step = line.end - line.start
    along = sorted(float((point - line.start) @ step / (step @ step)) for point in (start, end))
    overlap = min(along[1], 1.0) - max(along[0], 0.0)
    return overlap > 0.5 * max(along[1] - along[0], 1.0)


def _paint(
    image: np.ndarray,
    known: np.ndarray,
    out: np.ndarray,
    painted: np.ndarray,
    hole: np.ndarray,
    near: _Segment,
    far: _Segment | None,
    end: np.ndarray,
    offsets: np.ndarray,
) -> bool:
    """Paint the hole pixels within the profile's ``offsets`` of the line from ``near.end`` to ``end`` (``far.end``,
    or with no ``far`` segment the point where the line stops); whether any were. Each takes the mean profile at its
    distance across the line (the two ends' blended by where along the gap it lies; with no far end, the near
    one's) plus the grain of the nearer end: its own pixel there, read as far back along that segment as the
    painted pixel is from its end, minus that segment's mean (where that pixel is known)."""
    near_profile = _profile(image, known, near, offsets)
    far_profile = near_profile if far is None else _profile(image, known, far, -offsets)
    if near_profile is None or far_profile is None:
        return False
    gap = end - near.end
    length = float(np.linalg.norm(gap))
    reach = int(np.ceil(abs(offsets).max())) + 1
    corners = np.array([near.end, end])
    height, width = hole.shape
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - reach, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + reach + 1, (width, height))
    if x0 >= x1 or y0 >= y1:
        return False
    ys, xs = np.mgrid[y0:y1, x0:x1]
    relative = np.stack([xs - near.end[0], ys - near.end[1]], -1).astype(np.float32)
    normal = _normal(near.end, end)
    along = relative @ (gap / length) / length
    across = relative @ normal
    inside = hole[y0:y1, x0:x1] & (along >= 0) & (along <= 1) & (np.abs(across) <= offsets.max())
    if not inside.any():
        return False
    t, position = along[inside], np.interp(across[inside], offsets, np.arange(offsets.size))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, offsets.size - 1)
    share = (position - low)[:, None]

    def read(profile: np.ndarray) -> np.ndarray:
        return profile[low] * (1 - share) + profile[high] * share

    means = [read(near_profile), read(far_profile)]
    colour = means[0] * (1 - t[:, None]) + means[1] * t[:, None]
    # Grain: the nearer end's pixel as far back along it as this one is past it, mirrored back and forth along
    # the segment when the gap is longer.
    nearer_near = (t <= 0.5) | (far is None)
    for segment, sign, mine, mean in ((near, 1.0, nearer_near, means[0]), (far, -1.0, ~nearer_near, means[1])):
        if segment is None or not mine.any():
            continue
        distance = (t[mine] if sign > 0 else 1 - t[mine]) * length
        span = max(float(np.linalg.norm(segment.end - segment.start)), 1.0)
        back = span - np.abs(np.mod(distance, 2 * span) - span)
        point = segment.end - back[:, None] * segment.direction + (sign * across[inside][mine])[:, None] * segment.normal
        source = _pixels(point, hole.shape)
        colour[mine] += np.where(known[source][:, None], image[source].astype(np.float32) - mean[mine], 0.0)
    region = out[y0:y1, x0:x1]
    region[inside] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
    painted[y0:y1, x0:x1] |= inside
    return True
