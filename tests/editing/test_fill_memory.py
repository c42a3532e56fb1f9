"""The never-seen fill keeps the last frame's gain while the new one is within noise of it."""

import numpy as np
import pytest

from tests.editing.test_completion import frame, texture
from vmat.editing import CompletionConfig, Filled, complete_background, complete_stream
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
