"""Exemplar-based inpainting: multi-scale PatchMatch completion (Wexler et al. 2007, Barnes et al. 2009).

What no frame of a clip ever saw has to be invented. Diffusion inpainting (``cv2.inpaint``) smears the
border's colours inwards: a smooth, blurred blob, or radial wedges where the border is textured. Exemplar
inpainting copies whole patches of the picture's own texture instead, so the fill is as sharp as its
surroundings. The search is PatchMatch's (random candidates, then each pixel tries its neighbours'
matches), run for every pixel at once, so it is a handful of tensor operations per step and runs on a GPU
as well as a CPU.

Coarse to fine over an image pyramid: the coarsest level starts from an onion-peel fill (the hole grown
from its border, each pixel the centre of the best-matching known patch), which lays out the scene's
structure (a roof line, a trunk) through the hole; at each level the hole is refined by alternating a
nearest-neighbour-field search (every patch touching the hole finds the most similar patch lying wholly in
the known region) with a vote (every hole pixel becomes the weighted
mean of what the matched patches covering it say it is); the field is carried to the next level. At full
size each vote takes, for each pixel, the best-matching patch's pixel instead of a mean: a mean of patches
that disagree by a pixel or two is blurred, and the next search would then prefer the smoothest sources
(full-size best-patch votes raised the fill's sharpness on the synthetic suite's plates from 0.61 to 0.69).
Every match pays for its distance from the pixel it fills, rows more than columns: what is behind a
person is likelier to look like what is beside them than what is above or below them.

Last, near the border the copy's coarse colour is replaced by the membrane's (the smoothest interpolation
of the hole's border), keeping only its detail: texture synthesis on a structure layer, as Bertalmio et
al. (2003) split them. A wrongly chosen patch there brings the wrong texture but not a wrong-coloured blob.

A hole in parts far apart is filled part by part, each in a box around itself (:func:`_clusters`). Before
any of it, straight lines that the picture shows on both sides of the hole are carried through it
(:mod:`vmat.editing.lines`): at the coarsest level a kerb is under a pixel, and the layout would break it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.nn.functional import avg_pool2d, interpolate, max_pool2d, pad

from vmat.editing.blending import poisson_membrane
from vmat.editing.lines import Line, continue_lines
from vmat.geometry import bounding_box
from vmat.layers.errors import LayerError


@dataclass(frozen=True)
class InpaintConfig:
    """Settings for :func:`inpaint`."""

    patch: int = 7
    """Patch side in pixels (odd)."""
    coarsest: int = 24
    """The pyramid stops before the region's shorter side drops below this many pixels."""
    context: float = 1.0
    """Source patches come from the hole's box grown by this multiple of its longer side (and at least
    four patches) on every side: nearby texture is the likeliest match and the search stays bounded. Parts
    of the hole whose grown boxes do not meet are searched each in its own box (:func:`_clusters`)."""
    coarse_steps: int = 8
    """Search + vote rounds at the coarsest level; each finer level does one fewer, down to ``fine_steps``."""
    fine_steps: int = 3
    search_steps: int = 1
    """PatchMatch rounds (propagation + random search) per search."""
    structure_sigma: float = 6.0
    """Gaussian scale (pixels) below which the fill keeps the copied texture and above which it takes the
    membrane (the smoothest interpolation of the hole's border); 0 keeps the copy as it is."""
    structure_reach: float | None = 24.0
    """How far into the hole (pixels) the membrane's colour holds: its weight is ``exp(-distance /
    structure_reach)``; ``None``: all the way. Near the border it corrects a patch of the wrong colour.
    Deep in a wide hole the membrane scores better (0.1-1.7 dB of never-seen PSNR on five of six test
    clips: a copied patch's coarse colour misses an unknowable truth by about twice the surroundings'
    variance, an interpolation by about once), but it looks worse: across the still juggler's whole
    column it washed the facade, trunk and soil the search had continued into a haze of the border's
    colours (``vmat run`` on the juggle clip, frame 16), so the default fades it."""
    fine_reach: float = 16.0
    """Farthest random-search jump, in pixels, below the coarsest level."""
    row_cost: float = 0.5
    column_cost: float = 0.1
    """A source patch ``dy`` rows and ``dx`` columns away from the pixel it fills costs as if each of its
    values differed by ``row_cost * dy / height`` and ``column_cost * dx / width`` more (in quadrature;
    colours in 0..1): ground behind a person is likelier to look like the ground beside them, at the
    same height in the picture, than like what is far above or below (a lawn does not go on above the
    roof line), so layers of the scene carry on through the hole instead of one texture filling it."""
    lines: bool = True
    """Carry straight lines that the picture shows entering the hole and leaving it on the far side (a kerb
    under a foot) through it before the search (:mod:`vmat.editing.lines`)."""
    seed: int = 0


@dataclass
class _Level:
    """One pyramid level of the working region: its picture, which pixels are to be synthesised, and the
    lines carried through the hole (:class:`_Sides`)."""

    image: torch.Tensor  # (3, h, w) float
    unknown: torch.Tensor  # (h, w) bool
    sides: _Sides | None = None


@dataclass
class _Sides:
    """Per line carried through the hole (:func:`~vmat.editing.lines.continue_lines`) and per flat pixel of a
    level: which side of the line it lies on, ``side``, whether its patch stays clear of the line, ``clear``,
    and whether it lies across the hole from the line, ``bound`` (each ``(L, h * w)`` bool). A bound target
    copies only from its own side, and a target whose patch is clear of the line only from a patch clear of
    it: else the patch would bring what lies across the line (the ground above a horizon)."""

    side: torch.Tensor
    clear: torch.Tensor
    bound: torch.Tensor

    @classmethod
    def of(cls, lines: Sequence[Line], shape: tuple[int, int], scale: float, radius: int, device: torch.device) -> _Sides | None:
        """The sides on a level ``scale`` times smaller than the picture the lines are in (patches ``radius``
        level pixels from their centre), or ``None`` for no line."""
        if not lines:
            return None
        ys, xs = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
        # A level pixel's centre in the full picture's pixel coordinates.
        xs, ys = (xs + 0.5) * scale - 0.5, (ys + 0.5) * scale - 0.5
        found = [line.place(xs.reshape(-1), ys.reshape(-1)) for line in lines]
        distance = np.stack([d for d, _ in found]) / scale

        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(values).to(device)

        return cls(tensor(distance > 0), tensor(np.abs(distance) > radius), tensor(np.stack([b for _, b in found])))


def _downsample(level: _Level) -> _Level:
    """Half size; a coarse pixel is known only when all four fine pixels are (hole colours never leak)."""
    known = (~level.unknown).float()[None, None]
    weight = avg_pool2d(known, 2, ceil_mode=True)
    colour = avg_pool2d(level.image[None] * known, 2, ceil_mode=True) / weight.clamp_min(1e-6)
    return _Level(colour[0], weight[0, 0] < 1.0)


class _Patches:
    """The patches of a ``(3, h, w)`` picture, indexed by flat pixel position: ``patches[positions]`` is
    ``(n, 3 * patch**2)`` (channel, then row, then column, as ``unfold`` lays them out).

    Gathered on demand rather than unfolded into an ``(h * w, 3 * patch**2)`` table: the search only ever
    reads the targets' patches and its candidates', and the table of a 720p plate took half a gigabyte.
    """

    def __init__(self, image: torch.Tensor, patch: int) -> None:
        radius = patch // 2
        _, height, width = image.shape
        self.patch, self.width, self.padded_width = patch, width, width + 2 * radius
        self.flat = pad(image[None], (radius,) * 4, mode="replicate")[0].reshape(3, -1)
        rows, cols = torch.meshgrid(torch.arange(patch), torch.arange(patch), indexing="ij")
        self.offsets = (rows * self.padded_width + cols).flatten().to(image.device)
        self.rows: np.ndarray | None = None
        if self.flat.device.type == "cpu":
            # On a CPU a patch is gathered as its 3 * patch rows of patch contiguous values, each row one
            # item of a bytes type (a row starts at every value: the items overlap) that numpy copies whole:
            # twice as fast as the same rows indexed in a 2-d view (numpy's cost is per item), which were
            # 2-3 times faster than torch's element-by-element gather; the same values in the same order
            # (channel, row, column).
            values = self.flat.contiguous().numpy().reshape(-1)
            self.dtype = values.dtype
            self.rows = np.ndarray(
                (values.size - patch + 1,), np.dtype((np.void, patch * values.itemsize)), values, strides=(values.itemsize,)
            )
            starts = np.arange(3)[:, None] * self.flat.shape[1] + np.arange(patch)[None] * self.padded_width
            self.row_starts = starts.reshape(-1)
        self.channel_sums: np.ndarray | None = None  # per padded pixel, its patch's (see sums)

    def corner(self, positions: torch.Tensor) -> torch.Tensor:
        """The flat positions in the padded picture where the patches centred on ``positions`` start: a patch
        centred on (y, x) starts at (y, x) of the padded picture."""
        return (positions // self.width) * self.padded_width + positions % self.width

    def sums(self, positions: torch.Tensor) -> np.ndarray | None:
        """``(n, 3)`` float32, on a CPU: the sum of each channel of the patches at ``positions`` (``None``
        elsewhere), off by less than 3e-6: OpenCV's box filter sums float32 values in float64 (off by less
        than 1e-9 for values in 0..1) and rounds the sums to float32 once."""
        if self.rows is None:
            return None
        if self.channel_sums is None:
            planes = list(self.flat.numpy().reshape(3, -1, self.padded_width))
            window = (self.patch, self.patch)
            sums = cv2.boxFilter(cv2.merge(planes), cv2.CV_32F, window, anchor=(0, 0), normalize=False)
            self.channel_sums = sums.reshape(-1, 3)
        return self.channel_sums[self.corner(positions).numpy()]

    def __getitem__(self, positions: torch.Tensor) -> torch.Tensor:
        corner = self.corner(positions)
        if self.rows is not None:
            rows = self.rows[(corner.numpy()[:, None] + self.row_starts).reshape(-1)]
            return torch.from_numpy(rows.view(self.dtype).reshape(positions.numel(), 3 * self.patch**2))
        values = self.flat[:, corner[:, None] + self.offsets]
        return values.permute(1, 0, 2).reshape(positions.numel(), -1)


# A source on the other side of a line carried through the hole than its target costs as if every value of its
# patch differed by this much (colours in 0..1: the whole range, so only a target with no source on its own side
# takes one).
_ACROSS_A_LINE = 1.0


class _OffsetCost:
    """The cost of copying from far away (see :attr:`InpaintConfig.row_cost`), for flat positions on an
    ``(h, w)`` grid, per patch of ``values`` numbers."""

    def __init__(self, shape: tuple[int, int], values: int, config: InpaintConfig, sides: _Sides | None = None) -> None:
        height, width = shape
        self.width = width
        self.row = values * (config.row_cost / height) ** 2
        self.column = values * (config.column_cost / width) ** 2
        self.sides = sides
        self.across = values * _ACROSS_A_LINE

    def __call__(self, targets: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        """Pairwise when ``targets`` is ``(n, 1)`` and ``sources`` ``(1, m)``, else elementwise."""
        dy = (targets // self.width - sources // self.width).float()
        dx = (targets % self.width - sources % self.width).float()
        cost = self.row * dy.square() + self.column * dx.square()
        if self.sides is not None:
            side, clear, bound = self.sides.side, self.sides.clear, self.sides.bound
            crossed = ((side[:, targets] != side[:, sources]) | (clear[:, targets] & ~clear[:, sources])) & bound[:, targets]
            cost = cost + self.across * crossed.sum(0)
        return cost


def _peeled_fill(level: _Level, patch: int, sources: torch.Tensor, cost: _OffsetCost) -> torch.Tensor:
    """The coarsest level's starting guess ``(3, h, w)``: the hole filled from its border inwards, a ring of
    pixels at a time, each pixel taking the centre of the known patch that best matches what is already
    there around it (Efros and Leung 1999, onion-peel order).

    A diffusion start is a smear that the search then matches to the smoothest texture around (a column of
    lawn through a building); grown from the border, the roof line, a wall's edge or a trunk go on into
    the hole, and the searches that follow refine that layout instead of inventing one.
    """
    image = level.image.contiguous().clone()  # written through flat views below
    height, width = level.unknown.shape
    unknown = level.unknown.clone()
    catalogue = _Patches(image, patch)
    known_patches = catalogue[sources]
    known_energy = known_patches.square().T.contiguous()
    centre = image.reshape(3, -1)[:, sources]
    channels = 3
    while unknown.any():
        filled = (~unknown).float()
        ring = unknown & (max_pool2d(filled[None, None], 3, 1, 1)[0, 0] > 0)
        if not ring.any():  # nothing known touches what is left (cannot happen after the first ring)
            break
        targets = torch.nonzero(ring.flatten()).flatten()
        values = _Patches(image, patch)[targets]
        mask = _Patches(filled[None].expand(channels, height, width), patch)[targets]
        chunk = max(1, 4_000_000 // max(1, sources.numel()))
        for start in range(0, targets.numel(), chunk):
            part = slice(start, start + chunk)
            weighted = mask[part] * values[part]
            # Masked sum of squared differences, expanded so that it is two matrix products.
            distance = mask[part] @ known_energy - 2 * weighted @ known_patches.T + cost(targets[part, None], sources[None])
            best = distance.argmin(1)
            image.reshape(3, -1)[:, targets[part]] = centre[:, best]
        unknown &= ~ring
    return image


def _touching(unknown: torch.Tensor, patch: int) -> torch.Tensor:
    """``(h, w)`` bool: the pixels whose patch holds an ``unknown`` pixel."""
    if unknown.device.type == "cpu":
        # cv2's dilation (the picture's edge adds nothing) is several times faster than max pooling on a CPU.
        return torch.from_numpy(cv2.dilate(unknown.numpy().astype(np.uint8), np.ones((patch, patch), np.uint8)) > 0)
    return max_pool2d(unknown[None, None].float(), patch, 1, patch // 2)[0, 0] > 0


class _Field:
    """A nearest-neighbour field over the target pixels (those whose patch touches the unknown region).

    Positions are flat indices into the level's ``h * w`` grid. ``source`` holds, per target, the centre of
    its matched patch, which always lies wholly inside the known region.
    """

    def __init__(self, level: _Level, patch: int, generator: torch.Generator, config: InpaintConfig) -> None:
        self.level, self.patch, self.generator, self.config = level, patch, generator, config
        height, width = level.unknown.shape
        self.cost = _OffsetCost((height, width), 3 * patch * patch, config, level.sides)
        self.height, self.width = height, width
        radius = patch // 2
        touching = _touching(level.unknown, patch)
        # A source patch must lie inside the picture and in the known region.
        inside = torch.zeros_like(level.unknown)
        inside[radius : height - radius, radius : width - radius] = True
        self.valid = (inside & ~touching).flatten()
        self.sources = torch.nonzero(self.valid).flatten()
        if self.sources.numel() == 0:
            raise LayerError("Too little known picture around the hole to inpaint it from.")
        self.targets = torch.nonzero(touching.flatten()).flatten()
        self.index = torch.full((height * width,), -1, dtype=torch.long, device=level.unknown.device)
        self.index[self.targets] = torch.arange(self.targets.numel(), device=self.targets.device)
        picks = torch.randint(self.sources.numel(), (self.targets.numel(),), generator=generator, device="cpu")
        self.source = self.sources[picks.to(self.sources.device)]
        self.distance = torch.empty(0)
        self.target_features = torch.empty(0)
        self.target_sums: np.ndarray | None = None  # the targets' patches' channel sums (see consider)
        self.to_known: torch.Tensor | None = None  # the targets' distances to the known region (see vote)

    def patches(self) -> _Patches:
        """Every pixel's patch, gathered when asked for (edges padded by replication)."""
        return _Patches(self.level.image, self.patch)

    def score(self, features: _Patches, candidates: torch.Tensor) -> torch.Tensor:
        """Sum of squared differences between each target's patch and its candidate's (inf when invalid)."""
        safe = candidates.clamp(0, self.valid.numel() - 1)
        # The candidate's patch minus the target's, in place: the same squares as target minus candidate.
        distance = features[safe].sub_(self.target_features).square_().sum(1) + self.cost(self.targets, safe)
        return torch.where(self.valid[safe] & (candidates >= 0), distance, torch.inf)

    def consider(self, features: _Patches, candidates: torch.Tensor) -> None:
        """Move each target to its candidate where that matches strictly better. Only usable candidates that
        differ from the current match can win, so only those are scored: once the field is coherent most
        proposals are the match itself, and gathering their patches was most of the search's time. Of those,
        candidates whose patches' channel sums rule out a better match are not scored either."""
        safe = candidates.clamp(0, self.valid.numel() - 1)
        fresh = torch.nonzero((candidates >= 0) & self.valid[safe] & (candidates != self.source)).flatten()
        if fresh.numel() == 0:
            return
        proposed = candidates[fresh]
        cost, current = self.cost(self.targets[fresh], proposed), self.distance[fresh]
        sums = None if self.target_sums is None else features.sums(proposed)
        if sums is not None and self.target_sums is not None:
            # Nor can a candidate whose patch's channel sums differ too much from the target's. By
            # Cauchy-Schwarz a patch difference's squares sum to at least each channel's summed difference
            # squared over the patch's area (less 1e-5 for the sums' rounding: a bound below the exact sum
            # of squares); float32 sums the 3 * patch**2 rounded squares of rounded differences, and the
            # cost, to at least 1 - 1e-5 times the exact sum (2**-24 a rounding, 148 roundings at most for
            # a 7 x 7 patch; squares below 1e-38 underflow by less than the 1e-30 given), so a candidate whose
            # bound plus cost is over 1.0001 times the current distance would not be strictly better.
            # Gathering 3 numbers a candidate instead of 3 * patch**2 skips a third to a half of them at
            # full size.
            gap = np.abs(np.subtract(sums, self.target_sums[fresh.numpy()], dtype=np.float64)) - 1e-5
            gap = np.maximum(gap, 0.0)
            bound = np.square(gap).sum(1) / self.patch**2 + cost.double().numpy()
            hopeful = torch.from_numpy(np.flatnonzero(0.9999 * bound - 1e-30 < current.double().numpy()))
            fresh, proposed, cost, current = (values.index_select(0, hopeful) for values in (fresh, proposed, cost, current))
        difference = features[proposed].sub_(self.target_features.index_select(0, fresh))
        distance = difference.square_().sum(1) + cost
        better = distance < current
        winners = fresh[better]
        self.source[winners] = proposed[better]
        self.distance[winners] = distance[better]

    def search(self, features: _Patches, rounds: int, reach: float) -> None:
        """PatchMatch, every target at once: neighbours' matches shifted back, then random search from
        ``reach`` pixels away down to one."""
        self.target_features = features[self.targets]
        self.target_sums = features.sums(self.targets)
        self.distance = self.score(features, self.source)
        ys, xs = self.targets // self.width, self.targets % self.width
        for _ in range(rounds):
            for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                ny, nx = ys + dy, xs + dx
                inside = (ny >= 0) & (ny < self.height) & (nx >= 0) & (nx < self.width)
                neighbour = self.index[(ny.clamp(0, self.height - 1) * self.width + nx.clamp(0, self.width - 1))]
                has = inside & (neighbour >= 0)
                matched = self.source[neighbour.clamp_min(0)]
                sy, sx = matched // self.width - dy, matched % self.width - dx
                ok = has & (sy >= 0) & (sy < self.height) & (sx >= 0) & (sx < self.width)
                self.consider(features, torch.where(ok, sy * self.width + sx, -1))
            radius = reach
            sy0, sx0 = self.source // self.width, self.source % self.width
            while radius >= 1.0:
                jitter = (torch.rand((2, self.targets.numel()), generator=self.generator) * 2 - 1).to(self.source.device)
                sy = (sy0 + (jitter[0] * radius).round().long()).clamp(0, self.height - 1)
                sx = (sx0 + (jitter[1] * radius).round().long()).clamp(0, self.width - 1)
                self.consider(features, sy * self.width + sx)
                sy0, sx0 = self.source // self.width, self.source % self.width
                radius /= 2.0

    def vote(self, features: _Patches, *, best_only: bool) -> torch.Tensor:
        """``(3, h, w)`` what the matched patches say each pixel is: their weighted mean (Wexler's vote),
        or with ``best_only`` the pixel of the best-matching patch covering it."""
        radius = self.patch // 2
        # Patches nearer the known region are more trustworthy (Wexler's 1.3 ** -distance), and closer
        # matches more than poorer ones.
        if self.to_known is None:  # the level's unknown region is fixed: once per level, not per vote
            unknown = self.level.unknown.cpu().numpy().astype(np.uint8)
            to_known = torch.from_numpy(cv2.distanceTransform(unknown, cv2.DIST_L2, 3)).flatten().to(self.level.image.device)
            self.to_known = to_known[self.targets]
        spread = self.distance.median().clamp_min(1e-6)
        weight = torch.exp(-self.distance / (2 * spread)) * 1.3 ** (-self.to_known)
        source = features[self.source].view(-1, 3, self.patch, self.patch)
        size = (self.height + 2 * radius) * (self.width + 2 * radius)
        stride = self.width + 2 * radius
        offsets = [(ky, kx) for ky in range(self.patch) for kx in range(self.patch)]
        base = features.corner(self.targets)  # a patch pixel is base + ky * stride + kx
        if best_only:
            # Each pixel keeps the vote of its highest-weight covering patch: first the per-pixel maximum
            # over every offset, then the value of the patch that reached it.
            best = torch.full((size,), -1.0, device=self.level.image.device)
            for ky, kx in offsets:
                best.scatter_reduce_(0, base + (ky * stride + kx), weight, reduce="amax")
            colour = torch.zeros(size, 3, device=self.level.image.device)
            for ky, kx in offsets:
                position = base + (ky * stride + kx)
                winner = weight >= best[position]
                colour[position[winner]] = source[winner, :, ky, kx]
        else:
            colour = torch.zeros(size, 3, device=self.level.image.device)
            total = torch.zeros(size, device=self.level.image.device)
            for ky, kx in offsets:
                position = base + (ky * stride + kx)
                colour.index_add_(0, position, source[:, :, ky, kx] * weight[:, None])
                total.index_add_(0, position, weight)
            colour /= total.clamp_min(1e-12)[:, None]
        colour = colour.view(self.height + 2 * radius, stride, 3).permute(2, 0, 1)
        return colour[:, radius : radius + self.height, radius : radius + self.width]

    def upsampled(self, finer: _Level) -> _Field:
        """This field carried to the next finer level (twice the size): each fine target starts from its
        coarse pixel's match, offset by its position within that pixel; unusable starts stay random."""
        field = _Field(finer, self.patch, self.generator, self.config)
        ys, xs = field.targets // field.width, field.targets % field.width
        coarse = self.index[(ys // 2).clamp_max(self.height - 1) * self.width + (xs // 2).clamp_max(self.width - 1)]
        matched = self.source[coarse.clamp_min(0)]
        sy = (matched // self.width) * 2 + ys % 2
        sx = (matched % self.width) * 2 + xs % 2
        ok = (coarse >= 0) & (sy < field.height) & (sx < field.width)
        start = torch.where(ok, sy.clamp_max(field.height - 1) * field.width + sx.clamp_max(field.width - 1), field.source)
        field.source = torch.where(field.valid[start], start, field.source)
        return field


def _texture_on_structure(copied: np.ndarray, hole: np.ndarray, sigma: float, reach: float | None) -> np.ndarray:
    """The copy's detail (finer than ``sigma``) on the membrane's coarse colour.

    A copied patch is sharp but may bring the wrong colour (a patch of lawn where the wall went on); the
    membrane has the likeliest coarse colour but no detail. Their sum is nearly as sharp as the copy and,
    on the synthetic suite's plates, 1.2 dB closer to the truth (sharpness 0.67 against 0.69). With a
    ``reach`` the membrane's weight fades that many pixels into the hole (``None``: it holds everywhere).
    """
    membrane = poisson_membrane(copied, np.zeros_like(copied), hole)
    difference = np.where(hole[..., None], membrane.astype(np.float32) - copied, 0.0).astype(np.float32)
    coarse = cv2.GaussianBlur(difference, (0, 0), sigma)
    if reach is not None:
        depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
        coarse *= np.exp(-depth / reach)[..., None]
    result = copied.astype(np.float32) + np.where(hole[..., None], coarse, 0.0)
    return np.clip(result + 0.5, 0, 255).astype(np.uint8)


_Box = tuple[int, int, int, int]
"""``(top, left, bottom, right)``, ends exclusive."""


def _widened(box: _Box, margin: int, limit: _Box) -> _Box:
    """``box`` grown by ``margin`` pixels on every side and clipped to the box ``limit``."""
    top, left, bottom, right = box
    return (
        max(limit[0], top - margin),
        max(limit[1], left - margin),
        min(limit[2], bottom + margin),
        min(limit[3], right + margin),
    )


def _box_of(mask: np.ndarray) -> _Box:
    """The box of ``mask``'s true pixels (it must have some)."""
    rows, cols = bounding_box(mask)
    return rows.start, cols.start, rows.stop, cols.stop


def _grown(box: _Box, limit: _Box, config: InpaintConfig) -> _Box:
    """``box`` grown by :attr:`InpaintConfig.context` times its longer side (and at least four patches) and
    clipped to ``limit``: the box a part of the hole is searched in."""
    top, left, bottom, right = box
    return _widened(box, max(4 * config.patch, int(config.context * max(bottom - top, right - left))), limit)


def _thin_pieces(hole: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: the hole's 8-connected pieces at most two pixels wide (no 3 x 3 square fits in them).

    Wider pieces are searched: a 5-pixel strip across bricks given its nearest colour drags the mortar
    lines into steps (42.9 levels off against 10.1 searched)."""
    count, components = cv2.connectedComponents(hole.astype(np.uint8), connectivity=8)
    inner = cv2.erode(hole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    thick = np.zeros(count, bool)
    thick[components[inner]] = True
    return hole & ~thick[components]


def _nearest_known(image: np.ndarray, known: np.ndarray, where: np.ndarray, tile: int = 256) -> np.ndarray:
    """``(n, C)``: the colour of each ``where`` pixel's nearest ``known`` pixel (``where``'s pixels in raster
    order; ``known`` has at least one pixel), the pixel ``cv2.distanceTransformWithLabels`` (L2, 5 x 5
    mask) picks over the whole picture.

    The transform runs in a box around the ``where`` pixels of each ``tile`` x ``tile`` tile, grown until it
    holds every pixel as near to each of them as the distance it finds: a moving camera's plate is a canvas
    up to 3x the frame each way, and only its hole's thin lines need a colour.

    Why a box gives the whole picture's answer: the transform (OpenCV's distanceTransformEx_5x5) is two
    chamfer passes, each pixel taking the least of its mask neighbours' values plus the step's cost (the
    first strictly smaller in a fixed order, with its label); pixels past the picture's edge count as
    unreachable, and in a box so do those past the box's, so no value in a box is below the whole
    picture's. A pixel's value and label are decided by the neighbours whose value plus step equals it
    (larger candidates lose in the box too), and theirs in turn, back to a known pixel: a chain whose steps
    cost at least the pixels they move (1 for 1 straight, 1.4 for 1 diagonal, 2.1969 for 2 as a knight), so
    it stays within the pixel's distance d of it (Chebyshev). A box holding all pixels within d of it
    (d in the box, at least the whole picture's) decides it as the whole picture does, by induction along
    each pass.
    """
    height, width = known.shape
    ys, xs = np.nonzero(where)
    colours = np.empty((ys.size, image.shape[2]), image.dtype)
    if ys.size == 0:  # np.split would still give one (empty) tile
        return colours
    keys = (ys // tile) * (width // tile + 1) + xs // tile
    order = np.argsort(keys, kind="stable")
    for group in np.split(order, np.flatnonzero(np.diff(keys[order])) + 1):
        gy, gx = ys[group], xs[group]
        box = _widened((int(gy.min()), int(gx.min()), int(gy.max()) + 1, int(gx.max()) + 1), 4, (0, 0, *known.shape[:2]))
        while True:
            top, left, bottom, right = box
            inside = known[top:bottom, left:right]
            distance, labels = cv2.distanceTransformWithLabels(
                (~inside).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
            )
            # Every pixel within the distance found (rounded up, plus one for the float's rounding).
            reach = np.ceil(distance[gy - top, gx - left]).astype(np.int64) + 1
            needed = (
                max(0, int((gy - reach).min())),
                max(0, int((gx - reach).min())),
                min(height, int((gy + reach).max()) + 1),
                min(width, int((gx + reach).max()) + 1),
            )
            if needed[0] >= top and needed[1] >= left and needed[2] <= bottom and needed[3] <= right:
                break
            # A larger box finds distances no larger: one more pass at most.
            box = (min(top, needed[0]), min(left, needed[1]), max(bottom, needed[2]), max(right, needed[3]))
        # With DIST_LABEL_PIXEL the known (zero) pixels are labelled 1, 2, ... in raster order.
        known_ys, known_xs = np.nonzero(inside)
        nearest = labels[gy - top, gx - left] - 1
        colours[group] = image[top + known_ys[nearest], left + known_xs[nearest]]
    return colours


def _clusters(
    hole: np.ndarray, config: InpaintConfig, picture: _Box | None = None
) -> tuple[np.ndarray, list[tuple[np.ndarray, tuple[slice, slice]]]]:
    """The hole's parts that are searched together, each with its working box (within ``picture``, a box
    holding the hole; ``None``: the whole image), ordered by box.

    A part is a set of the hole's connected components whose working boxes (:func:`_grown`) overlap or
    touch, merged until no two parts' boxes do: nearby pieces share one search, as one hole, while a speck
    far from a big hole is filled from its own surroundings and does not stretch the big hole's box over
    the picture. Returns the ``(H, W)`` int32 labels of the hole's 8-connected components (0 outside it)
    and per part the labels that make it and its box as row and column slices.
    """
    limit = (0, 0, *hole.shape[:2]) if picture is None else picture
    count, components, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    left, top = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
    members = [[label] for label in range(1, count)]
    boxes = [
        (int(t), int(lf), int(t + h), int(lf + w))
        for t, lf, h, w in zip(top, left, stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH])
    ]
    while True:
        grown = [_grown(box, limit, config) for box in boxes]
        painted = np.zeros(hole.shape, np.uint8)
        for t, lf, b, r in grown:
            painted[t:b, lf:r] = 1
        _, regions = cv2.connectedComponents(painted, connectivity=4)
        merged: dict[int, tuple[list[int], tuple[int, int, int, int]]] = {}
        for labels, box, (t, lf, _, _) in zip(members, boxes, grown):
            key = int(regions[t, lf])
            if key in merged:
                joined, (t0, l0, b0, r0) = merged[key]
                merged[key] = (joined + labels, (min(t0, box[0]), min(l0, box[1]), max(b0, box[2]), max(r0, box[3])))
            else:
                merged[key] = (labels, box)
        if len(merged) == len(members):
            break
        members = [labels for labels, _ in merged.values()]
        boxes = [box for _, box in merged.values()]
    parts = sorted((_grown(box, limit, config), labels) for labels, box in zip(members, boxes))
    return components, [(np.array(labels), (slice(t, b), slice(lf, r))) for (t, lf, b, r), labels in parts]


def _fill_part(
    image: np.ndarray, known: np.ndarray, config: InpaintConfig, device: torch.device, lines: Sequence[Line] = ()
) -> np.ndarray:
    """``(h, w, 3)`` uint8: the working box ``image`` with every pixel not ``known`` synthesised (``known``
    excludes the hole; only the hole's pixels are kept by :func:`inpaint`)."""
    crop = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1).float() / 255.0
    levels = [_Level(crop, torch.from_numpy(~known).to(device))]
    while min(levels[-1].unknown.shape) // 2 >= max(config.coarsest, 2 * config.patch):
        levels.append(_downsample(levels[-1]))
    for depth, level in enumerate(levels):
        height, width = level.unknown.shape
        level.sides = _Sides.of(lines, (height, width), 2.0**depth, config.patch // 2, device)
    # Every part starts from the same seed: its fill depends only on the picture around it, not on the
    # other parts or on the order they are filled in.
    generator = torch.Generator().manual_seed(config.seed)
    current = levels[-1]
    field = _Field(current, config.patch, generator, config)
    current.image = _peeled_fill(current, config.patch, field.sources, field.cost)
    for depth in range(len(levels) - 1, -1, -1):
        level = levels[depth]
        if level is not current:
            guess = interpolate(current.image[None], size=level.unknown.shape, mode="bilinear", align_corners=False)[0]
            level.image = torch.where(level.unknown, guess, level.image)
            field = field.upsampled(level)
            current = level
        steps = max(config.fine_steps, config.coarse_steps - (len(levels) - 1 - depth))
        for _ in range(steps):
            features = field.patches()
            # The coarsest level searches the whole region; finer levels refine the match they inherit.
            reach = float(max(level.unknown.shape)) if depth == len(levels) - 1 else config.fine_reach
            field.search(features, config.search_steps, reach)
            level.image = torch.where(level.unknown, field.vote(features, best_only=depth == 0), level.image)
    filled = (current.image.permute(1, 2, 0) * 255).round().clamp(0, 255).byte().cpu().numpy()
    if config.structure_sigma > 0:
        filled = _texture_on_structure(filled, ~known, config.structure_sigma, config.structure_reach)
    return filled


def inpaint(
    image: np.ndarray,
    hole: np.ndarray,
    known: np.ndarray | None = None,
    config: InpaintConfig = InpaintConfig(),
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Fill ``hole`` with texture copied from the rest of the image.

    The hole's far-apart parts are filled separately, each from a box around itself (:func:`_clusters`);
    a part's fill is what inpainting that part alone gives.

    Args:
        image: ``(H, W, 3)`` uint8.
        hole: ``(H, W)`` bool, the pixels to synthesise.
        known: ``(H, W)`` bool, pixels whose colour may be copied (default: all outside ``hole``); pixels
            neither known nor in the hole are neither copied nor kept (e.g. canvas no frame covered).
        config: search settings.
        device: where the search runs (default CPU).

    Returns:
        ``(H, W, 3)`` uint8: ``image`` with the hole filled; every other pixel unchanged.
    """
    if config.patch < 3 or config.patch % 2 == 0:
        raise LayerError(f"The inpainting patch must be an odd size of 3 or more, got {config.patch}.")
    hole = hole.astype(bool)
    if not hole.any():
        return image.copy()
    known = ~hole if known is None else known.astype(bool) & ~hole
    device = torch.device(device or "cpu")
    out = image.copy()
    thin = _thin_pieces(hole)
    if thin.any() and known.any():
        # A line a pixel or two wide has no texture to copy into it: it takes the nearest known colour. Left
        # in, such lines (a pan's frame edges on the plate's canvas) stretch one part over the picture.
        out[thin] = _nearest_known(image, known, thin)
        hole = hole & ~thin
        if not hole.any():
            return out
    lines: list[Line] = []
    if config.lines and known.any():
        out, painted, lines = continue_lines(out, hole, known)
        hole, known = hole & ~painted, known | painted
        if not hole.any():
            return out
        image = out.copy()
    # A part's box never reaches past the picture that is known or to be filled: the rest (a moving
    # camera's plate canvas, where no frame landed, three quarters of it on a hand-held clip) would be
    # synthesised with the hole, costing most of the time and blurring the hole's fill through the pyramid,
    # and would join parts whose boxes meet only there.
    picture = _box_of(known | hole)
    labels, parts = _clusters(hole, config, picture)
    for members, (rows, cols) in parts:
        box = (rows.start, cols.start, rows.stop, cols.stop)
        while True:
            rows, cols = slice(box[0], box[2]), slice(box[1], box[3])
            try:
                here = [line.shifted(-cols.start, -rows.start) for line in lines]
                filled = _fill_part(image[rows, cols], known[rows, cols], config, device, here)
                break
            except LayerError:
                # Too little known picture in the part's box: search a wider one, up to the whole picture.
                if box == picture:
                    raise
                box = _widened(box, max(box[2] - box[0], box[3] - box[1]), picture)
        part = np.isin(labels[rows, cols], members)
        region = out[rows, cols]
        region[part] = filled[part]
    return out
