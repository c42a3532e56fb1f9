"""Completion with leftovers (CompletionConfig.leftovers): a removed person's parts their matte missed are
completed as ground, in the whole clip and in the one-pass stream alike."""

import numpy as np
import pytest

from tests.editing.test_completion_stream import same
from tests.editing.test_leftovers import FRAMES, clip, foot_at, ground_image, hidden_of, person_at, stack_of
from vmat.editing.completion import CompletionConfig, Filled, complete_background
from vmat.editing.completion_stream import complete_stream
from vmat.editing.leftovers import ClipLeftovers
from vmat.layers import tensor_to_image

# A person walks left to right, a white toe 5 px beside their matte's lowest rows (tests.editing.test_leftovers).
STACKS = [stack_of(frame, [person_at(t)]) for t, frame in enumerate(clip())]
GROUND = ground_image()


def completed(config: CompletionConfig, lookahead: int | None = None) -> list:
    if lookahead is None:
        return list(complete_background(STACKS, config, removing=[1]))
    return list(complete_stream(iter(STACKS), config, removing=[1], lookahead=lookahead))


def toe(t: int) -> np.ndarray:
    return foot_at(t) & ~hidden_of(person_at(t))


@pytest.mark.parametrize("lookahead", [None, 6], ids=["whole clip", "stream"])
def test_a_missed_toe_is_completed_as_the_ground(lookahead):
    """Every frame's toe (18 px outside the matte and its margin) is completed, within a few levels of the
    ground (noise 3); with ``leftovers=None`` it stays, white. The stream's window (2 frames) finishes a
    frame 4 frames after it is pushed: the ground has 5 frames or more by then (4 are needed)."""
    config = CompletionConfig(window=2, camera="static")
    done = completed(config, lookahead)
    kept = completed(CompletionConfig(window=2, camera="static", leftovers=None), lookahead)
    for t in range(FRAMES):
        assert toe(t).sum() == 18
        assert (done[t].source[toe(t)] != Filled.SEEN).all()
        background = tensor_to_image(done[t].stack.colour[0]).astype(np.float32)
        assert np.abs(background - GROUND)[toe(t)].mean() < 4.0
        assert (kept[t].source[toe(t)] == Filled.SEEN).all()
        assert (tensor_to_image(kept[t].stack.colour[0])[toe(t)] >= 220).all()
    # Nothing else is taken: only the toes and their 1-pixel soft edge are no longer seen.
    for t in range(FRAMES):
        newly = (done[t].source != Filled.SEEN) & (kept[t].source == Filled.SEEN)
        near_toe = np.zeros_like(newly)
        near_toe[foot_at(t).any(axis=1).nonzero()[0].min() - 1 :, :] = True
        assert not (newly & ~near_toe).any()


def test_a_lookahead_covering_the_clip_finds_and_fills_them_as_the_whole_clip():
    config = CompletionConfig(camera="static")
    whole = completed(config)
    assert sum(int((w.source[toe(t)] != Filled.SEEN).sum()) for t, w in enumerate(whole)) == 18 * FRAMES
    assert same(completed(config, lookahead=FRAMES), whole)


@pytest.mark.parametrize("lookahead", [None, FRAMES], ids=["whole clip", "stream"])
def test_the_plate_takes_the_ground_where_it_summed_a_toe(lookahead, monkeypatch):
    """With no donors (``window=0``), where the person stands in a frame their last frame's toe lay comes
    from the plate, the mean of the 11 frames that saw it, the toe in one of them (about 10 levels off):
    it takes the ground's mean there instead."""
    config = CompletionConfig(window=0, camera="static")

    def errors() -> list[float]:
        done = completed(config, lookahead)
        result = []
        for t in range(1, FRAMES):
            where = toe(t - 1) & (done[t].source == Filled.PLATE)
            assert where.sum() == 18
            background = tensor_to_image(done[t].stack.colour[0]).astype(np.float32)
            result.append(float(np.abs(background - GROUND)[where].mean()))
        return result

    assert max(errors()) < 2.0
    monkeypatch.setattr(ClipLeftovers, "correct", lambda self, *args: None)
    assert min(errors()) > 5.0
