import numpy as np
import pytest

from vmat.temporal.fusion import (
    ForwardBackwardFusion,
    FusionConfig,
    backward_fusion,
    backward_matte,
    forward_fusion,
    frame_change_map,
    fuse,
    pushed,
    release_faint,
    soften_change,
)

# One pixel, one person: the matte drifts a little while nothing changes, then jumps where the frame changes.
ALPHAS = [0.5, 0.52, 0.49, 0.9, 0.91]
CHANGES = [False, False, False, True, False]  # delta(t): frame t differs from frame t-1 (delta(0) unused)


def _run(config, alphas=ALPHAS, changes=CHANGES):
    fusion = ForwardBackwardFusion(config)
    out = []
    for a, c in zip(alphas, changes):
        fused = fusion.push({1: np.array([[a]], np.float32)}, np.array([[c]]))
        if fused is not None:
            out.append(fused)
    out += fusion.flush()
    return [float(f[1][0, 0]) for f in out]


def test_still_stretches_hold_the_matte_when_forward_and_backward_agree():
    # forward: 0.5 0.5 0.5 0.9 0.9; backward: 0.49 0.49 0.49 0.91 0.91 (hand-computed, eq. 12-13)
    assert _run(FusionConfig(lookahead=10, tolerance=0.02)) == pytest.approx([0.5, 0.5, 0.5, 0.9, 0.9])


def test_the_papers_exact_rule_keeps_the_frames_own_matte_when_the_passes_differ():
    assert _run(FusionConfig(lookahead=10, tolerance=0.0)) == pytest.approx(ALPHAS)


def test_lookahead_bounds_the_backward_pass():
    # lookahead 1: the backward pass of frame t starts at frame t+1: A_b(t) = A(t+1) unless frame t+1 changed.
    # backward: 0.52, 0.49, 0.49 (delta(3) set: A(2)), 0.91, 0.91; forward: 0.5, 0.5, 0.5, 0.9, 0.9
    expected = [0.5, 0.5, 0.5, 0.9, 0.9]
    assert _run(FusionConfig(lookahead=1, tolerance=0.02)) == pytest.approx(expected)
    # below |A_f(1) - A_b(1)| = |0.5 - 0.49| frame 1 keeps its own matte
    assert _run(FusionConfig(lookahead=1, tolerance=0.005))[1] == pytest.approx(0.52)


def test_output_is_lookahead_frames_behind_and_complete():
    fusion = ForwardBackwardFusion(FusionConfig(lookahead=3))
    ready = [fusion.push({1: np.zeros((2, 2), np.float32)}, np.zeros((2, 2), bool)) is not None for _ in range(6)]
    assert ready == [False, False, False, True, True, True]
    assert len(fusion.flush()) == 3


def test_a_person_absent_from_a_frame_has_no_matte_there_and_counts_as_zero():
    fusion = ForwardBackwardFusion(FusionConfig(lookahead=5, tolerance=0.0))
    frames = [{1: np.ones((1, 1), np.float32), 2: np.full((1, 1), 0.5, np.float32)}, {1: np.ones((1, 1), np.float32)}]
    for frame in frames:
        assert fusion.push(frame, np.zeros((1, 1), bool)) is None
    first, second = fusion.flush()
    assert set(first) == {1, 2} and set(second) == {1}
    # person 2: forward 0.5 (then 0.5 held in the unchanged pixel), backward from frame 1: A=0 -> differ -> own 0.5
    assert float(first[2][0, 0]) == 0.5


def test_people_long_gone_are_forgotten_so_memory_stays_bounded():
    fusion = ForwardBackwardFusion(FusionConfig(lookahead=2, forget_after=3))
    still = np.zeros((2, 2), bool)
    for t in range(40):  # a new person in every frame, each seen once
        fusion.push({t: np.ones((2, 2), np.float32)}, still)
        # Held: the ids of the last frame emitted and of the three before it.
        assert len(fusion._forward) <= 4
    # Within the limit an absent person's matte is still held (eq. 12), and a returning one fused with it.
    fusion = ForwardBackwardFusion(FusionConfig(lookahead=0, forget_after=3, tolerance=0.0))
    frames = [{1: np.full((1, 1), 0.5, np.float32)}, {}, {}, {}, {1: np.full((1, 1), 0.5, np.float32)}]
    fused = [fusion.push(frame, np.zeros((1, 1), bool)) for frame in frames]
    assert 1 in fusion._forward and float(fused[-1][1][0, 0]) == 0.5


def test_fuse_is_eq_14():
    alpha, forward, backward = np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.2, 0.7]), np.array([0.5, 0.25, 0.9])
    assert fuse(alpha, forward, backward).tolist() == [0.5, 0.2, 0.3]


def test_frame_change_map_thresholds_and_grows():
    previous = np.zeros((7, 7, 3), np.uint8)
    current = previous.copy()
    current[3, 3, 1] = 40  # one pixel changes a lot
    current[0, 0, 0] = 5  # one pixel changes a little
    change = frame_change_map(previous, current, threshold=12, grow=1)
    assert change[3, 3] and change[2, 3] and change[3, 4] and not change[1, 3]
    assert not change[0, 0]
    assert frame_change_map(previous, current, threshold=12, grow=0).sum() == 1


def test_soft_change_weights_blend_the_held_matte_with_the_new_one():
    alpha, held = np.array([[0.8, 0.8, 0.8]], np.float32), np.array([[0.2, 0.2, 0.2]], np.float32)
    weight = np.array([[1.0, 0.25, 0.0]], np.float32)
    assert forward_fusion(alpha, weight, held)[0].tolist() == pytest.approx([0.8, 0.35, 0.2])
    # a bool map is eq. 12 itself
    assert forward_fusion(alpha, weight > 0.5, held)[0].tolist() == pytest.approx([0.8, 0.2, 0.2])


def test_softened_change_is_one_where_changed_and_falls_off_outside():
    change = np.zeros((1, 21), bool)
    change[0, 10] = True
    change = np.repeat(change, 21, 0)  # a vertical line of change
    weight = soften_change(change, 2.0)
    row = weight[10]
    assert row[10] == 1.0 and 0 < row[12] < row[11] < 1 and row[0] < 1e-3
    assert np.array_equal(soften_change(change, 0), change.astype(np.float32))


def test_fuse_carries_a_premultiplied_colour_with_its_alpha():
    # Two pixels of (alpha, premultiplied colour): the alphas agree on the first only, the colours on neither.
    alpha = np.array([[[0.2, 0.2]], [[0.1, 0.1]], [[0.1, 0.1]], [[0.1, 0.1]]], np.float32)
    forward = np.array([[[0.8, 0.8]], [[0.4, 0.4]], [[0.4, 0.4]], [[0.4, 0.4]]], np.float32)
    backward = np.array([[[0.8, 0.3]], [[0.0, 0.0]], [[0.0, 0.0]], [[0.0, 0.0]]], np.float32)
    fused = fuse(alpha, forward, backward)
    assert fused[:, 0, 0].tolist() == forward[:, 0, 0].tolist()
    assert fused[:, 0, 1].tolist() == alpha[:, 0, 1].tolist()


def _whole_frame_backward(window, instance, like):
    """Eq. 13 over whole frames, as the recursion reads: the reference for the box-limited one."""
    frames = [frame.get(instance, np.zeros_like(like)) for frame, _ in window]
    backward = frames[-1]
    for later in range(len(window) - 2, -1, -1):
        backward = backward_fusion(frames[later], window[later + 1][1], backward)
    return backward


@pytest.mark.parametrize("soft", [False, True])
def test_the_backward_pass_in_the_mattes_box_is_the_whole_frames(soft):
    rng = np.random.default_rng(3)
    window = []
    for t in range(6):
        mattes = {}
        for instance, (top, left) in {1: (2 + t, 3), 2: (9, 14 - t)}.items():
            if instance == 2 and t == 2:
                continue  # absent from a frame: matte 0 there
            matte = np.zeros((4, 20, 24), np.float32)
            matte[:, top : top + 6, left : left + 5] = rng.random((4, 6, 5))
            mattes[instance] = matte
        change = rng.random((20, 24)) > 0.5
        window.append((mattes, rng.random((20, 24)).astype(np.float32) if soft else change))
    for instance in (1, 2):
        like = window[0][0][instance]
        result = backward_matte([pushed(*frame) for frame in window], instance, like)
        assert np.array_equal(result, _whole_frame_backward(window, instance, like))


def test_fuse_in_the_disagreements_box_is_the_whole_frames():
    rng = np.random.default_rng(4)
    alpha, forward, backward = rng.random((3, 4, 10, 12)).astype(np.float32)
    backward[0, :] = forward[0, :]
    backward[0, 3:5, 6:9] += 0.5  # they disagree in a box alone
    fused = fuse(alpha, forward, backward, tolerance=0.1)
    assert np.array_equal(fused, np.where(np.abs(forward[0] - backward[0]) <= 0.1, forward, alpha))
    assert fused is not forward


def _held_after(config, frames):
    """Push ``frames`` (a person's matte per frame) with nothing changing after the first, and return the last output."""
    fusion = ForwardBackwardFusion(config)
    still = np.zeros(frames[0].shape[-2:], bool)
    return [fusion.push({1: frame}, still) for frame in frames][-1][1]


def test_a_moving_edges_fading_tail_is_not_held_on_the_ground_it_left():
    """Eq. 12 alone holds the last value a pixel had at its last change for as long as it stays still: the
    fading tail of an edge that moved on (alpha 0.05) stays on the still ground, a ghost of the person."""
    tail = np.zeros((1, 12), np.float32)
    tail[0, :4] = 1.0  # the person
    tail[0, 9] = 0.05  # the tail where their edge was when the ground last changed
    gone = tail.copy()
    gone[0, 9] = 0.0  # the decomposer sees no one there any more
    forward = FusionConfig(lookahead=0, tolerance=float("inf"))
    assert _held_after(FusionConfig(lookahead=0, tolerance=float("inf"), release=None), [tail, gone, gone])[
        0, 9
    ] == pytest.approx(0.05)
    assert _held_after(forward, [tail, gone, gone])[0, 9] == 0.0
    # Within ``release`` (2) pixels of what the frame covers, it is the held soft edge the fusion is for.
    near = gone.copy()
    near[0, 5] = 0.05
    assert _held_after(forward, [near, gone, gone])[0, 5] == pytest.approx(0.05)


def test_a_dropped_still_limb_and_its_soft_edge_are_still_held():
    """The frame's mask drops a still limb (its own matte 0 there): the held solid part and the soft edge
    beside it stay, as eq. 12 holds them; only faint values far from both go."""
    held = np.zeros((1, 12), np.float32)
    held[0, 2:6] = 1.0
    held[0, 6] = 0.3
    held[0, 10] = 0.2
    own = np.zeros_like(held)
    released = release_faint(held.copy(), own, 2)
    assert released[0].tolist() == pytest.approx([0, 0, 1, 1, 1, 1, 0.3, 0, 0, 0, 0, 0])


def test_a_released_premultiplied_matte_loses_its_colour_too():
    held = np.zeros((4, 1, 8), np.float32)
    held[:, 0, 6] = [0.1, 0.05, 0.04, 0.03]
    released = release_faint(held, np.zeros_like(held), 2)
    assert not released.any()


def test_a_negative_release_is_refused():
    with pytest.raises(ValueError, match="release"):
        ForwardBackwardFusion(FusionConfig(release=-1))
