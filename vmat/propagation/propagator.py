"""Mask propagators: carry an id mask from one frame to the next, with explicit, bounded state.

:class:`MaskPropagator` is the interface (``start`` on a prompted frame, then ``step`` per frame, in
either time direction); a neural model (XMem, Cutie) can implement it later. :class:`FlowPropagator` is
the weight-free implementation:

1. dense optical flow (OpenCV DIS) from the new frame back to the previous one, both ways, at reduced size;
2. the previous id mask, one-hot, is warped along it: a soft prior per instance;
3. where the flow is unreliable (forward-backward inconsistent: occlusion, disocclusion) and in a band
   around every boundary, the prior is blurred and multiplied by colour likelihoods from each instance's
   histogram, so colour decides what motion cannot;
4. the per-instance scores are snapped to image edges with a guided filter, and the arg-max is the mask;
5. specks are dropped; an instance whose area falls to (almost) nothing is *lost*, its histogram kept;
6. every few frames while someone is lost, regions whose colours fit a lost instance far better than the
   background (histogram back-projection) and are about its remembered size become proposals; they are
   matched to the lost instances by histogram distance with the Hungarian method, so a person who
   re-appears gets back their id. With ``pick_up_new`` (needs OpenCV's HOG people detector, absent from
   OpenCV 5) people the detector finds where no instance is, cut out by GrabCut, are proposals too, and
   the unmatched ones become new ids.

Work happens on a crop around the instances, on frames scaled to ``work_short_side``; only the final
arg-max is at full size. State is the previous frame (small grey), the id mask at working size and one
histogram per instance: it does not grow with the clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from vmat.errors import ConfigError
from vmat.propagation.appearance import bhattacharyya_distance, colour_codes, colour_histogram
from vmat.propagation.auto import PeopleFinderConfig, detect_people_hog, hog_available
from vmat.filters import grey_guided_filter
from vmat.propagation.flow import occlusion_mask, warp
from vmat.propagation.prompts import InstancePrompt, SegmentConfig, segment_instance
from vmat.propagation.registry import register_propagator


@dataclass
class LostInstance:
    """What is remembered about an instance while it is not visible."""

    histogram: np.ndarray
    area: float  # its recent typical size in pixels, before it disappeared
    frames_lost: int = 0


@dataclass
class PropagationState:
    """Everything a :class:`FlowPropagator` carries from one frame to the next."""

    small_grey: np.ndarray  # (h, w) uint8: the previous frame, grey, at flow resolution
    ids: np.ndarray  # (H, W) uint16: the previous id mask
    histograms: dict[int, np.ndarray]  # id -> (bins**3,) float32; id 0 is the background
    lost: dict[int, LostInstance] = field(default_factory=dict)
    # id -> recent size in pixels: a slowly decaying maximum, so an instance that shrinks behind an
    # occluder is remembered at its full size.
    areas: dict[int, float] = field(default_factory=dict)
    next_id: int = 1
    frames_since_detection: int = 0


StateT = TypeVar("StateT")


class MaskPropagator(Protocol[StateT]):
    """Carries an id mask through a clip one frame at a time (forwards or backwards alike).

    The state is whatever the implementation needs (``PropagationState`` here; a neural model's memory
    later); it is passed in and returned explicitly and must not grow with the clip.
    """

    def start(self, image: np.ndarray, ids: np.ndarray, state: StateT | None = None) -> StateT:
        """Begin (or re-begin after new prompts, keeping what ``state`` remembers) at an ``(H, W, 3)`` RGB
        uint8 frame with its ``(H, W)`` id mask."""
        ...

    def step(self, image: np.ndarray, state: StateT) -> tuple[np.ndarray, StateT]:
        """The ``(H, W)`` uint16 id mask of the next ``(H, W, 3)`` RGB uint8 frame, and the new state."""
        ...


def best_labels(scores: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """``labels[argmax]`` over ``scores`` (one ``(H, W)`` plane per label; the first of equal maxima wins, as in
    ``np.argmax``; no NaNs): ``(H, W)`` of ``labels``' dtype. A pass per label is faster than ``np.argmax``
    over a short axis, and skips building the index map."""
    ids = np.full(scores[0].shape, labels[0], labels.dtype)
    best = scores[0].copy()
    for score, label in zip(scores[1:], labels[1:]):
        better = score > best
        np.copyto(ids, label, where=better)
        np.maximum(best, score, out=best)
    return ids


@dataclass
class FlowPropagatorConfig:
    """Settings of :class:`FlowPropagator`; the defaults favour speed at 480p on a small CPU."""

    # Everything but the final arg-max works on frames scaled down so their shorter side is at most this
    # many pixels, for speed; the mask is still returned at full size, its edges interpolated.
    work_short_side: int = 240
    # Flow is computed on the working frame scaled by this factor (DIS on 427x240 takes a few ms).
    flow_scale: float = 1.0
    dis_preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST
    occlusion_tolerance: float = 1.0  # pixels at flow resolution
    # Half-width in working-size pixels of the band around boundaries where colour and edges may move them.
    band: int = 3
    histogram_bins: int = 16
    histogram_rate: float = 0.1  # how fast the appearance models follow the clip
    # How much the colour likelihood sharpens the blurred motion prior inside the band (0 = ignore colour).
    colour_weight: float = 1.0
    snap_radius: int = 2
    snap_eps: float = 1e-3
    # Connected pieces smaller than this fraction of an instance's largest piece are dropped as drift.
    fragment_fraction: float = 0.05
    # An instance below this fraction of the frame is lost (hidden); its appearance is kept.
    lost_fraction: float = 2e-4
    area_memory: float = 0.98  # per-frame decay of the remembered size
    redetect_every: int = 8
    pick_up_new: bool = False
    # A lost instance is looked for where its colours are this many times likelier than the background's,
    # in regions at least `reappear_area` times its remembered size.
    reappear_ratio: float = 4.0
    reappear_area: float = 0.3
    # Largest histogram distance (0-1) at which a proposal re-identifies a lost instance.
    reidentify_distance: float = 0.45
    # A proposal covered more than this by existing instances is one of them, not someone new.
    proposal_covered: float = 0.3
    people: PeopleFinderConfig = field(default_factory=PeopleFinderConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)


class FlowPropagator:
    """Weight-free propagation by optical-flow warping, colour models and edge snapping (see module doc)."""

    def __init__(self, config: FlowPropagatorConfig | None = None) -> None:
        self.config = config or FlowPropagatorConfig()
        if not 0 < self.config.flow_scale <= 1:
            raise ConfigError(f"flow_scale must be in (0, 1], not {self.config.flow_scale}.")
        if self.config.work_short_side < 16:
            raise ConfigError(f"work_short_side must be at least 16 pixels, not {self.config.work_short_side}.")
        if self.config.pick_up_new and not hog_available():
            raise ConfigError("picking up new people needs OpenCV's HOG people detector, which this OpenCV lacks.")
        self._flow = cv2.DISOpticalFlow.create(self.config.dis_preset)
        # The region of interest is found on a subsampled mask: exact enough, given its margin.
        self._stride = 4

    def start(self, image: np.ndarray, ids: np.ndarray, state: PropagationState | None = None) -> PropagationState:
        """Begin at an ``(H, W, 3)`` RGB frame with its ``(H, W)`` id mask; ``state`` keeps lost instances."""
        if ids.shape != image.shape[:2]:
            raise ConfigError(f"the id mask is {ids.shape[1]}x{ids.shape[0]}, the frame {image.shape[1]}x{image.shape[0]}.")
        work = self._to_work(image)
        ids = self._to_work(ids.astype(np.uint16), cv2.INTER_NEAREST)
        codes = colour_codes(work, self.config.histogram_bins)
        histograms = {} if state is None else dict(state.histograms)
        present = set(np.unique(ids).tolist()) | {0}
        for k in present:
            histograms[k] = colour_histogram(codes[ids == k], self.config.histogram_bins)
        lost = {} if state is None else {k: v for k, v in state.lost.items() if k not in present}
        next_id = max([max(present) + 1, 1] + ([state.next_id] if state else []) + [k + 1 for k in lost])
        counts = np.bincount(ids.reshape(-1))
        areas = {k: float(counts[k]) for k in present if k > 0}
        return PropagationState(self._small_grey(work), ids, histograms, lost, areas, next_id)

    def step(self, image: np.ndarray, state: PropagationState) -> tuple[np.ndarray, PropagationState]:
        """The ``(H, W)`` uint16 id mask of ``image`` (``(H, W, 3)`` RGB uint8) given the previous state."""
        cfg = self.config
        height, width = image.shape[:2]
        work = self._to_work(image)
        if state.ids.shape != work.shape[:2]:
            raise ConfigError("the frame size changed mid-clip.")
        small = self._small_grey(work)
        # flow=None lets OpenCV allocate the output; the stub wants an array there.
        backward = self._flow.calc(small, state.small_grey, None)  # type: ignore[call-overload]
        forward = self._flow.calc(state.small_grey, small, None)  # type: ignore[call-overload]
        instances = np.nonzero(np.bincount(state.ids.reshape(-1)))[0][1:].tolist()
        ids = np.zeros((height, width), np.uint16)
        crop_codes = None
        roi = self._region_of_interest(state.ids, backward, forward)
        if instances and roi is not None:
            ys, xs = roi
            # Everything below happens on the crop around the instances: the rest of the frame is background.
            small_ys = slice(int(ys.start * cfg.flow_scale), int(np.ceil(ys.stop * cfg.flow_scale)))
            small_xs = slice(int(xs.start * cfg.flow_scale), int(np.ceil(xs.stop * cfg.flow_scale)))
            occluded_small = occlusion_mask(backward, forward, cfg.occlusion_tolerance, region=(small_ys, small_xs))
            crop_backward = self._crop_flow(backward, small_ys, small_xs, ys, xs)
            occluded = (
                cv2.resize(occluded_small.astype(np.uint8), crop_backward.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
            )
            labels = [0] + instances
            prior = self._warped_prior(state.ids, labels, crop_backward, ys, xs)
            crop = np.ascontiguousarray(work[ys, xs])
            codes = colour_codes(crop, cfg.histogram_bins)
            scores = self._refine(crop, codes, prior, labels, occluded, state.histograms)
            # The arg-max is taken at full size on the interpolated scores, so edges are not blocky.
            scale = self._work_scale(image.shape)
            full_ys, full_xs = self._to_full(ys, scale, height), self._to_full(xs, scale, width)
            full_shape = (full_ys.stop - full_ys.start, full_xs.stop - full_xs.start)
            full_scores = self._resize_scores(scores, full_shape)
            best = best_labels([full_scores[..., i] for i in range(len(labels))], np.asarray(labels, np.uint16))
            ids[full_ys, full_xs] = self._drop_fragments(best, instances)
            crop_codes = (codes, roi)
        before = self._to_work(ids, cv2.INTER_NEAREST)
        # _update edits the mask it is given, and `before` must stay as it was for the comparison below.
        state = self._update(work, small, crop_codes, before.copy(), instances, state)
        changed = state.ids != before
        if changed.any():
            # Pixels the bookkeeping changed (lost instances dropped, re-appearing ones added) at work size.
            mapped = cv2.resize(changed.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
            ids[mapped] = cv2.resize(state.ids, (width, height), interpolation=cv2.INTER_NEAREST)[mapped]
        return ids, state

    # -- steps -------------------------------------------------------------------------------------------

    def _work_scale(self, shape: tuple[int, ...]) -> float:
        return min(1.0, self.config.work_short_side / min(shape[:2]))

    def _to_work(self, image: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        """``image`` at the working size (see ``work_short_side``)."""
        scale = self._work_scale(image.shape)
        if scale == 1:
            return image
        height, width = image.shape[:2]
        return cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=interpolation)

    @staticmethod
    def _to_full(part: slice, scale: float, full: int) -> slice:
        return slice(int(np.floor(part.start / scale)), min(full, int(np.ceil(part.stop / scale))))

    @staticmethod
    def _resize_scores(scores: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        if scores.shape[:2] == shape:
            return scores
        # cv2.resize handles at most 4 channels at a time.
        parts = [
            cv2.resize(np.ascontiguousarray(scores[..., i : i + 4]), shape[::-1], interpolation=cv2.INTER_LINEAR)
            for i in range(0, scores.shape[2], 4)
        ]
        return np.concatenate([p.reshape(shape + (-1,)) for p in parts], axis=2)

    def _small_grey(self, work: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
        if self.config.flow_scale == 1:
            return grey
        return cv2.resize(grey, None, fx=self.config.flow_scale, fy=self.config.flow_scale, interpolation=cv2.INTER_AREA)

    def _region_of_interest(self, ids: np.ndarray, backward: np.ndarray, forward: np.ndarray) -> tuple[slice, slice] | None:
        """Rows and columns of the new frame that can hold an instance: the previous instances' bounding
        box grown by the largest motion, the boundary band and the snapping window."""
        ys, xs = np.nonzero(ids[:: self._stride, :: self._stride])
        if ys.size == 0:
            return None
        cfg = self.config
        # The largest flow component times sqrt(2) bounds the largest motion, and is cheaper to find.
        motion = np.sqrt(2) * max(float(np.abs(backward).max()), float(np.abs(forward).max()))
        margin = int(np.ceil(motion / cfg.flow_scale)) + 2 * cfg.band + 2 * cfg.snap_radius + self._stride + 2
        height, width = ids.shape
        y0, y1 = ys.min() * self._stride - margin, ys.max() * self._stride + margin + 1
        x0, x1 = xs.min() * self._stride - margin, xs.max() * self._stride + margin + 1
        return slice(max(0, y0), min(height, y1)), slice(max(0, x0), min(width, x1))

    def _crop_flow(self, flow: np.ndarray, small_ys: slice, small_xs: slice, ys: slice, xs: slice) -> np.ndarray:
        """The full-resolution flow (in full-size pixels) on the crop ``ys, xs``."""
        scale = self.config.flow_scale
        # Resample the small flow at the crop's pixel centres, expressed in small-frame coordinates.
        grid_x = ((np.arange(xs.start, xs.stop, dtype=np.float32) + 0.5) * scale - 0.5 - small_xs.start)
        grid_y = ((np.arange(ys.start, ys.stop, dtype=np.float32) + 0.5) * scale - 0.5 - small_ys.start)
        map_x, map_y = np.meshgrid(grid_x, grid_y)
        part = np.ascontiguousarray(flow[small_ys, small_xs])
        return cv2.remap(part, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) / scale

    @staticmethod
    def _warped_prior(ids: np.ndarray, labels: list[int], backward: np.ndarray, ys: slice, xs: slice) -> np.ndarray:
        """``(h, w, L)`` float32 soft one-hot of the previous ids moved onto the crop ``ys, xs`` of the new
        frame (``backward`` is the crop's flow back to the previous frame)."""
        previous = ids[ys, xs]
        one_hot = (previous[..., None] == np.asarray(labels, ids.dtype)).astype(np.float32)
        # The crop's edge is background by construction, so replicating it outside is right; cv2.remap
        # handles at most 4 channels at a time.
        parts = [warp(np.ascontiguousarray(one_hot[..., i : i + 4]), backward) for i in range(0, len(labels), 4)]
        return np.concatenate([p.reshape(previous.shape + (-1,)) for p in parts], axis=2)

    def _refine(
        self,
        image: np.ndarray,
        codes: np.ndarray,
        prior: np.ndarray,
        labels: list[int],
        occluded: np.ndarray,
        histograms: dict[int, np.ndarray],
    ) -> np.ndarray:
        """Per-label scores ``(H, W, L)``: motion prior, colour where motion is unsure, snapped to edges."""
        cfg = self.config
        hard = prior.argmax(axis=2).astype(np.uint8)
        kernel = np.ones((2 * cfg.band + 1, 2 * cfg.band + 1), np.uint8)
        boundary = cv2.morphologyEx(hard, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        unsure = cv2.dilate((boundary | occluded).astype(np.uint8), kernel) > 0
        scores = prior
        if unsure.any() and cfg.colour_weight > 0:
            # Inside the band the warped edge is only known to within `band` pixels: blur it that much and
            # let each label's colour likelihood reshape it.
            soft = cv2.GaussianBlur(prior, (0, 0), sigmaX=cfg.band / 2)
            soft = soft.reshape(prior.shape)
            likelihood = np.stack([histograms[k][codes[unsure]] for k in labels], axis=1)
            likelihood /= likelihood.sum(axis=1, keepdims=True)
            band_scores = soft[unsure] * np.power(likelihood, cfg.colour_weight)
            band_scores /= np.maximum(band_scores.sum(axis=1, keepdims=True), 1e-12)
            scores = prior.copy()
            scores[unsure] = band_scores
        guide = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        snapped = grey_guided_filter(guide, scores, cfg.snap_radius, cfg.snap_eps)
        return snapped.reshape(prior.shape)

    def _drop_fragments(self, ids: np.ndarray, instances: list[int]) -> np.ndarray:
        for k in instances:
            mine = (ids == k).astype(np.uint8)
            count, pieces, stats, _ = cv2.connectedComponentsWithStats(mine, connectivity=8)
            if count <= 2:
                continue
            areas = stats[1:, cv2.CC_STAT_AREA]
            small = np.nonzero(areas < self.config.fragment_fraction * areas.max())[0] + 1
            ids[np.isin(pieces, small)] = 0
        return ids

    def _update(
        self,
        image: np.ndarray,
        small: np.ndarray,
        crop_codes: tuple[np.ndarray, tuple[slice, slice]] | None,
        ids: np.ndarray,
        instances: list[int],
        state: PropagationState,
    ) -> PropagationState:
        cfg = self.config
        histograms = dict(state.histograms)
        lost = {k: LostInstance(v.histogram, v.area, v.frames_lost + 1) for k, v in state.lost.items()}
        counts = np.bincount(ids.reshape(-1), minlength=max(instances, default=0) + 1)
        areas = {}
        for k in instances:
            remembered = max(float(counts[k]), cfg.area_memory * state.areas.get(k, 0.0))
            if counts[k] < cfg.lost_fraction * ids.size:
                ids[ids == k] = 0
                lost[k] = LostInstance(histograms.pop(k), remembered)
            else:
                areas[k] = remembered
        if crop_codes is not None:
            codes, (ys, xs) = crop_codes
            crop_ids = ids[ys, xs]
            # The background model is learnt near the instances, where it has to separate them.
            for k in [0] + [k for k in instances if k in histograms]:
                fresh = colour_histogram(codes[::2, ::2][crop_ids[::2, ::2] == k], cfg.histogram_bins)
                histograms[k] = (1 - cfg.histogram_rate) * histograms[k] + cfg.histogram_rate * fresh
        state = PropagationState(small, ids, histograms, lost, areas, state.next_id, state.frames_since_detection + 1)
        if (lost or cfg.pick_up_new) and state.frames_since_detection >= cfg.redetect_every:
            codes = colour_codes(image, cfg.histogram_bins)
            state = self._redetect(image, codes, state)
        return state

    def _redetect(self, image: np.ndarray, codes: np.ndarray, state: PropagationState) -> PropagationState:
        """Give lost instances back their pixels where they re-appear; optionally add new people."""
        cfg = self.config
        ids = state.ids.copy()
        proposals = self._appearance_proposals(codes, state) + self._detector_proposals(image, ids)
        lost_ids = sorted(state.lost)
        histograms = dict(state.histograms)
        lost = dict(state.lost)
        next_id = state.next_id
        taken: set[int] = set()
        if proposals and lost_ids:
            proposal_histograms = [colour_histogram(codes[m], cfg.histogram_bins) for m in proposals]
            cost = np.array([[bhattacharyya_distance(p, lost[k].histogram) for k in lost_ids] for p in proposal_histograms])
            for row, col in zip(*linear_sum_assignment(cost)):
                if cost[row, col] <= cfg.reidentify_distance:
                    k = lost_ids[col]
                    ids[proposals[row] & (ids == 0)] = k
                    histograms[k] = lost.pop(k).histogram
                    taken.add(row)
        if cfg.pick_up_new:
            for row, mask in enumerate(proposals):
                if row not in taken:
                    ids[mask & (ids == 0)] = next_id
                    histograms[next_id] = colour_histogram(codes[mask], cfg.histogram_bins)
                    next_id += 1
        counts = np.bincount(ids.reshape(-1))
        areas = {k: max(state.areas.get(k, 0.0), float(counts[k])) for k in np.nonzero(counts)[0].tolist() if k > 0}
        return PropagationState(state.small_grey, ids, histograms, lost, areas, next_id, 0)

    def _appearance_proposals(self, codes: np.ndarray, state: PropagationState) -> list[np.ndarray]:
        """Free regions whose colours fit a lost instance far better than the background, about as large
        as the instance was: ``(H, W)`` bool masks."""
        cfg = self.config
        free = state.ids == 0
        background = state.histograms[0]
        proposals = []
        for gone in state.lost.values():
            # Back-projection of the likelihood ratio p(colour | k) / p(colour | background).
            ratio = gone.histogram / np.maximum(background, 1e-9)
            likely = ((ratio[codes] > cfg.reappear_ratio) & free).astype(np.uint8)
            likely = cv2.morphologyEx(likely, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
            likely = cv2.morphologyEx(likely, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
            count, pieces, stats, _ = cv2.connectedComponentsWithStats(likely, connectivity=8)
            for piece in range(1, count):
                if stats[piece, cv2.CC_STAT_AREA] >= cfg.reappear_area * gone.area:
                    proposals.append(pieces == piece)
        return proposals

    def _detector_proposals(self, image: np.ndarray, ids: np.ndarray) -> list[np.ndarray]:
        """People the HOG detector finds where no instance is, masked by GrabCut: ``(H, W)`` bool masks."""
        cfg = self.config
        if not cfg.pick_up_new:
            return []
        proposals = []
        for box, _ in detect_people_hog(image, cfg.people):
            region = ids[box.y0 : box.y1, box.x0 : box.x1]
            if region.size == 0 or (region > 0).mean() > cfg.proposal_covered:
                continue
            mask = segment_instance(image, InstancePrompt(1, box=box), blocked=ids > 0, config=cfg.segment)
            if mask.sum() >= cfg.lost_fraction * ids.size:
                proposals.append(mask)
        return proposals


register_propagator("flow", FlowPropagator)
