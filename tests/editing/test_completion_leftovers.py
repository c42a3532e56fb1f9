"""Completion with leftovers (CompletionConfig.leftovers): a removed person's parts their matte missed are
completed as ground, in the whole clip and in the one-pass stream alike."""

import cv2
import numpy as np
import pytest

from tests.editing.test_completion_stream import same
from tests.editing.test_leftovers import FRAMES, HEIGHT, WIDTH, clip, foot_at, ground_image, hidden_of, person_at, stack_of
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


# The same walk on a camera panning right 3 px a frame: the ground is a wider strip of gravel, each frame a
# window on it, and the person and their toe walk as before within the frame.
PAN = 3


def panned(foot: bool) -> list:
    rng = np.random.default_rng(5)
    grain = cv2.GaussianBlur(rng.random((HEIGHT, WIDTH + PAN * FRAMES)).astype(np.float32), (0, 0), 1.5)
    grain = (grain - grain.mean()) / grain.std()
    world = np.array([120, 140, 90], np.float32) * (1.0 + 0.15 * grain[..., None])
    stacks = []
    for t in range(FRAMES):
        frame = world[:, PAN * t : PAN * t + WIDTH] + rng.normal(0.0, 3.0, (HEIGHT, WIDTH, 3))
        if foot:
            frame[foot_at(t)] = (235, 235, 230)
        stacks.append(stack_of(np.clip(frame + 0.5, 0, 255).astype(np.uint8), [person_at(t)]))
    return stacks


def completed_pan(stacks: list, config: CompletionConfig, lookahead: int | None) -> list:
    if lookahead is None:
        return list(complete_background(stacks, config, removing=[1]))
    return list(complete_stream(iter(stacks), config, removing=[1], lookahead=lookahead))


@pytest.mark.parametrize("lookahead", [None, 6], ids=["whole clip", "stream"])
def test_a_panning_cameras_missed_toe_is_found_and_nothing_else(lookahead):
    """On a moving camera the ground is summed on the plate's canvas: every frame's toe is completed but the
    last's (the pan brought the ground there into view 3 frames before: too few to trust), and only the
    toes (and their 1-pixel soft edge); with ``leftovers=None`` they stay, white."""
    stacks = panned(foot=True)
    done = completed_pan(stacks, CompletionConfig(window=2), lookahead)
    kept = completed_pan(stacks, CompletionConfig(window=2, leftovers=None), lookahead)
    for t in range(FRAMES):
        assert (kept[t].source[toe(t)] == Filled.SEEN).all()
        if t == FRAMES - 1:
            assert (done[t].source[toe(t)] == Filled.SEEN).all()
            continue
        assert (done[t].source[toe(t)] != Filled.SEEN).all()
        newly = (done[t].source != Filled.SEEN) & (kept[t].source == Filled.SEEN)
        assert not (newly & ~(cv2.dilate(toe(t).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)).any()
        assert (tensor_to_image(done[t].stack.colour[0])[toe(t)] < 200).all()  # no white shoe left


@pytest.mark.parametrize("lookahead", [None, 6], ids=["whole clip", "stream"])
def test_a_panning_cameras_exact_matte_leaves_nothing(lookahead):
    """With no toe outside the matte, leftovers on or off complete every frame alike."""
    stacks = panned(foot=False)
    on = completed_pan(stacks, CompletionConfig(window=2), lookahead)
    assert same(on, completed_pan(stacks, CompletionConfig(window=2, leftovers=None), lookahead))
