"""The never-seen fill keeps the last frame's gain and seam correction while the new ones are within noise of them."""

import numpy as np
import pytest
import torch

from tests.editing.test_completion import frame, texture
from vmat.editing import CompletionConfig, Filled, complete_background, complete_stream
from vmat.editing import completion
from vmat.editing.blending import gain_of
from vmat.editing.fill_memory import FillMemory


def completed(stacks: list, config: CompletionConfig, streamed: bool) -> list:
    return list(complete_stream(iter(stacks), config)) if streamed else list(complete_background(stacks, config))


def forgetful(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each frame decides afresh, as completion did before it had a memory."""
    monkeypatch.setattr(FillMemory, "take", lambda self, index: None)


def test_a_gain_within_noise_of_the_kept_one_keeps_it():
    reference = np.random.default_rng(0).integers(100, 200, (32, 32, 3)).astype(np.uint8)
    where = np.ones((32, 32), bool)
    donor = np.round(reference / 1.004).astype(np.uint8)  # 0.4% darker
    kept = np.array([1.011, 1.011, 1.011], np.float32)
    assert gain_of(reference, donor, where) is None  # within noise of 1
    assert np.array_equal(gain_of(reference, donor, where, keep=kept), kept)  # within noise of the kept gain
    farther = np.round(reference / 1.03).astype(np.uint8)
    assert np.allclose(gain_of(reference, farther, where, keep=kept), 1.03, atol=0.004)  # a real change
    assert gain_of(reference, donor, np.zeros_like(where), keep=kept) is kept  # nothing measured: it holds


@pytest.mark.parametrize("streamed", [False, True])
def test_a_still_fill_does_not_flicker_with_exposure_noise(streamed, monkeypatch):
    """A person never moves (what they hide is invented); after 8 frames auto-exposure settles about 1%
    above the plate, wavering by 0.4% from frame to frame, across the gain's tolerance. The fill takes one
    gain and keeps it; deciding afresh, it jumps between 1 and 1.012 from frame to frame. (The blend is
    off: its membrane would carry most of an exposure change in from the border, gain or not.)"""
    background = texture(40, 56, seed=3, smooth=1.5)
    base = 0.45 * background + 100  # 100-215: nothing clipped, no dark pixel left out of the gain
    plate = 1.005  # the mean exposure of the 12 frames below
    exposures = [1.0] * 8 + [plate * g for g in (1.008, 1.012, 1.008, 1.012)]
    stacks = [frame(np.round(base * e).astype(np.uint8), [(20, 10, 36, 34)]) for e in exposures]
    config = CompletionConfig(camera="static", blend=False)

    def steps(done: list) -> int:
        fills = [stack.colour[0][:, 14:30, 24:32] for stack, _ in done[9:]]
        assert all((source[14:30, 24:32] == Filled.INPAINTED).all() for _, source in done[9:])
        return max(int(((a - b).abs().max() * 255).round()) for a, b in zip(fills, fills[1:]))

    assert steps(completed(stacks, config, streamed)) <= 1
    forgetful(monkeypatch)
    assert steps(completed(stacks, config, streamed)) >= 2


def test_the_memory_serves_only_the_next_frame_and_once():
    memory = FillMemory()
    gain = np.array([1.02, 1.0, 0.98])
    memory.keep(4, gain)
    assert memory.take(6) is None  # frame 5 was not completed through it
    assert memory.take(5) is None  # already forgotten
    memory.keep(5, gain)
    last = memory.take(6)
    assert last is not None and last.index == 5 and last.gain is gain
    assert memory.index is None and memory.gain is None


def test_the_seam_correction_is_carried_with_the_camera():
    memory = FillMemory()
    ys, xs = np.mgrid[:20, :30]
    correction = np.stack([xs + 100 * ys, -xs, ys], -1).astype(np.float32)
    memory.keep(3, None, correction, (slice(10, 30), slice(40, 70)))
    motion = np.array([[1.0, 0.0, -5.0], [0.0, 1.0, 2.0], [0.0, 0.0, 1.0]])  # the scene moves 5 px left, 2 down
    moved, known = memory.carried(motion, (slice(12, 32), slice(30, 60)))
    # Frame pixel (y, x) now shows what was at (y - 2, x + 5): crop (r, c) of the new box is frame (12 + r,
    # 30 + c), which was crop (12 + r - 2 - 10, 30 + c + 5 - 40) of the old one.
    r, c = 5, 7
    assert np.allclose(moved[r, c], correction[r, c - 5])
    assert not known[:, :5].any() and known[:, 5:].all()  # the old box's left edge came from off it
    assert memory.take(4).carried(motion, (slice(0, 4), slice(0, 4))) is not None


def jittering_clip(exposures: list[float], seed: int = 7) -> list:
    """A person who never moves (what they hide is invented), whose mask's edges jitter by up to 2 px a
    frame, over a still background with sensor noise of 3 levels; frame ``t`` exposed ``exposures[t]``."""
    background = 0.45 * texture(40, 56, seed=3, smooth=1.5) + 100
    rng = np.random.default_rng(seed)
    stacks = []
    for exposure in exposures:
        x0, y0, x1, y1 = (np.array([20, 10, 36, 34]) + rng.integers(-2, 3, 4)).tolist()
        image = np.clip(background * exposure + rng.normal(0, 3, background.shape) + 0.5, 0, 255).astype(np.uint8)
        stacks.append(frame(image, [(x0, y0, x1, y1)]))
    return stacks


def fill_changes(done: list) -> list[float]:
    """Per pair of consecutive frames, the mean absolute change (8-bit levels) of the background plane
    where both invented it."""
    changes = []
    for (last, last_source), (stack, source) in zip(done, done[1:]):
        both = torch.from_numpy((source == Filled.INPAINTED) & (last_source == Filled.INPAINTED))
        change = ((stack.colour[0] - last.colour[0]).abs() * 255)[:, both]
        changes.append(float(change.mean()))
    return changes


@pytest.mark.parametrize("streamed", [False, True])
def test_the_seam_blend_holds_through_exposure_noise(streamed, monkeypatch):
    """Auto-exposure wavers by 1% (1.5 levels) from frame to frame, within the hold's tolerance: once the
    seam correction has settled it stays (the gain is off: this is the seam blend alone). Deciding afresh,
    the fill follows every waver."""
    stacks = jittering_clip([1.0, 1.01] * 5)
    config = CompletionConfig(camera="static", gain=False)
    assert np.mean(fill_changes(completed(stacks, config, streamed))[-4:]) < 0.1
    forgetful(monkeypatch)
    assert np.mean(fill_changes(completed(stacks, config, streamed))) > 0.5


def test_the_seam_blend_carries_the_smooth_difference_not_each_border_pixel(monkeypatch):
    """Still exposure: the pixels around the hole change only with the mask and the sensor's noise. Drawn
    through the smoothed difference the fill barely changes, even deciding afresh each frame; through
    each border pixel's own difference (a scale far below a pixel) it takes their noise."""
    stacks = jittering_clip([1.0] * 10)
    config = CompletionConfig(camera="static", gain=False)
    forgetful(monkeypatch)
    assert np.mean(fill_changes(completed(stacks, config, False))) < 0.05
    monkeypatch.setattr(completion, "_SEAM_SCALE", 0.3)
    assert np.mean(fill_changes(completed(stacks, config, False))) > 0.1


def test_the_seam_blend_follows_a_real_exposure_change(monkeypatch):
    """Auto-exposure rises 6% (about 9 levels) at frame 6 and stays: the seam correction follows in that
    frame as far as a correction decided afresh does (the gain is off, so hidden pixels around the hole,
    copied from frames of either exposure, rise about half as much)."""
    stacks = jittering_clip([1.0] * 6 + [1.06] * 4)
    config = CompletionConfig(camera="static", gain=False)

    def rises(done: list) -> np.ndarray:
        before = done[5]
        steps = []
        for stack, source in done[6:]:
            both = torch.from_numpy((before.source == Filled.INPAINTED) & (source == Filled.INPAINTED))
            steps.append(float(((stack.colour[0] - before.stack.colour[0]) * 255)[:, both].mean()))
        return np.array(steps)

    held = rises(completed(stacks, config, False))
    forgetful(monkeypatch)
    afresh = rises(completed(stacks, config, False))
    assert (afresh > 4).all() and np.abs(held - afresh).max() < 1


@pytest.mark.parametrize("streamed", [False, True])
def test_the_seam_is_held_on_a_moving_camera_with_no_window(streamed, monkeypatch):
    """With no donors (``window=0``) the seam's difference is still carried from the frame before with the
    camera, by the whole clip and the stream alike (the stream keeps the frame before's camera motion):
    a person at the right edge of a pan hides a sliver of new ground every frame, which is invented."""
    from tests.editing.test_completion_stream import pan

    calls = []
    monkeypatch.setattr(completion, "held", lambda difference, *rest: calls.append(1) or difference)
    _, stacks = pan(8, 2, box=(50, 14, 64, 34))
    done = completed(stacks, CompletionConfig(window=0, camera="moving"), streamed)
    inventing = sum(bool((d.source == Filled.INPAINTED).any()) for d in done)
    assert inventing == 8 and len(calls) == 7
