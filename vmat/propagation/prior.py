"""Mask propagation that knows what a person looks like: flow carries the masks, the person prior decides.

:class:`PriorPropagator` runs :class:`~vmat.propagation.propagator.FlowPropagator` underneath and, each
frame, segments every tracked person with the BlazePose landmark network (:mod:`vmat.person`) inside a
region of interest that follows them. The two are fused per pixel:

* person pixels are decided by the prior: a label's score is ``w * prior + (1 - w) * flow`` with
  ``w = prior_weight`` > 0.5, so the prior alone can add a limb the flow lost or drop a strip of pavement
  the flow dragged along, while the flow breaks ties between overlapping people (each person's ROI mask
  is one person, but a ROI that covers two may return either);
* what the user included that is not a person (a bike, a bag held, a kite) is found once, on the prompted
  frame, as the part of the prompt mask that the prior does not explain, and is carried by the flow alone
  under its own hidden label (:attr:`PersonTrack.extra`), merged back into the id on output;
* an instance the prior does not recognise as a person at all (a bag on its own) is carried by the flow.

Each person's track is their last landmarks (the next ROI, as MediaPipe's pose graph tracks: a square
around the hips, rotated with the body). When that ROI drifts off the person's flow mask (onto someone
else), or the prior loses the person, the ROI is rebuilt from the flow mask's box, grown where that
mask is smaller than the person was lately (a crop of the part still carried gives only that part). Every
``redetect_every`` frames while someone is lost (or always, with ``pick_up_new``), the detector looks for
people no instance covers: a lost person is given back their id by colour (Hungarian matching of
histograms, as the flow propagator does), and with ``pick_up_new`` the others become new ids.

Everything but the network works on a copy of the frame shrunk to ``max_side`` (640) on its longer side,
so the cost does not grow with the frame: the network crops each person from the full-size frame (and
its masks are sampled onto the working copy), and the id mask comes back to the frame's size as the
arg-max of the bilinearly upsampled scores, on the people's region only.

State is the flow propagator's state plus one small record per id: it does not grow with the clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from vmat.errors import ConfigError
from vmat.geometry import bounding_box, enlarge, morph, processing_size, shrink_ids, shrink_image
from vmat.propagation.appearance import bhattacharyya_distance, colour_codes, colour_histogram
from vmat.propagation.propagator import FlowPropagator, FlowPropagatorConfig, PropagationState, best_labels
from vmat.propagation.registry import register_propagator

if TYPE_CHECKING:
    from vmat.person.roi import Rois


@dataclass
class PriorPropagatorConfig:
    """Settings of :class:`PriorPropagator`."""

    flow: FlowPropagatorConfig = field(default_factory=FlowPropagatorConfig)
    # Weight of the person prior against the flow-carried mask on a tracked person's pixels (see module doc).
    prior_weight: float = 0.7
    # A ROI whose person presence is below this is not trusted: the flow alone carries that id this frame.
    min_presence: float = 0.5
    # An instance is a person when the prior's mask inside its box covers at least this share of the
    # prompt mask and at least `min_precision` of the prior's mask lies in the prompt mask.
    min_person_share: float = 0.15
    min_precision: float = 0.5
    # The prompt's non-person part is what lies this far (fraction of the person's ROI) from the prior's mask.
    extra_margin: float = 0.02
    # ... and counts only if it is at least this share of the prompt mask (else it is edge noise).
    min_extra_share: float = 0.03
    # The landmark ROI is kept while at least this share of the id's flow mask lies inside it.
    min_roi_cover: float = 0.6
    # Two people whose prior masks overlap more than this (IoU) are one person found twice (see _trusted).
    max_shared: float = 0.5
    # A person the prior did not trust while someone else was trusted is segmented again with the trusted
    # people painted grey (the network sees one person per crop: the one hidden behind, or whose ROI slid
    # onto, the other). Its presence is no guide there (a person seen from behind, half hidden, scores near
    # 0 with a good mask), so the mask is taken when, off the others, it covers at least this share of the
    # id's flow-carried mask and is at most `max_growth` times the id's remembered size.
    min_unoccluded_cover: float = 0.5
    max_growth: float = 1.5
    # A ROI rebuilt from the flow mask's box (no trusted landmarks, or they left the person) is grown about its centre by
    # sqrt(remembered size / carried size), at most this much (1: not at all): a person partly hidden, or
    # partly lost by the flow, is larger than the box of what is still carried of them, and a crop of only
    # that part gives a mask of only that part, which the flow then carries on, smaller each frame.
    max_box_growth: float = 2.0
    redetect_every: int = 8
    # Lost people are looked for in tiles (TileConfig) too, as the automatic finder looks on the first frame: the
    # full frame alone misses small people (a child on the bedroom pan, 540p, given back 24 frames later).
    redetect_tiles: bool = True
    pick_up_new: bool = False
    # A detected person is someone already tracked when existing ids cover this share of their mask.
    detection_covered: float = 0.3
    reidentify_distance: float = 0.5
    histogram_bins: int = 16
    device: str = "cpu"
    # The flow, the fusion and the bookkeeping work on frames shrunk to this longer side at most (None: the
    # frame's own size), so their cost does not grow with the frame; the landmark network still crops each
    # person from the full-size frame. The id mask comes back to the frame's size as the arg-max of the
    # bilinearly upsampled label scores, on the people's region only (docs/results/masks.md).
    max_side: int | None = 640


@dataclass
class PersonTrack:
    """What is known of a person between frames: where the next ROI goes, and their hidden extra label."""

    landmarks: torch.Tensor | None  # (39, 5) in frame pixels, or None when the ROI comes from the flow mask
    # The hidden label under which the flow carries the instance's non-person part (0: it has none).
    extra: int = 0


@dataclass
class PriorState:
    """Everything a :class:`PriorPropagator` carries from one frame to the next."""

    flow: PropagationState
    people: dict[int, PersonTrack]
    objects: set[int]  # ids the prior does not see as people: carried by the flow alone
    histograms: dict[int, np.ndarray]  # id -> colour histogram from the last frame it was seen in
    frames_since_detection: int = 0


class PriorPropagator:
    """Flow propagation fused with the BlazePose person prior (see the module docstring)."""

    def __init__(self, config: PriorPropagatorConfig | None = None, model=None) -> None:
        self.config = config or PriorPropagatorConfig()
        if not 0.5 < self.config.prior_weight <= 1:
            raise ConfigError(f"prior_weight must be in (0.5, 1], not {self.config.prior_weight}.")
        self.flow = FlowPropagator(self.config.flow)
        if model is None:
            from vmat.person.model import default_person_model

            model = default_person_model(self.config.device)
        self.model = model

    # -- the MaskPropagator interface ------------------------------------------------------------------

    def start(self, image: np.ndarray, ids: np.ndarray, state: PriorState | None = None) -> PriorState:
        """Begin at an ``(H, W, 3)`` RGB uint8 frame with its ``(H, W)`` id mask (a prompt's result)."""
        frames = self._frames(image)
        return self._start(frames, self._capped(image), self._capped(ids.astype(np.uint16)), state)

    def step(self, image: np.ndarray, state: PriorState) -> tuple[np.ndarray, PriorState]:
        """The ``(H, W)`` uint16 id mask of ``image`` (``(H, W, 3)`` RGB uint8) given the previous state."""
        cfg = self.config
        frames = self._frames(image)
        size = image.shape[:2]
        image = self._capped(image)
        flow_ids, flow_state = self.flow.step(image, state.flow)
        people = dict(state.people)
        counts = np.bincount(flow_ids.reshape(-1))
        tracked = [k for k in people if _count(counts, k) > 0 or people[k].landmarks is not None]
        # The remembered sizes (a slowly decaying maximum, flow working pixels) in working pixels.
        ratio = flow_ids.size / flow_state.ids.size
        sizes = {k: area * ratio for k, area in flow_state.areas.items()}
        region, scores, labels = self._fuse(frames, image, flow_ids, counts, people, tracked, sizes, flow_state.histograms)
        owner = np.arange(2**16, dtype=np.uint16)
        for k, track in people.items():
            if track.extra:
                owner[track.extra] = k
        # Everything below is 0 outside `region` (no label scores above the background there): work on it.
        crop_flow = flow_ids[region]
        crop_ids = best_labels(list(scores), labels)
        # The hidden extra labels come back as their instance's id; the flow keeps them apart.
        shown, carried = np.zeros_like(flow_ids, np.uint16), np.zeros_like(flow_ids, np.uint16)
        shown[region] = owner[crop_ids]
        # Where the prior took the extra part's pixels for the person, the flow keeps tracking them as the
        # extra part: the prior's mask sometimes covers what a person rides or holds, and sometimes not.
        flow_owner = owner[crop_flow]
        taken = (flow_owner != crop_flow) & (crop_ids == flow_owner)
        crop_ids[taken] = crop_flow[taken]
        carried[region] = crop_ids
        state = PriorState(
            self._reseeded(flow_state, carried, image),
            people,
            set(state.objects),
            state.histograms,
            state.frames_since_detection + 1,
        )
        shown_counts = np.bincount(shown[region].reshape(-1))
        lost = [k for k in list(people) + sorted(state.objects) if _count(shown_counts, k) == 0]
        found = shown
        if (lost or cfg.pick_up_new) and state.frames_since_detection >= cfg.redetect_every:
            found, state = self._redetect(image, frames, shown, lost, state)
        if shown.shape == size:
            return found, state
        return _upsampled(shown, found, scores, owner[labels], region, size), state

    # -- steps -----------------------------------------------------------------------------------------

    def _start(self, frames: torch.Tensor, image: np.ndarray, ids: np.ndarray, state: PriorState | None) -> PriorState:
        """:meth:`start` on the working copy ``image``, ``ids`` of the full-size ``frames (1, 3, H, W)``."""
        scale = _scale(frames, ids.shape)
        present = [k for k in np.unique(ids).tolist() if k > 0]
        people = dict(state.people) if state else {}
        objects = set(state.objects) if state else set()
        histograms = dict(state.histograms) if state else {}
        for k in present:
            people.pop(k, None)
            objects.discard(k)
        flow_ids = ids.copy()
        if present:
            boxes = torch.tensor([_box(ids == k, scale) for k in present], dtype=torch.float32)
            result = self.model.segment(frames, boxes, mask_size=ids.shape)
            masks = result.masks.cpu().numpy() > 0.5
            for i, k in enumerate(present):
                mine = ids == k
                person = masks[i]
                overlap = float((person & mine).sum())
                is_person = (
                    float(result.presence[i]) >= self.config.min_presence
                    and overlap >= self.config.min_person_share * mine.sum()
                    and overlap >= self.config.min_precision * max(person.sum(), 1)
                )
                if not is_person:
                    objects.add(k)
                    continue
                extra = mine & ~morph(person, self._margin(float(result.rois.size[i]) * min(scale)))
                extra = cv2.morphologyEx(extra.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)) > 0
                hidden = 0
                if extra.sum() >= self.config.min_extra_share * mine.sum():
                    hidden = _unused_label(ids, people)
                    flow_ids[extra] = hidden
                people[k] = PersonTrack(result.landmarks[i].cpu(), hidden)
            codes = colour_codes(image, self.config.histogram_bins)
            for k in present:
                histograms[k] = colour_histogram(codes[ids == k], self.config.histogram_bins)
        flow_state = self.flow.start(image, flow_ids, state.flow if state else None)
        return PriorState(flow_state, people, objects, histograms, state.frames_since_detection if state else 0)

    def _capped(self, image: np.ndarray) -> np.ndarray:
        """An image or id mask at most :attr:`PriorPropagatorConfig.max_side` on its longer side."""
        size = processing_size(image.shape[1], image.shape[0], self.config.max_side)
        return shrink_ids(image, size) if image.ndim == 2 else shrink_image(image, size)

    def _frames(self, image: np.ndarray) -> torch.Tensor:
        from vmat.person.model import image_to_frames

        return image_to_frames(image, self.model.device)

    def _margin(self, roi_size: float) -> int:
        return max(2, int(round(self.config.extra_margin * roi_size)))

    def _rois(
        self,
        flow_ids: np.ndarray,
        counts: np.ndarray,
        people: dict[int, PersonTrack],
        tracked: list[int],
        scale: tuple[float, float],
        remembered: dict[int, float],
    ):
        """One ROI per tracked person (frame pixels): from their landmarks while those stay on their flow mask,
        else from the flow mask's box, grown by up to :attr:`PriorPropagatorConfig.max_box_growth` where the
        flow mask (``counts``: the pixels of each id in ``flow_ids``) is smaller than the person's ``remembered``
        size (working pixels, by id). ``scale``: working pixels per frame pixel, x and y. Returns the ROIs and
        whether any came from a box (those need a refine pass)."""
        from vmat.person.model import roi_from_box
        from vmat.person.roi import Rois, rois_from_landmarks

        centers, sizes, rotations, from_box = [], [], [], []
        for k in tracked:
            mine = (flow_ids == k) | ((flow_ids == people[k].extra) & (people[k].extra > 0))
            roi = None
            landmarks = people[k].landmarks
            if landmarks is not None:
                roi = rois_from_landmarks(landmarks[None])
                if mine.any() and _cover(mine, roi, scale) < self.config.min_roi_cover:
                    roi = None
            from_box.append(roi is None)
            if roi is None:
                roi = roi_from_box(torch.tensor([_box(mine, scale)], dtype=torch.float32))
                carried = _count(counts, k)
                if carried and remembered.get(k, 0.0) > carried:
                    growth = min(float(np.sqrt(remembered[k] / carried)), self.config.max_box_growth)
                    roi = Rois(roi.center, roi.size * max(growth, 1.0), roi.rotation, roi.frame)
            centers.append(roi.center)
            sizes.append(roi.size)
            rotations.append(roi.rotation)
        rois = Rois(torch.cat(centers), torch.cat(sizes), torch.cat(rotations), torch.zeros(len(tracked), dtype=torch.long))
        return rois, any(from_box)

    def _fuse(
        self,
        frames: torch.Tensor,
        image: np.ndarray,
        flow_ids: np.ndarray,
        counts: np.ndarray,
        people: dict[int, PersonTrack],
        tracked: list[int],
        sizes: dict[int, float],
        histograms: dict[int, np.ndarray],
    ) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
        """The region ``(rows, cols)`` outside which every label scores below the background (no flow label,
        no prior mask above 0.5), the per-label scores ``(L, h, w)`` on it and the labels ``(L,)`` (background
        first, scored 0.5). ``image``: the working copy ``flow_ids`` belongs to; ``counts``: the pixels of each
        id in ``flow_ids``; ``sizes``: each id's remembered size in pixels of ``flow_ids``; ``histograms``: the
        flow propagator's colour model of each id."""
        cfg = self.config
        present = [k for k in np.flatnonzero(counts).tolist() if k > 0]
        labels = [0] + sorted(set(present) | set(tracked) | {people[k].extra for k in tracked if people[k].extra})
        result, masks = None, np.zeros((0,) + flow_ids.shape, np.float32)
        boxes = [bounding_box(flow_ids > 0)] if present else []
        if tracked:
            rois, any_box = self._rois(flow_ids, counts, people, tracked, _scale(frames, flow_ids.shape), sizes)
            # Landmark ROIs track as MediaPipe's graph does; a box ROI needs one pass to centre on the body.
            result = self.model.segment(frames, rois, refine_passes=1 if any_box else 0, mask_size=flow_ids.shape)
            masks = result.masks.cpu().numpy()
            # Off the flow's labels a prior mask scores prior_weight * mask, above the background's 0.5 only
            # where the mask exceeds 0.5 / prior_weight (> 0.5); trust is judged on mask > 0.5 too. The rest of
            # each ROI (the mask is soft, never quite 0 inside it) is left out: a region a third the size.
            boxes += [bounding_box(mask > 0.5) for mask in masks if (mask > 0.5).any()]
        # One pixel more all round, so the scores next to the region's edge are there to be upsampled.
        region = _grown(_union(boxes), flow_ids.shape)
        crop_flow = flow_ids[region]
        scores = np.zeros((len(labels),) + crop_flow.shape, np.float32)
        scores[0] = 0.5
        index = {label: i for i, label in enumerate(labels)}
        for label in labels[1:]:
            scores[index[label]] = crop_flow == label
        if result is not None:
            trusted = self._trusted(masks[(slice(None),) + region] > 0.5, result.presence.cpu().numpy(), crop_flow, tracked)
            hidden = self._unoccluded(frames, rois, masks, trusted, flow_ids, tracked, sizes, (image, histograms))
            masks = masks[(slice(None),) + region]
            for i, k in enumerate(tracked):
                if trusted[i]:
                    people[k] = replace(people[k], landmarks=result.landmarks[i].cpu())
                    prior = masks[i]
                else:
                    # Landmarks from a crop the network did not trust are no ROI for the next frame.
                    people[k] = replace(people[k], landmarks=None)
                    if i not in hidden:
                        continue
                    prior = hidden[i][region]
                scores[index[k]] = cfg.prior_weight * prior + (1 - cfg.prior_weight) * scores[index[k]]
                if people[k].extra:
                    # The non-person part may not take the person's pixels.
                    scores[index[people[k].extra]] *= prior < 0.5
        return region, scores, np.asarray(labels, np.uint16)

    def _unoccluded(
        self,
        frames: torch.Tensor,
        rois: Rois,
        masks: np.ndarray,
        trusted: list[bool],
        flow_ids: np.ndarray,
        tracked: list[int],
        sizes: dict[int, float],
        colours: tuple[np.ndarray, dict[int, np.ndarray]],
    ) -> dict[int, np.ndarray]:
        """Prior masks ``(h, w)`` (the working copy's grid) of the tracked people not ``trusted``, by their index
        in ``tracked``, from a second run of the network on ``frames (1, 3, H, W)`` with every trusted person's
        mask (``masks (N, h, w)`` > 0.5) painted grey, in the same ``rois``. On the painted pixels the network
        saw nothing of the person: there a mask is 1 where the flow carries the person and the pixel's colour is
        likelier under their colour model than under the painted person's, else 0. ``colours``: the working
        copy ``(h, w, 3)`` and the flow's colour histogram of each id. Only the masks that pass
        :attr:`PriorPropagatorConfig.min_unoccluded_cover` and ``max_growth`` (judged off the painted pixels)
        are given.
        """
        from vmat.person.roi import Rois

        cfg = self.config
        shown = [i for i, sure in enumerate(trusted) if sure]
        hidden = [i for i, k in enumerate(tracked) if not trusted[i] and sizes.get(k, 0) > 0]
        if not shown or not hidden:
            return {}
        others = (masks[shown] > 0.5).any(axis=0)
        height, width = frames.shape[-2:]
        painted = frames.clone()
        cover = cv2.resize(np.asarray(others, np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        painted[0][:, torch.from_numpy(cover).to(frames.device)] = 128
        picked = torch.tensor(hidden, dtype=torch.long)
        result = self.model.segment(
            painted,
            Rois(rois.center[picked], rois.size[picked], rois.rotation[picked], rois.frame[picked]),
            refine_passes=0,
            mask_size=flow_ids.shape,
        )
        found = {}
        for j, i in enumerate(hidden):
            k = tracked[i]
            mask = np.where(others, 0.0, result.masks[j].cpu().numpy()).astype(np.float32)
            own = mask > 0.5
            carried = (flow_ids == k) & ~others
            if np.count_nonzero(own) > cfg.max_growth * sizes[k]:
                continue
            if np.count_nonzero(own & carried) >= cfg.min_unoccluded_cover * max(int(np.count_nonzero(carried)), 1):
                found[i] = mask
        # A front person's mask often spills onto a neighbour's limbs, which the flow still carries as the
        # neighbour's and which look like the neighbour; a label the flow dragged onto the front person looks
        # like them. Painted and carried, a pixel stays the person's where its colour says so.
        behind = {i: others & (flow_ids == tracked[i]) for i in found}
        if any(pixels.any() for pixels in behind.values()):
            image, histograms = colours
            codes = colour_codes(image, cfg.flow.histogram_bins)
            painter = np.zeros(flow_ids.shape, np.float32)
            for i in shown:
                if tracked[i] in histograms:
                    painter = np.maximum(painter, np.where(masks[i] > 0.5, histograms[tracked[i]][codes], 0.0))
            for i, pixels in behind.items():
                if tracked[i] in histograms:
                    found[i][pixels & (histograms[tracked[i]][codes] > painter)] = 1.0
        return found

    def _trusted(self, masks: np.ndarray, presence: np.ndarray, flow_ids: np.ndarray, tracked: list[int]) -> list[bool]:
        """Which tracked people's prior masks ``(N, H, W)`` to use this frame.

        Not those whose ROI holds no person, and not those whose ROI slid onto someone else: where two
        people's prior masks are mostly the same pixels, only the one whose flow-carried mask agrees
        better keeps the prior; the other is carried by the flow and re-centred on its own mask next frame.
        """
        trusted = [bool(p >= self.config.min_presence) for p in presence]
        agreement = [_iou(masks[i], flow_ids == k) for i, k in enumerate(tracked)]
        for i in range(len(tracked)):
            for j in range(i + 1, len(tracked)):
                if trusted[i] and trusted[j] and _iou(masks[i], masks[j]) > self.config.max_shared:
                    trusted[i if agreement[i] < agreement[j] else j] = False
        return trusted

    def _reseeded(self, flow_state: PropagationState, ids: np.ndarray, image: np.ndarray) -> PropagationState:
        """The flow state carrying the fused mask (at the flow's working size) instead of its own.

        A label the flow had lost but the prior kept gets its remembered colour model back (or a fresh one).
        """
        work = self.flow._to_work(ids, cv2.INTER_NEAREST)
        histograms, lost, areas = dict(flow_state.histograms), dict(flow_state.lost), dict(flow_state.areas)
        missing = [k for k in np.flatnonzero(np.bincount(work.reshape(-1))).tolist() if k not in histograms]
        if missing:
            codes = colour_codes(self.flow._to_work(image), self.config.flow.histogram_bins)
            for k in missing:
                gone = lost.pop(k, None)
                histograms[k] = gone.histogram if gone else colour_histogram(codes[work == k], self.config.flow.histogram_bins)
                areas[k] = float((work == k).sum())
        return replace(flow_state, ids=work, histograms=histograms, lost=lost, areas=areas)

    def _redetect(
        self, image: np.ndarray, frames: torch.Tensor, ids: np.ndarray, lost: list[int], state: PriorState
    ) -> tuple[np.ndarray, PriorState]:
        """Find people no instance covers; give lost ids back by colour, and add new ones if asked. ``image``
        and ``ids``: the working copy; ``frames``: the full-size frame the networks look at."""
        cfg = self.config
        state = replace(state, frames_since_detection=0)
        masks = self._uncovered(frames, ids)
        # Only lost people are looked for in tiles too: new ones the tiles alone find were as often a goal net or
        # a red patch in the trees as a spectator (DAVIS hockey, lucia, dance-jump).
        returning = [k for k in lost if k in state.histograms]
        tiled = self._uncovered(frames, ids, tiled=True, besides=masks) if returning and cfg.redetect_tiles else []
        found = masks + tiled  # only the first len(masks) may be someone new
        if not found:
            return ids, state
        codes = colour_codes(image, cfg.histogram_bins)
        candidates = [colour_histogram(codes[mask], cfg.histogram_bins) for mask in found]
        assigned: dict[int, int] = {}
        if returning:
            cost = np.array([[bhattacharyya_distance(c, state.histograms[k]) for k in returning] for c in candidates])
            for row, col in zip(*linear_sum_assignment(cost)):
                if cost[row, col] <= cfg.reidentify_distance:
                    assigned[row] = returning[col]
        if cfg.pick_up_new:
            next_id = max([*state.histograms, *(t.extra for t in state.people.values()), int(ids.max())]) + 1
            for row in range(len(masks)):
                if row not in assigned:
                    assigned[row] = next_id
                    next_id += 1
        if not assigned:
            return ids, state
        ids = ids.copy()
        for row, k in assigned.items():
            ids[found[row]] = k
        return ids, self._start(frames, image, ids, state)

    def _uncovered(
        self, frames: torch.Tensor, ids: np.ndarray, tiled: bool = False, besides: Sequence[np.ndarray] = ()
    ) -> list[np.ndarray]:
        """The people the detector finds (``tiled``: in the whole frame and in tiles) that no instance of ``ids``
        covers, as their ``(h, w)`` bool masks' uncovered pixels, leaving out those mostly on a mask of
        ``besides`` (found already)."""
        from vmat.person.detector import TileConfig
        from vmat.person.model import rois_from_detections

        cfg = self.config
        detections = self.model.detect(frames, TileConfig() if tiled else None)[0]
        if len(detections) == 0:
            return []
        result = self.model.segment(frames, rois_from_detections([detections]), mask_size=ids.shape)
        masks = []
        for j, probability in enumerate(result.masks.cpu().numpy()):
            person = probability > 0.5
            area = np.count_nonzero(person)
            # Someone already tracked is found again as a person mostly under existing ids: not new.
            if float(result.presence[j]) < cfg.min_presence or area == 0:
                continue
            if np.count_nonzero(person & (ids > 0)) > cfg.detection_covered * area:
                continue
            mask = person & (ids == 0)
            if any(np.count_nonzero(mask & other) > 0.5 * np.count_nonzero(mask) for other in besides):
                continue
            masks.append(mask)
        return masks


def _unused_label(ids: np.ndarray, people: dict[int, PersonTrack]) -> int:
    """A label no instance uses: above every id on the frame and every id and hidden label tracked."""
    used = [int(ids.max()) if ids.size else 0] + list(people) + [t.extra for t in people.values()]
    label = max(used) + 1
    if label >= 2**16:
        raise ConfigError("no free label is left for a person's non-person part (ids reach 65535).")
    return label


def _upsampled(
    shown: np.ndarray,
    found: np.ndarray,
    scores: np.ndarray,
    owners: np.ndarray,
    region: tuple[slice, slice],
    size: tuple[int, int],
) -> np.ndarray:
    """The ``(H, W)`` id mask at the frame's ``size`` from the working copy's fused label ``scores (L, h', w')``
    on ``region`` (``owners (L,)``: the id each label shows as; label 0 first, the background, scored 0.5;
    every label scores below 0.5 outside the region and on its edge pixels, but where it meets the frame's edge):
    each id's best score is upsampled bilinearly and the arg-max taken at the frame's size, so edges are as
    smooth as the full-size fusion's. ``shown`` is that arg-max on the working copy, ``found`` the same after
    re-detection: pixels it changed come to the frame's size by nearest neighbour.
    """
    height, width = size
    ids = np.zeros(size, np.uint16)
    rows, cols = region
    keys = np.unique(owners)
    if rows.stop > rows.start and cols.stop > cols.start and len(keys) > 1:
        scale_y, scale_x = shown.shape[0] / height, shown.shape[1] / width
        # Outside `region` every label but the background scores below 0.5, and so do the region's edge
        # pixels (but at the frame's edge): a frame pixel that reads past them cannot reach 0.5, and the
        # frame pixels whose samples reach one working pixel past the region are all that can hold an id.
        top, bottom = max(0, int((rows.start - 1) / scale_y)), min(height, int(np.ceil((rows.stop + 1) / scale_y)))
        left, right = max(0, int((cols.start - 1) / scale_x)), min(width, int(np.ceil((cols.stop + 1) / scale_x)))
        box, small_size, origin = (slice(top, bottom), slice(left, right)), shown.shape[1::-1], (rows.start, cols.start)
        planes: list[np.ndarray] = [np.full((bottom - top, right - left), 0.5, np.float32)]
        for key in keys[1:]:
            planes.append(enlarge(scores[owners == key].max(axis=0), small_size, size[::-1], *box, origin))
        ids[top:bottom, left:right] = best_labels(planes, keys.astype(np.uint16))
    changed = found != shown
    if changed.any():
        mapped = cv2.resize(changed.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        ids[mapped] = cv2.resize(found, (width, height), interpolation=cv2.INTER_NEAREST)[mapped]
    return ids


def _count(counts: np.ndarray, label: int) -> int:
    """``label``'s entry of a ``np.bincount`` (0 past its end)."""
    return int(counts[label]) if label < len(counts) else 0


def _union(boxes: list[tuple[slice, slice]]) -> tuple[slice, slice]:
    """The smallest ``(rows, cols)`` holding every box; empty for none."""
    if not boxes:
        return slice(0, 0), slice(0, 0)
    rows, cols = zip(*boxes)
    return (
        slice(min(r.start for r in rows), max(r.stop for r in rows)),
        slice(min(c.start for c in cols), max(c.stop for c in cols)),
    )


def _grown(box: tuple[slice, slice], shape: tuple[int, ...]) -> tuple[slice, slice]:
    """``box`` ``(rows, cols)`` one pixel larger all round, within ``shape``; empty stays empty."""
    rows, cols = box
    if rows.stop <= rows.start:
        return box
    return (
        slice(max(0, rows.start - 1), min(shape[0], rows.stop + 1)),
        slice(max(0, cols.start - 1), min(shape[1], cols.stop + 1)),
    )


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def _scale(frames: torch.Tensor, shape: tuple[int, ...]) -> tuple[float, float]:
    """Pixels of a working copy of ``shape`` ``(h, w)`` per pixel of ``frames (1, 3, H, W)``: x, y."""
    return shape[1] / frames.shape[-1], shape[0] / frames.shape[-2]


def _box(mask: np.ndarray, scale: tuple[float, float]) -> list[float]:
    """``[x0, y0, x1, y1]`` (exclusive ends, frame pixels) around a non-empty ``(h, w)`` bool mask of a
    working copy ``scale`` (x, y) times the frame's size."""
    rows, cols = bounding_box(mask)
    return [cols.start / scale[0], rows.start / scale[1], cols.stop / scale[0], rows.stop / scale[1]]


def _cover(mask: np.ndarray, roi, scale: tuple[float, float]) -> float:
    """The share of ``mask``'s pixels (a working copy ``scale`` times the frame's size) inside the (rotated
    square) ``roi`` (frame pixels)."""
    ys, xs = np.nonzero(mask[::4, ::4])
    points = np.stack([(xs * 4 + 2.0) / scale[0], (ys * 4 + 2.0) / scale[1]], axis=1)
    center = roi.center[0].cpu().numpy()
    angle = float(roi.rotation[0])
    half = float(roi.size[0]) / 2
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    local = (points - center) @ rotation.T
    return float((np.abs(local) <= half).all(axis=1).mean()) if len(points) else 0.0


register_propagator("prior", PriorPropagator)
