"""The person-prior propagator, person prompts and detector-based people finding.

The generated scenes hold no person, so there the prior must change nothing; the real DAVIS frames (when
../shared is present) hold people with ground truth, which is where the prior has to earn its place.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.propagation.conftest import SHARED
from tests.propagation.scenes import disc_shape, moving_scene
from vmat.propagation import FlowPropagator, FramePrompt, PriorPropagator, PriorPropagatorConfig, apply_prompt, mask_clip
from vmat.propagation.auto import detect_people_ids
from vmat.propagation.clip import MaskingConfig, default_propagator
from vmat.propagation.person_prompt import person_mask
from vmat.propagation.prompts import Box, InstancePrompt, SegmentConfig

DAVIS = SHARED / "data" / "davis"


def _davis(name: str, frames: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if not (DAVIS / name).is_dir():
        pytest.skip("../shared/data/davis is not available")
    from itertools import islice

    from vmat.bench.masks import folder_sequences

    return list(islice(folder_sequences(DAVIS, [name])[0].pairs(), frames))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


def test_no_person_no_change():
    # Two discs are no person: the prior must leave them to the flow, so the masks equal the flow's own.
    scene = moving_scene(
        6, [(disc_shape(14), (30, 30), (3, 1), (90, 20, 20)), (disc_shape(10), (110, 50), (-2, 0), (20, 20, 110))]
    )
    prior, flow = PriorPropagator(), FlowPropagator()
    image, ids = scene[0]
    prior_state, flow_state = prior.start(image, ids), flow.start(image, ids)
    assert prior_state.objects == {1, 2} and prior_state.people == {}
    for image, _ in scene[1:]:
        expected, flow_state = flow.step(image, flow_state)
        got, prior_state = prior.step(image, prior_state)
        np.testing.assert_array_equal(got, expected)


def test_prior_keeps_a_person_whole():
    # Measured on lucia frames 1..11: mean J 0.90 (the flow alone 0.87); 0.85 leaves room for float noise.
    pairs = _davis("lucia", 12)
    propagator = PriorPropagator()
    image, truth = pairs[0]
    state = propagator.start(image, truth)
    assert set(state.people) == {1}
    scores = []
    for image, truth in pairs[1:]:
        ids, state = propagator.step(image, state)
        scores.append(_iou(ids == 1, truth == 1))
    assert np.mean(scores) >= 0.85


def test_what_a_person_rides_is_carried_under_a_hidden_label():
    # The stroller is part of the annotated object: the non-person part gets a label of its own inside
    # the propagator, and is never shown as an id of its own.
    pairs = _davis("stroller", 4)
    propagator = PriorPropagator()
    image, truth = pairs[0]
    state = propagator.start(image, truth)
    hidden = state.people[1].extra
    assert hidden > 1 and hidden in np.unique(state.flow.ids)
    for image, truth in pairs[1:]:
        ids, state = propagator.step(image, state)
        assert set(np.unique(ids).tolist()) <= {0, 1}
        assert _iou(ids == 1, truth == 1) >= 0.8  # measured 0.87-0.89 on frames 1-3


def test_a_box_on_a_person_gives_the_person():
    # Measured IoU with the ground truth of lucia frame 0: 0.879 (GrabCut from the same box: 0.804).
    (image, truth), = _davis("lucia", 1)
    ys, xs = np.nonzero(truth)
    box = Box(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    mask = person_mask(image, InstancePrompt(1, box=box))
    assert mask is not None and _iou(mask, truth > 0) >= 0.85
    ids = apply_prompt(image, FramePrompt(0, instances=(InstancePrompt(1, box=box),)))
    np.testing.assert_array_equal(ids == 1, mask)
    grabcut = apply_prompt(
        image, FramePrompt(0, instances=(InstancePrompt(1, box=box),)), config=SegmentConfig(person_prior=False)
    )
    assert _iou(grabcut == 1, truth > 0) < _iou(mask, truth > 0)


def test_a_box_on_no_person_falls_back_to_grabcut():
    image, _ = moving_scene(1, [(disc_shape(20), (60, 30), (0, 0), (120, 20, 20))])[0]
    prompt = InstancePrompt(1, box=Box(55, 25, 105, 75))
    assert person_mask(image, prompt) is None
    ids = apply_prompt(image, FramePrompt(0, instances=(prompt,)))
    assert (ids == 1).sum() > 0.6 * np.pi * 20**2


def test_detector_finds_the_person_and_nobody_on_an_empty_frame():
    (image, truth), = _davis("hike", 1)
    ids = detect_people_ids(image)
    assert set(np.unique(ids).tolist()) == {0, 1}
    assert _iou(ids == 1, truth > 0) >= 0.85  # measured 0.92
    blank = np.full((240, 320, 3), 128, np.uint8)
    assert not detect_people_ids(blank).any()


def test_the_prior_is_the_default_and_picks_up_new_people_when_automatic():
    assert isinstance(default_propagator(MaskingConfig(), automatic=True), PriorPropagator)
    assert default_propagator(MaskingConfig(), automatic=True).config.pick_up_new
    assert not default_propagator(MaskingConfig(), automatic=False).config.pick_up_new
    assert isinstance(default_propagator(MaskingConfig(propagator="flow"), automatic=False), FlowPropagator)


def test_mask_clip_with_the_prior_on_a_clip_without_people(tmp_path):
    scene = moving_scene(5, [(disc_shape(12), (40, 40), (2, 0), (100, 30, 30))])
    prompt = FramePrompt(0, id_mask=scene[0][1])
    summary = mask_clip(lambda: (image for image, _ in scene), tmp_path / "masks", [prompt])
    assert summary.frames == 5 and summary.ids == [1]


def test_a_capped_working_size_gives_full_size_masks_close_to_the_full_size_ones():
    pairs = _davis("lucia", 6)
    full, capped = PriorPropagator(PriorPropagatorConfig(max_side=None)), PriorPropagator(PriorPropagatorConfig(max_side=320))
    image, truth = pairs[0]
    full_state, capped_state = full.start(image, truth), capped.start(image, truth)
    assert capped_state.flow.ids.shape[1] < full_state.flow.ids.shape[1]  # it works at the smaller size
    for image, _ in pairs[1:]:
        expected, full_state = full.step(image, full_state)
        got, capped_state = capped.step(image, capped_state)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        assert _iou(got == 1, expected == 1) > 0.9


def test_a_cap_above_the_frame_size_changes_nothing():
    pairs = _davis("lucia", 4)
    full, capped = PriorPropagator(PriorPropagatorConfig(max_side=None)), PriorPropagator(PriorPropagatorConfig(max_side=4000))
    image, truth = pairs[0]
    full_state, capped_state = full.start(image, truth), capped.start(image, truth)
    for image, _ in pairs[1:]:
        expected, full_state = full.step(image, full_state)
        got, capped_state = capped.step(image, capped_state)
        np.testing.assert_array_equal(got, expected)


def _upsampled_reference(scores: np.ndarray, owners: np.ndarray, region, shape, size) -> tuple[np.ndarray, np.ndarray]:
    """Reference for the fused mask at the frame's size: per id the best of its labels' scores, sampled
    bilinearly at each frame pixel's centre (0 outside ``region`` of the working ``shape``), arg-max
    against the background's 0.5. Returns the ids and the margin between the best and second-best score."""
    keys = np.unique(owners)
    full = np.zeros((len(keys) - 1,) + shape)
    for i, key in enumerate(keys[1:]):
        full[i][region] = scores[owners == key].max(axis=0)
    height, width = size
    y = (np.arange(height) + 0.5) * shape[0] / height - 0.5
    x = (np.arange(width) + 0.5) * shape[1] / width - 0.5
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    padded = np.pad(full, ((0, 0), (1, 1), (1, 1)))
    sampled = 0
    for dy, wy in ((0, y0 + 1 - y), (1, y - y0)):
        for dx, wx in ((0, x0 + 1 - x), (1, x - x0)):
            sampled = sampled + padded[:, (y0 + dy + 1)[:, None], (x0 + dx + 1)[None, :]] * (wy[:, None] * wx[None, :])
    planes = np.concatenate([np.full((1,) + size, 0.5), sampled])
    ordered = np.sort(planes, axis=0)
    return keys[planes.argmax(axis=0)].astype(np.uint16), ordered[-1] - ordered[-2]


def test_the_fused_mask_comes_to_the_frame_size_as_the_arg_max_of_upsampled_scores():
    from vmat.propagation.prior import _upsampled

    rng = np.random.default_rng(3)
    shape, size, region = (36, 64), (72, 128), (slice(5, 30), slice(10, 50))
    # Smooth scores for four labels: the background, ids 1 and 2, and id 1's hidden extra label 7.
    owners = np.array([0, 1, 2, 1])
    ys, xs = np.mgrid[0:25, 0:40]
    scores = np.stack(
        [np.full((25, 40), 0.5)]
        + [np.clip(1 - np.hypot(ys - cy, xs - cx) / r, 0, 1) for cy, cx, r in ((10, 12, 9), (14, 30, 10), (20, 8, 6))]
    ).astype(np.float32)
    scores[1:] += rng.uniform(0, 0.05, scores[1:].shape).astype(np.float32)
    shown = np.zeros(shape, np.uint16)
    shown[region] = owners[scores.argmax(axis=0)]
    got = _upsampled(shown, shown, scores, owners, region, size)
    expected, margin = _upsampled_reference(scores, owners, region, shape, size)
    sure = margin > 0.02  # OpenCV's bilinear weights are rounded to 1/32 of a pixel
    assert got.dtype == np.uint16 and got.shape == size
    assert (got[sure] == expected[sure]).all() and sure.mean() > 0.9
    assert {1, 2} <= set(np.unique(got).tolist())
    # Ids the re-detection changed on the working copy come to the frame's size by nearest neighbour.
    found = shown.copy()
    found[0:4, 60:64] = 5
    moved = _upsampled(shown, found, scores, owners, region, size)
    assert (moved[0:8, 120:128] == 5).all() and (moved[sure & (got != 0)] == got[sure & (got != 0)]).all()


class _PaintedFrameModel:
    """A stand-in person model for :meth:`PriorPropagator._unoccluded`: records the frame it is shown and
    returns ``mask`` (on the working grid) for every ROI."""

    device = "cpu"

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask
        self.calls: list[tuple] = []

    def segment(self, frames, rois, refine_passes=None, mask_size=None):
        import torch

        from vmat.person.model import PersonSegmentation

        self.calls.append((frames.clone(), len(rois), refine_passes, mask_size))
        masks = torch.from_numpy(self.mask).float()[None].repeat(len(rois), 1, 1)
        return PersonSegmentation(masks, torch.zeros(len(rois), 39, 5), torch.zeros(len(rois)), rois)


def _histograms(image: np.ndarray, ids: np.ndarray) -> dict[int, np.ndarray]:
    """The flow propagator's colour model of each id of ``ids`` on ``image``."""
    from vmat.propagation.appearance import colour_codes, colour_histogram
    from vmat.propagation.propagator import FlowPropagatorConfig

    bins = FlowPropagatorConfig().histogram_bins
    codes = colour_codes(image, bins)
    return {int(k): colour_histogram(codes[ids == k], bins) for k in np.unique(ids)}


def _occlusion_case(mask: np.ndarray, size: float):
    """Person 1 (untrusted) partly behind person 2 (trusted) on a 40x60 frame; returns the propagator's
    answer and the fake model."""
    import torch

    from vmat.person.roi import rois_from_points

    frame = np.full((40, 60, 3), 200, np.uint8)
    frames = torch.from_numpy(frame).permute(2, 0, 1)[None]
    occluder = np.zeros((40, 60), np.float32)
    occluder[5:35, 30:45] = 1.0  # person 2, in front
    flow_ids = np.zeros((40, 60), np.uint16)
    flow_ids[10:30, 24:34] = 1  # what the flow still carries of person 1 (partly under person 2)
    flow_ids[5:35, 34:45] = 2
    model = _PaintedFrameModel(mask)
    propagator = PriorPropagator(model=model)
    rois = rois_from_points(torch.tensor([[28.0, 20.0], [38.0, 20.0]]), 40.0)
    masks = np.stack([np.zeros_like(occluder), occluder])
    colours = (frame, _histograms(frame, flow_ids))
    found = propagator._unoccluded(frames, rois, masks, [False, True], flow_ids, [1, 2], {1: size, 2: 450.0}, colours)
    return found, model


def test_a_hidden_person_is_segmented_again_with_the_trusted_one_painted_out():
    # The network sees person 1's whole body (rows 10-30, columns 10-40, some of it under person 2):
    # it is taken, but never on person 2's pixels, and the network was shown person 2 painted grey.
    body = np.zeros((40, 60), np.float32)
    body[10:30, 10:40] = 0.9
    found, model = _occlusion_case(body, size=400.0)
    assert list(found) == [0]
    # The frame is one grey, so nothing under person 2's paint looks more like person 1 than like person 2.
    np.testing.assert_array_equal(found[0][:, 30:40][5:35], 0.0)  # person 2's pixels
    assert (found[0][10:30, 10:30] == np.float32(0.9)).all()  # person 1's own, beyond what the flow carried
    shown, count, passes, size = model.calls[0]
    assert count == 1 and passes == 0 and size == (40, 60)
    assert (shown[0, :, 5:35, 30:45] == 128).all() and (shown[0, :, :, :30] == 200).all()


class _SlidRoiModel:
    """A stand-in person model for :meth:`PriorPropagator._fuse` with two people: the first pass gives both
    ROIs ``front`` (person 1's ROI slid onto person 2, who is in front), the second (person 2 painted grey)
    gives ``body`` for person 1."""

    device = "cpu"

    def __init__(self, front: np.ndarray, body: np.ndarray) -> None:
        self.passes = [front, body]

    def segment(self, frames, rois, refine_passes=None, mask_size=None):
        import torch

        from vmat.person.model import PersonSegmentation

        mask = torch.from_numpy(self.passes.pop(0)).float()[None].repeat(len(rois), 1, 1)
        return PersonSegmentation(mask, torch.zeros(len(rois), 39, 5), torch.ones(len(rois)), rois)


def test_a_trusted_mask_spilling_onto_a_hidden_person_leaves_them_what_looks_like_them():
    # Person 1 (green, rows 10-30, columns 14-34) stands partly behind person 2 (purple, columns 34-48).
    # Person 2's prior mask spills over person 1's right side (columns 26-34), and person 1's ROI gives the
    # same mask, so person 1 is not trusted and is segmented again with person 2 painted grey. On the
    # painted pixels the flow's label 1 stays where the colour is person 1's (columns 26-34; before, the
    # spill took them), and goes to person 2 where the flow dragged it onto purple (columns 34-36).
    import torch

    from vmat.propagation.prior import PersonTrack, best_labels

    image = np.zeros((40, 60, 3), np.uint8)
    image[:, :34] = (60, 170, 60)
    image[:, 34:] = (150, 60, 170)
    flow_ids = np.zeros((40, 60), np.uint16)
    flow_ids[10:30, 14:36] = 1
    flow_ids[5:35, 36:48] = 2
    front = np.zeros((40, 60), np.float32)
    front[5:35, 26:48] = 1.0
    body = np.zeros((40, 60), np.float32)
    body[10:30, 14:34] = 0.9
    propagator = PriorPropagator(model=_SlidRoiModel(front, body))
    frames = torch.from_numpy(image).permute(2, 0, 1)[None]
    people = {1: PersonTrack(None), 2: PersonTrack(None)}
    counts = np.bincount(flow_ids.reshape(-1))
    sizes = {1: 440.0, 2: 360.0}
    region, scores, labels = propagator._fuse(
        frames, image, flow_ids, counts, people, [1, 2], sizes, _histograms(image, flow_ids)
    )
    ids = np.zeros_like(flow_ids)
    ids[region] = best_labels(list(scores), labels)
    expected = np.zeros_like(flow_ids)
    expected[5:35, 26:48] = 2  # person 2's prior mask
    expected[10:30, 14:34] = 1  # person 1: their own pixels, and the green ones under person 2's spill
    np.testing.assert_array_equal(ids, expected)
    assert people[1].landmarks is None and people[2].landmarks is not None  # 2 trusted, 1 not


def test_a_mask_off_the_carried_person_or_too_large_is_not_taken():
    # A mask elsewhere in the ROI (not on what the flow carries of person 1) is someone or something else.
    elsewhere = np.zeros((40, 60), np.float32)
    elsewhere[0:8, 0:20] = 0.9
    assert _occlusion_case(elsewhere, size=400.0)[0] == {}
    # A mask far larger than person 1 was lately (1.5x the remembered size) is not theirs either.
    body = np.zeros((40, 60), np.float32)
    body[10:30, 10:40] = 0.9  # 400 px off person 2
    assert _occlusion_case(body, size=260.0)[0] == {}
    assert list(_occlusion_case(body, size=270.0)[0]) == [0]


def test_nothing_is_segmented_again_without_a_trusted_person():
    import torch

    from vmat.person.roi import rois_from_points

    model = _PaintedFrameModel(np.ones((40, 60), np.float32))
    propagator = PriorPropagator(model=model)
    frames = torch.zeros(1, 3, 40, 60, dtype=torch.uint8)
    rois = rois_from_points(torch.tensor([[28.0, 20.0], [38.0, 20.0]]), 40.0)
    flow_ids = np.zeros((40, 60), np.uint16)
    flow_ids[10:30, 20:30] = 1
    masks = np.zeros((2, 40, 60), np.float32)
    colours = (np.zeros((40, 60, 3), np.uint8), {})
    assert propagator._unoccluded(frames, rois, masks, [False, False], flow_ids, [1, 2], {1: 200.0, 2: 200.0}, colours) == {}
    assert model.calls == []


def _box_roi_size(carried_rows: int, remembered: float, growth: float = 2.0) -> float:
    """The ROI size (frame pixels) :meth:`PriorPropagator._rois` gives person 1, untrusted (no landmarks),
    whose flow mask is 10 columns by ``carried_rows`` rows on a 60x80 frame, with ``remembered`` pixels."""
    from vmat.propagation.prior import PersonTrack

    propagator = PriorPropagator(PriorPropagatorConfig(max_box_growth=growth), model=_PaintedFrameModel(np.zeros((60, 80))))
    flow_ids = np.zeros((60, 80), np.uint16)
    flow_ids[20 : 20 + carried_rows, 30:40] = 1
    rois, from_box = propagator._rois(
        flow_ids, np.bincount(flow_ids.reshape(-1)), {1: PersonTrack(None)}, [1], (1.0, 1.0), {1: remembered}
    )
    assert from_box
    return float(rois.size[0])


def test_a_box_roi_grows_with_what_the_flow_lost_of_the_person():
    # 20x10 carried: the box ROI is 1.25 x 20 = 25 px; a person remembered 4x larger gets it twice as large
    # (sqrt of the area ratio), at most max_box_growth times; one not larger than carried keeps it.
    assert _box_roi_size(20, remembered=200.0) == pytest.approx(25.0)
    assert _box_roi_size(20, remembered=100.0) == pytest.approx(25.0)
    assert _box_roi_size(20, remembered=800.0) == pytest.approx(50.0)
    assert _box_roi_size(20, remembered=450.0) == pytest.approx(37.5)
    assert _box_roi_size(20, remembered=3200.0) == pytest.approx(50.0)
    assert _box_roi_size(20, remembered=3200.0, growth=1.0) == pytest.approx(25.0)


@pytest.mark.parametrize("tiles", [True, False])
def test_a_lost_small_person_is_looked_for_in_tiles_too(judo, tiles):
    # judo frame 5's annotated spectator (id 2, 159 px tall at 480p) is found only in tiles
    # (tests/person/test_detector.py): with them, redetection gives a lost id back where the first frame's
    # finder would have found it; a person the tiles alone find is not picked up as someone new.
    import cv2

    from vmat.propagation.idmask import read_id_mask

    frame = cv2.cvtColor(cv2.imread(str(judo / "frames" / "00005.jpg")), cv2.COLOR_BGR2RGB)
    ids = read_id_mask(judo / "masks" / "00005.png").astype(np.uint16)
    propagator = PriorPropagator(PriorPropagatorConfig(redetect_tiles=tiles, pick_up_new=True))
    state = propagator.start(frame, ids)
    image, truth = propagator._capped(frame), propagator._capped(ids) == 2
    nobody = np.zeros(truth.shape, np.uint16)
    found, _ = propagator._redetect(image, propagator._frames(frame), nobody, [2], state)
    assert (_iou(found == 2, truth) >= 0.5) == tiles  # measured 0.95 with tiles, 0 without
    picked, _ = propagator._redetect(image, propagator._frames(frame), nobody, [], state)
    assert not picked[truth].any()
