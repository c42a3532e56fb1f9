from __future__ import annotations

import numpy as np
import pytest

from tests.propagation.scenes import disc_shape, moving_scene
from vmat.errors import ConfigError
from vmat.propagation.propagator import FlowPropagator, FlowPropagatorConfig


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def _run(propagator, frames):
    image, ids = frames[0]
    state = propagator.start(image, ids)
    out = [ids]
    for image, _ in frames[1:]:
        ids, state = propagator.step(image, state)
        out.append(ids)
    return out, state


def test_follows_a_moving_object():
    frames = moving_scene(10, [(disc_shape(16), (20, 30), (4, 1), (0, 0, 170))])
    out, _ = _run(FlowPropagator(), frames)
    for predicted, (_, truth) in zip(out, frames):
        assert predicted.dtype == np.uint16 and predicted.shape == truth.shape
        assert _iou(predicted == 1, truth == 1) > 0.9


def test_runs_backwards_in_time_alike():
    frames = moving_scene(10, [(disc_shape(16), (20, 30), (4, 1), (0, 0, 170))])[::-1]
    out, _ = _run(FlowPropagator(), frames)
    assert _iou(out[-1] == 1, frames[-1][1] == 1) > 0.9


def test_keeps_identities_when_people_cross():
    square = np.ones((30, 22), bool)
    frames = moving_scene(
        14,
        [(disc_shape(14), (10, 30), (6, 0), (170, 0, 0)), (square, (120, 34), (-6, 0), (0, 170, 0))],
    )
    out, _ = _run(FlowPropagator(), frames)
    for predicted, (_, truth) in list(zip(out, frames))[-3:]:  # after they have passed each other
        assert _iou(predicted == 1, truth == 1) > 0.75
        assert _iou(predicted == 2, truth == 2) > 0.75


def test_hidden_instance_is_lost_then_found_again_with_its_id():
    # A still red disc (id 1) is covered by a big green square (id 2) passing in front, then shows again.
    big = np.ones((44, 44), bool)
    frames = moving_scene(
        22,
        [(disc_shape(9), (70, 40), (0, 0), (190, 0, 0)), (big, (6, 26), (6, 0), (0, 170, 0))],
        size=(96, 170),
    )
    hidden = [t for t, (_, ids) in enumerate(frames) if not (ids == 1).any()]
    assert hidden and hidden[-1] < 17  # the scene really hides it, then shows it for a few frames
    propagator = FlowPropagator(FlowPropagatorConfig(redetect_every=1))
    out, state = _run(propagator, frames)
    assert any(1 in s for s in [set(np.unique(out[t]).tolist()) for t in hidden]) is False
    assert _iou(out[-1] == 1, frames[-1][1] == 1) > 0.7
    assert 1 not in state.lost


def test_state_does_not_grow_with_the_clip():
    frames = moving_scene(12, [(disc_shape(12), (20, 30), (3, 0), (0, 0, 170))])
    propagator = FlowPropagator()
    sizes = []
    state = propagator.start(*frames[0])
    for image, _ in frames[1:]:
        _, state = propagator.step(image, state)
        arrays = [state.small_grey, state.ids, *state.histograms.values(), *(v.histogram for v in state.lost.values())]
        sizes.append(sum(a.nbytes for a in arrays))
    assert len(set(sizes)) == 1


def test_work_size_scales_down_large_frames_but_returns_full_size():
    frames = moving_scene(4, [(disc_shape(16), (20, 30), (4, 1), (0, 0, 170))], size=(96, 160))
    propagator = FlowPropagator(FlowPropagatorConfig(work_short_side=48))
    out, state = _run(propagator, frames)
    assert state.ids.shape == (48, 80)
    assert out[-1].shape == (96, 160)
    assert _iou(out[-1] == 1, frames[-1][1] == 1) > 0.8


def test_user_errors():
    with pytest.raises(ConfigError):
        FlowPropagator(FlowPropagatorConfig(flow_scale=0))
    propagator = FlowPropagator()
    image = np.zeros((20, 30, 3), np.uint8)
    with pytest.raises(ConfigError):
        propagator.start(image, np.zeros((20, 31), np.uint16))
    state = propagator.start(image, np.zeros((20, 30), np.uint16))
    with pytest.raises(ConfigError):
        propagator.step(np.zeros((22, 30, 3), np.uint8), state)


def test_empty_mask_stays_empty():
    propagator = FlowPropagator()
    image = np.full((20, 30, 3), 90, np.uint8)
    state = propagator.start(image, np.zeros((20, 30), np.uint16))
    ids, _ = propagator.step(image, state)
    assert not ids.any()


def test_judo_round_trip(judo):
    import cv2

    from vmat.propagation.idmask import read_id_mask

    frames = [cv2.imread(str(judo / "frames" / f"{i:05d}.jpg"))[..., ::-1].copy() for i in range(4)]
    truth = read_id_mask(judo / "masks" / "00000.png")
    propagator = FlowPropagator()
    state = propagator.start(frames[0], truth)
    for image in frames[1:]:
        ids, state = propagator.step(image, state)
    state = propagator.start(frames[-1], ids)
    for image in frames[-2::-1]:
        ids, state = propagator.step(image, state)
    assert _iou(ids == 1, truth == 1) > 0.85
