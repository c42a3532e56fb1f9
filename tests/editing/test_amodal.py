"""Completing the people who stay where a removed person hid them (vmat.editing.amodal)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from vmat.editing.amodal import AmodalConfig, AmodalPeople, complete_people
from vmat.editing.completion import CompletionConfig, complete_background
from vmat.editing.reordering import reorder
from vmat.io import Frame
from vmat.layers import LayerStack
from vmat.pipeline.clock import StageClock
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import Layered, people_completed

HEIGHT, WIDTH = 40, 80
FRONT, BEHIND = 1, 2
TEXTURE = np.random.default_rng(0).random((3, 26, 16), dtype=np.float32)


def scene(behind_left: int, front_left: int, front_width: int = 8) -> tuple[LayerStack, np.ndarray]:
    """A textured person (id 2, rows 10-35, 16 wide from ``behind_left``) behind an opaque bar (id 1, from
    ``front_left``), as a decomposition gives them: the person behind unknown (alpha 0) under the bar. Also
    the person's true own alpha."""
    colour = np.zeros((3, 3, HEIGHT, WIDTH), np.float32)
    alpha = np.zeros((3, HEIGHT, WIDTH), np.float32)
    colour[0] = 0.5
    alpha[0] = 1.0
    colour[2, :, 10:36, behind_left : behind_left + 16] = TEXTURE
    alpha[2, 10:36, behind_left : behind_left + 16] = 1.0
    truth = alpha[2].copy()
    colour[1, 0, 2:38, front_left : front_left + front_width] = 1.0
    alpha[1, 2:38, front_left : front_left + front_width] = 1.0
    hidden = alpha[1] > 0
    alpha[2][hidden] = 0.0
    colour[2][:, hidden] = 0.0
    stack = LayerStack(torch.from_numpy(colour), torch.from_numpy(alpha), torch.tensor([np.inf, 1.0, 2.0]), (0, FRONT, BEHIND))
    return stack, truth


def true_colour(behind_left: int) -> np.ndarray:
    colour = np.zeros((3, HEIGHT, WIDTH), np.float32)
    colour[:, 10:36, behind_left : behind_left + 16] = TEXTURE
    return colour


def test_what_an_earlier_frame_saw_comes_back_exactly():
    # The bar slides right across a person standing still: what it covers now, an earlier frame saw.
    frames = [scene(30, 22 + 3 * t) for t in range(6)]
    completed = list(complete_people([stack for stack, _ in frames], {FRONT}, AmodalConfig(lookahead=0)))
    assert completed[0] is frames[0][0]  # nothing remembered yet
    for t in range(1, 6):
        stack, truth = frames[t]
        bar = stack.alpha[1].numpy() > 0
        seen_before = np.zeros_like(bar)
        for earlier in range(t):
            seen_before |= frames[earlier][0].alpha[2].numpy() > 0
        back = bar & seen_before
        assert back.any()
        alpha = completed[t].alpha[2].numpy()
        np.testing.assert_array_equal(alpha[back], truth[back])
        np.testing.assert_allclose(completed[t].colour[2].numpy()[:, back], true_colour(30)[:, back], atol=1e-6)
        never = bar & ~seen_before & (truth > 0)
        assert not alpha[never].any()  # what no frame saw stays unknown


def test_what_a_later_frame_sees_comes_back_from_the_look_ahead():
    # The bar slides left across a person standing still: what it covers now, only later frames see.
    frames = [scene(30, 40 - 3 * t)[0] for t in range(6)]
    for lookahead, filled in ((3, True), (0, False)):
        completed = list(complete_people(frames, {FRONT}, AmodalConfig(lookahead=lookahead)))
        assert len(completed) == len(frames)
        bar = frames[1].alpha[1].numpy() > 0
        later = bar & (frames[2].alpha[2].numpy() > 0)  # what the next frame sees of the person under the bar
        assert later.any()
        alpha = completed[1].alpha[2].numpy()
        if filled:
            np.testing.assert_array_equal(alpha[later], 1.0)
            np.testing.assert_allclose(completed[1].colour[2].numpy()[:, later], true_colour(30)[:, later], atol=1e-6)
        else:
            assert not alpha[later].any()


def test_a_moving_person_is_followed():
    # The person walks right 2 px a frame behind a bar that stays: each column they carry under it was seen.
    frames = [scene(10 + 2 * t, 30) for t in range(8)]
    completed = list(complete_people([stack for stack, _ in frames], {FRONT}))
    for t in range(3, 8):
        stack, truth = frames[t]
        under = (stack.alpha[1].numpy() > 0) & (truth > 0)
        # Columns of the person that reached the bar's left edge before now were seen: 2 px a frame.
        seen = under & (np.arange(WIDTH) < 30 + 2 * t)[None, :]
        assert seen.any()
        np.testing.assert_array_equal(completed[t].alpha[2].numpy()[seen], 1.0)
        np.testing.assert_allclose(completed[t].colour[2].numpy()[:, seen], true_colour(10 + 2 * t)[:, seen], atol=1e-6)


def test_the_picture_before_any_edit_is_unchanged():
    frames = [scene(30, 22 + 3 * t) for t in range(4)]
    for (stack, _), done in zip(frames, complete_people([stack for stack, _ in frames], {FRONT})):
        torch.testing.assert_close(done.render(), stack.render(), rtol=0, atol=0)


def test_nobody_removed_in_front_leaves_every_stack_as_it_is():
    frames = [scene(30, 22 + 3 * t)[0] for t in range(3)]
    for removing in (set(), {BEHIND}, {7}):
        for stack, done in zip(frames, complete_people(frames, removing)):
            assert done is stack


def test_a_sighting_that_does_not_join_the_person_is_dropped():
    # Seen on the left, then the person jumps far right, too far to follow: what was remembered under the bar
    # on the left would float free of them, so it is not filled.
    first, _ = scene(20, 40)
    second, _ = scene(60, 20, front_width=18)
    people = AmodalPeople({FRONT}, AmodalConfig(search=0.1, lookahead=0))
    people.push(first)
    [done] = people.push(second)
    assert done is second
    assert people.state.filled_pixels == 0


def test_memory_is_bounded():
    people = AmodalPeople({FRONT}, AmodalConfig(memory_frames=3, lookahead=2))
    for t in range(10):
        assert len(people.push(scene(30, 22 + t)[0])) == (t >= 2)
        assert len(people.state.window) <= 3 + 1 + 2  # the memory, the frame being completed, the look-ahead
        # Frames already completed are kept for their sightings only, not their whole layers.
        kept = people.state.window
        assert all(pushed.layers is None for pushed in list(kept)[: people.state.next])
        assert all(pushed.layers is not None for pushed in list(kept)[people.state.next :])
    assert len(people.finish()) == 2


def test_frames_waiting_for_their_look_ahead_are_held_as_the_layers_file_stores_them_when_that_is_exact(monkeypatch):
    """A stack on the layers file's grid (8-bit colour, 16-bit alpha, each person's colour only over their box)
    waits as those arrays, a tenth of the memory, and comes back exactly as if it had waited whole; a stack off
    that grid waits whole."""
    from vmat.editing import amodal
    from vmat.layers.store import decode_stack, encode_stack

    raw = [scene(30, 40 - 3 * t)[0] for t in range(6)]
    on_grid = [decode_stack(encode_stack(stack), WIDTH, HEIGHT) for stack in raw]
    for frames, held_as in ((on_grid, dict), (raw, LayerStack)):
        people = AmodalPeople({FRONT}, AmodalConfig(lookahead=3))
        for frame in frames[:3]:
            assert people.push(frame) == []  # the first frame hides someone: everything waits behind it
        assert all(isinstance(pushed.layers, held_as) for pushed in people.state.window)
    whole = list(complete_people(on_grid, {FRONT}, AmodalConfig(lookahead=3)))
    monkeypatch.setattr(amodal._Pushed, "compact", lambda self: None)
    kept_whole = list(complete_people(on_grid, {FRONT}, AmodalConfig(lookahead=3)))
    for a, b in zip(whole, kept_whole, strict=True):
        assert torch.equal(a.alpha, b.alpha) and torch.equal(a.colour, b.colour) and a.ids == b.ids
    assert any(not torch.equal(a.alpha, frame.alpha) for a, frame in zip(whole, on_grid))  # something was completed


def striding(leg_left: int, front: bool) -> LayerStack:
    """A person (id 2) with a still torso (rows 4-29) and one leg (rows 30-59, 8 wide from ``leg_left``), and,
    when ``front``, an opaque bar (id 1) over rows 14-47 hiding the lower torso and the upper leg."""
    height, width = 64, 80
    colour = np.zeros((3, 3, height, width), np.float32)
    alpha = np.zeros((3, height, width), np.float32)
    colour[0], alpha[0] = 0.5, 1.0
    alpha[2, 4:30, 30:50] = 1.0
    alpha[2, 30:60, leg_left : leg_left + 8] = 1.0
    colour[2, 1][alpha[2] > 0] = 0.8
    if front:
        alpha[1, 14:48, 20:60] = 1.0
        colour[1, 2][alpha[1] > 0] = 1.0
        alpha[2][alpha[1] > 0] = 0.0
    return LayerStack(torch.from_numpy(colour), torch.from_numpy(alpha), torch.tensor([np.inf, 1.0, 2.0]), (0, FRONT, BEHIND))


def test_a_limb_that_moved_is_not_laid_where_it_was():
    # Seen with the leg on the left; now the leg shows on the right below the bar. Laid as seen, the old leg
    # would reach the bar's lower edge where the frame shows ground: refused there, the torso still filled.
    before, now = striding(30, front=False), striding(42, front=True)
    for reach, old_leg_filled in ((0.25, False), (0.0, True)):
        people = AmodalPeople({FRONT}, AmodalConfig(contradiction_reach=reach, lookahead=0))
        people.push(before)
        [done] = people.push(now)
        alpha = done.alpha[2].numpy()
        np.testing.assert_array_equal(alpha[14:30, 30:50], 1.0)
        old_leg = alpha[34:48, 30:38] > 0
        assert old_leg.all() if old_leg_filled else not old_leg.any()
        assert not alpha[30:48, 42:50].any()  # the leg's new upper part was never seen


def test_a_swap_brings_forward_the_whole_person():
    frames = [scene(30, 22 + 3 * t)[0] for t in range(5)]
    stack = frames[-1]
    seen_before = np.zeros((HEIGHT, WIDTH), bool)
    for earlier in frames[:-1]:
        seen_before |= earlier.alpha[2].numpy() > 0
    back = (stack.alpha[1].numpy() > 0) & seen_before
    done = list(complete_people(frames, {FRONT, BEHIND}))[-1]
    swapped, plain = reorder(done, FRONT, BEHIND).render().numpy(), reorder(stack, FRONT, BEHIND).render().numpy()
    np.testing.assert_allclose(swapped[:, back], true_colour(30)[:, back], atol=1e-6)
    assert not np.allclose(plain[:, back], true_colour(30)[:, back])  # without it, the bar shows through


def test_the_pipeline_step_hands_back_every_frame_in_order_after_its_look_ahead():
    frames = [scene(30, 40 - 3 * t)[0] for t in range(8)]
    sent = []
    for index, stack in enumerate(frames):
        frame = Frame(index=index, image=np.zeros((HEIGHT, WIDTH, 3), np.uint8), pts=index, time_base=Fraction(1, 30))
        sent.append(Layered(frame, stack, np.full((HEIGHT, WIDTH), index, np.uint8)))
    out = list(people_completed(iter(sent), EditSpec(remove=(FRONT,)), StageClock()))
    assert [item.frame.index for item in out] == list(range(8))
    # Each frame keeps its own frame and completion codes through the look-ahead.
    assert all(item.frame is given.frame and item.source is given.source for item, given in zip(out, sent))
    expected = list(complete_people(frames, {FRONT}, skip={FRONT}))
    for item, stack in zip(out, expected):
        torch.testing.assert_close(item.stack.alpha, stack.alpha, rtol=0, atol=0)
    assert any(not torch.equal(item.stack.alpha, stack.alpha) for item, stack in zip(out, frames))


def test_keep_hidden_leaves_the_people_behind_as_they_were():
    assert EditSpec(remove=(1,), reorder=(2, 3)).uncovering_ids == (1, 2, 3)
    assert EditSpec(remove=(1,), reorder=(2, 3), keep_hidden=True).uncovering_ids == ()


def test_the_people_behind_change_no_view_of_the_background():
    # Why `vmat remove` completes them after the background (vmat.pipeline.run.edit_clip): where they are
    # completed the one in front hides the ground by more than half, so no pass of the background sees a
    # difference. (The agreement of a still camera's frames renders the people too, so it is left out here.)
    frames = [scene(30, 40 - 3 * t)[0] for t in range(8)]
    config = CompletionConfig(agree_frames=None)
    behind_completed = list(complete_people(frames, {FRONT}, skip={FRONT}))
    assert any(not torch.equal(a.alpha, b.alpha) for a, b in zip(behind_completed, frames))
    plain = complete_background(frames, config, removing=[FRONT])
    after = complete_background(behind_completed, config, removing=[FRONT])
    for one, other in zip(plain, after, strict=True):
        assert torch.equal(one.stack.colour[0], other.stack.colour[0])
        np.testing.assert_array_equal(one.source, other.source)


def test_the_rim_the_front_persons_soft_edge_cut_from_the_matte_behind_comes_back():
    """Along a soft edge of the person in front a decomposition cuts the matte behind short: at the edge's
    pixel (the front person at 0.4) the person behind has no alpha of their own, at the next one half. Removing
    the front person would leave a line of background across them there; where an earlier frame saw those
    pixels they come back whole, and where the earlier frames saw ground beside the person they stay empty."""

    def soft(front_left: int) -> LayerStack:
        stack, _ = scene(30, front_left)
        alpha, colour = stack.alpha.numpy().copy(), stack.colour.numpy().copy()
        edge, cut = front_left + 8, front_left + 9  # the bar's trailing soft edge, then the matte cut by it
        alpha[1, 2:38, edge] = 0.4
        colour[1, 0, 2:38, edge] = 1.0
        alpha[2, :, edge] = 0.0
        alpha[2, 10:36, cut] = 0.5
        return stack.replace(alpha=torch.from_numpy(alpha), colour=torch.from_numpy(colour))

    frames = [soft(22 + 3 * t) for t in range(5)]
    done = list(complete_people(frames, {FRONT}, AmodalConfig(lookahead=0)))[-1]
    edge, cut = 22 + 12 + 8, 22 + 12 + 9
    alpha = done.alpha[2].numpy()
    np.testing.assert_array_equal(alpha[10:36, [edge, cut]], 1.0)
    np.testing.assert_allclose(done.colour[2].numpy()[:, 10:36, [edge, cut]], true_colour(30)[:, 10:36, [edge, cut]], atol=1e-6)
    assert not alpha[2:10, edge].any() and not alpha[36:38, edge].any()  # the bar's edge above and below her
