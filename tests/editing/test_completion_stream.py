import numpy as np
import pytest
import torch

from tests.editing.test_completion import frame, static_clip, texture, truth
from tests.editing.test_completion_agree import SWAY
from tests.editing.test_completion_agree import _clip as sway_clip
from vmat.editing.completion import PREVIOUS_DEFAULT, CompletionConfig, Filled, complete_background
from vmat.editing.completion_stream import CompletionStream, complete_stream
from vmat.errors import ConfigError
from vmat.layers import LayerError, LayerStack
from vmat.layers.store import decode_stack, encode_stack


def streamed(stacks, config=CompletionConfig(), cameras=None, **options):
    stream = CompletionStream(config, **options)
    done = []
    for t, stack in enumerate(stacks):
        out = stream.push(stack, None if cameras is None else cameras[t])
        done += out
    return done + stream.finish()


def same(first, second) -> bool:
    """The same completed background planes, codes and pictures (a stream holds the people's planes as the
    layers file does: their colour only over their alpha's box)."""
    return len(first) == len(second) and all(
        torch.equal(a.stack.colour[0], b.stack.colour[0])
        and torch.equal(a.stack.render(), b.stack.render())
        and np.array_equal(a.source, b.source)
        for a, b in zip(first, second)
    )


@pytest.mark.parametrize(
    "config", [CompletionConfig(), PREVIOUS_DEFAULT, CompletionConfig(window=2)], ids=["default", "previous", "window 2"]
)
def test_a_lookahead_covering_the_clip_gives_the_whole_clip_result_exactly(config):
    _, stacks = static_clip()
    for removing in ([], [1]):
        whole = list(complete_background(stacks, config, removing=removing))
        assert same(streamed(stacks, config, removing=removing, lookahead=len(stacks)), whole)
        assert same(list(complete_stream(iter(stacks), config, removing=removing, lookahead=len(stacks))), whole)


def test_a_lookahead_covering_the_clip_takes_the_ground_the_frames_agree_on_as_the_whole_clip():
    """A static camera's frames that show ground every frame's layers hide (CompletionConfig.agree_frames):
    with every frame in the look-ahead the stream's evidence is the whole clip's, and so is its output."""
    stacks, _, _ = sway_clip(SWAY * 2, widen=6)
    # In 8-bit steps, as the stream holds its pending frames (the whole clip form reads them as given).
    stacks = [decode_stack(encode_stack(stack), stack.width, stack.height) for stack in stacks]
    whole = list(complete_background(stacks, CompletionConfig(), removing=[1]))
    invented = list(complete_background(stacks, CompletionConfig(agree_frames=None), removing=[1]))
    taken = sum(int((a.source == Filled.AGREED).sum()) for a in whole)
    assert not any((b.source == Filled.AGREED).any() for b in invented)
    assert taken > 1000
    assert same(streamed(stacks, removing=[1], lookahead=len(stacks)), whole)


def test_the_lookahead_defaults_to_the_configs_and_pending_frames_are_held_compactly():
    _, stacks = static_clip()
    stream = CompletionStream(CompletionConfig(window=2, lookahead=5))
    counts = [len(stream.push(stack)) for stack in stacks]
    assert counts == [0] * 5 + [1] * (len(stacks) - 5)
    # What waits for its look-ahead is at the layers file's precision (bytes), not float planes.
    assert all(isinstance(held, dict) for _, held in stream._pending)
    assert len(stream.finish()) == 5


def test_frames_come_out_in_order_lookahead_frames_behind():
    _, stacks = static_clip()
    stream = CompletionStream(CompletionConfig(window=3), lookahead=2)
    counts = [len(stream.push(stack)) for stack in stacks]
    assert counts == [0, 0] + [1] * (len(stacks) - 2)
    assert len(stream.finish()) == 2


def test_static_camera_fills_every_pixel_seen_so_far_exactly():
    """A person walks across a textured static background: at frame t every hidden pixel that one of the
    frames up to t + lookahead saw is filled with the true background."""
    background = texture(24, 48, seed=11)
    boxes = [(4 * t, 4, 4 * t + 10, 20) for t in range(10)]
    stacks = [frame(background, [box]) for box in boxes]
    lookahead = 2
    done = streamed(stacks, CompletionConfig(window=1), lookahead=lookahead)
    hidden = np.zeros((10, 24, 48), bool)
    covered = np.zeros((10, 24, 48), bool)
    for t, (x0, y0, x1, y1) in enumerate(boxes):
        hidden[t, y0 - 2 : y1 + 2, max(0, x0 - 2) : x1 + 2] = True  # the box and the 2-pixel margin
        covered[t, y0:y1, x0:x1] = True
    for t, (stack, source) in enumerate(done):
        seen_by_then = (~hidden[: t + lookahead + 1]).any(axis=0)
        # The margin is not trusted as seen, but when no frame saw it clearly its background (weight 1) is
        # what the window offers (``partly_seen_above``).
        copied = hidden[t] & (seen_by_then | ~covered[max(0, t - 1) : t + 2].all(axis=0))
        assert np.isin(source[copied], [Filled.NEIGHBOUR, Filled.PLATE]).all()
        assert torch.equal(stack.colour[0][:, torch.from_numpy(copied)], truth(background)[:, torch.from_numpy(copied)])
        assert (source[hidden[t] & ~copied] == Filled.INPAINTED).all()


def pan(frames: int, step: int, width: int = 64, height: int = 48, seed: int = 3, box=(26, 14, 38, 34)):
    """The camera pans right ``step`` pixels a frame; a person moves with it."""
    world = texture(height, width + step * frames, seed=seed, smooth=2.0)
    views = [world[:, step * t : step * t + width] for t in range(frames)]
    return views, [frame(view, [box]) for view in views]


def test_moving_camera_is_registered_like_the_whole_clip_form():
    views, stacks = pan(20, 2)
    done = list(complete_stream(stacks, CompletionConfig(window=10), lookahead=4))
    whole = list(complete_background(stacks, CompletionConfig(window=10)))
    for view, (stack, source), _reference in zip(views, done, whole):
        copied = torch.from_numpy(np.isin(source, [Filled.NEIGHBOUR, Filled.PLATE]))
        # Bilinear resampling of a whole-pixel pan registered to about 1e-3 px: one 8-bit step at most.
        assert float((stack.colour[0][:, copied] - truth(view)[:, copied]).abs().max()) <= 1.0 / 255 + 1e-6
    # The whole clip shows frame 0 what frame 8 revealed; a stream with 4 frames of look-ahead cannot.
    assert (done[10].source[14:34, 26:38] == Filled.NEIGHBOUR).all()
    assert (done[0].source == Filled.INPAINTED).any() and not (whole[0].source == Filled.INPAINTED).any()


def test_a_long_pan_recentres_the_plate_and_stays_registered():
    """The camera pans twelve frame widths; the plate's canvas is re-centred as it goes. The person
    moving with the camera on the left hides what earlier frames saw on the right."""
    views, stacks = pan(160, 3, width=40, height=32, seed=5, box=(4, 10, 14, 24))
    cameras = [None] + [np.array([[1.0, 0, -3.0], [0, 1.0, 0], [0, 0, 1.0]])] * 159
    stream = CompletionStream(CompletionConfig(window=2), lookahead=2)
    sizes = set()
    errors = []
    from_plate = 0
    for t, stack in enumerate(stacks):
        for stack_done, source in stream.push(stack, cameras[t]):
            sizes.add(stream._plate.size)
            copied = torch.from_numpy(source == Filled.PLATE)
            from_plate += int(copied.sum())
            view = views[len(errors)]
            errors.append(float(np.abs((stack_done.colour[0][:, copied] - truth(view)[:, copied]).numpy()).max(initial=0.0)))
    assert len(errors) == 158 and sizes == {(80, 64)} and from_plate > 1000
    # Re-centring resamples the plate by whole pixels here, so it stays within one 8-bit step.
    assert max(errors) <= 1.0 / 255 + 1e-6


def test_memory_does_not_grow_with_the_clip():
    background = texture(12, 16, seed=2, smooth=1.0)
    stream = CompletionStream(CompletionConfig(window=3, camera="moving"), removing=[1], lookahead=2)
    sizes = []
    for t in range(600):
        view = np.roll(background, t % 7, axis=1)
        stream.push(frame(view, [(6, 3, 10, 9)]), np.array([[1.0, 0, (t % 7 == 0) * 6.0 - 1.0], [0, 1.0, 0], [0, 0, 1.0]]))
        if t in (100, 599):
            sizes.append(
                (
                    len(stream._pending),
                    len(stream._donors),
                    len(stream._lifted),
                    len(stream._unlifted),
                    len(stream._from_first),
                    stream._plate.size,
                    len(stream._people),
                    stream._leftovers.sums.count.shape[::-1],  # the removed person's ground, on the canvas
                )
            )
    assert sizes[0] == sizes[1]
    pending, donors, lifted, unlifted, cameras, canvas, people, ground = sizes[1]
    assert pending <= 3 and donors <= 3 + 2 + 1 and lifted <= 3 and unlifted <= 3 and cameras <= 3 + 2 + 1
    assert people <= 3 and ground == canvas


def test_frames_of_another_size_and_a_camera_given_to_a_tracking_stream_are_refused():
    _, stacks = static_clip()
    stream = CompletionStream()
    stream.push(stacks[0])
    with pytest.raises(LayerError, match="stream's frames"):
        stream.push(frame(texture(8, 8, seed=1), []))
    from vmat.camera import CameraTracker

    tracking = CompletionStream(tracker=CameraTracker())
    with pytest.raises(LayerError, match="tracks the camera itself"):
        tracking.push(stacks[0], np.eye(3))
    with pytest.raises(LayerError, match="0 or more"):
        CompletionStream(lookahead=-1)


def test_a_pan_fills_each_new_never_seen_sliver_without_a_new_search(monkeypatch):
    """A person moving with the camera at the right edge hides what enters the frame: a sliver of never-seen
    ground a frame. The first fill is an exemplar search; each sliver after it, thinner than a patch, is
    diffused from the fill beside it."""
    import vmat.editing.completion_stream as module

    searches = []
    real_invent = module._invent

    def counting(*args):
        searches.append(1)
        return real_invent(*args)

    monkeypatch.setattr(module, "_invent", counting)
    views, stacks = pan(24, 2, box=(50, 14, 64, 34))
    cameras = [None] + [np.array([[1.0, 0, -2.0], [0, 1.0, 0], [0, 0, 1.0]])] * 23
    done = streamed(stacks, CompletionConfig(window=2), cameras, lookahead=1)
    assert len(searches) == 1
    for view, (stack, source) in zip(views, done):
        invented = source == Filled.INPAINTED
        assert invented[14:34, 48:].sum() > 0
        # Filled with the world's colours (smooth noise around mid-grey), not the empty canvas's black.
        colours = stack.colour[0].permute(1, 2, 0).numpy()[invented]
        assert colours.mean() > 0.25 and np.abs(colours - truth(view).permute(1, 2, 0).numpy()[invented]).mean() < 0.25


def test_donors_a_drifting_camera_puts_off_by_a_pixel_are_lined_up_on_the_ring(monkeypatch):
    """The camera is said to pan 2.15 px a frame where it pans 2: a donor k frames away lands 0.15 k px
    off. Each donor is lined up with the frame on the ring around the hole before the median, so the
    copied pixels are close to the truth; without it they are not."""
    import vmat.editing.completion as completion

    views, stacks = pan(20, 2)
    cameras = [None] + [np.array([[1.0, 0, -2.15], [0, 1.0, 0], [0, 0, 1.0]])] * 19
    errors = {}
    for align in (True, False):
        if not align:
            monkeypatch.setattr(completion, "_ALIGN_SHIFT", 0.0)
        done = streamed(stacks, CompletionConfig(window=6), cameras, lookahead=6)
        error = []
        for view, (stack, source) in zip(views[4:16], done[4:16]):
            copied = torch.from_numpy(source == Filled.NEIGHBOUR)
            error.append((stack.colour[0][:, copied] - truth(view)[:, copied]).abs().flatten())
        errors[align] = float(torch.cat(error).mean()) * 255
    assert errors[True] < 1.5 and errors[False] > 3 * errors[True]


def test_frames_lifted_ahead_keep_only_what_lifting_changed_and_complete_as_the_whole_clip():
    """A person walks across a lawn casting a shadow: frames are lifted up to ``window`` ahead of the one
    being completed (their donors must be shadow-free), and wait holding only the lifted pixels' box, not
    float planes; with a look-ahead covering the clip the output is still the whole clip's, bit for bit."""
    from tests.editing.test_shadows import lawn, person_box, shadow_from, shaded, stack_of

    ground = np.concatenate([lawn(2), lawn(3)], axis=1)
    # In 8-bit steps, as the stream holds its pending frames (the whole clip form reads them as given).
    eight_bit = [np.round(shaded(ground, shadow_from(20 + 12 * t, 320)) * 255) / np.float32(255) for t in range(12)]
    stacks = [stack_of(image, person_box(20 + 12 * t, 320)) for t, image in enumerate(eight_bit)]
    config = CompletionConfig(window=3)
    stream = CompletionStream(config, removing=[1], lookahead=len(stacks))
    for stack in stacks:
        assert stream.push(stack) == []
    done = []
    for item in stream.drain():
        waiting = list(stream._lifted.values())
        assert not any(isinstance(kept, LayerStack) for part in waiting for kept in part)
        assert any(part.colour is not None for part in waiting) or len(done) >= len(stacks) - 1
        for part in waiting:
            if part.colour is not None:
                rows, cols = part.box
                assert part.colour.shape == (3, rows.stop - rows.start, cols.stop - cols.start)
                assert part.colour.shape[1] * part.colour.shape[2] < 0.2 * 120 * 320
        done.append(item)
    whole = list(complete_background(stacks, config, removing=[1]))
    # The shadows were lifted, and where the window saw that lawn lit, it was copied instead.
    shadows = [shadow_from(20 + 12 * t, 320) > 0.5 for t in range(len(done))]
    assert sum(int(((item.source == Filled.NEIGHBOUR) & shadow).sum()) for item, shadow in zip(done, shadows)) > 1000
    assert same(done, whole)


def test_with_nothing_to_lift_each_held_frame_is_decoded_once(monkeypatch):
    """With shadows kept nothing is lifted, so no frame is decoded ahead of its turn: one decode a frame
    (there were two)."""
    import vmat.editing.completion_stream as module

    decoded = []
    original = module.decode_stack

    def counting(arrays, width, height):
        decoded.append(id(arrays))
        return original(arrays, width, height)

    monkeypatch.setattr(module, "decode_stack", counting)
    _, stacks = static_clip()
    done = streamed(stacks, CompletionConfig(window=2), removing=[1], keep_shadows=True, lookahead=3)
    assert len(done) == len(stacks)
    assert len(decoded) == len(stacks)


def test_a_fill_that_later_frames_see_much_of_is_invented_again_on_the_grown_plate(monkeypatch):
    """A person stands still, then steps aside past the look-ahead: the frames pushed then show 40% of
    what the first fill invented. With ``refill``, what is still unseen is invented again on the plate
    they grew (as the whole clip, which sees them all, invents it), keeping the first fill only where the
    two look alike; without, the first fill stays."""
    import vmat.editing.completion_stream as module
    from vmat.editing.completion import _invent

    searches = []
    monkeypatch.setattr(module, "_invent", lambda *args: searches.append(1) or _invent(*args))
    background = texture(24, 48, seed=5)
    stacks = [frame(background, [(10, 4, 30, 20) if t < 6 else (18, 4, 38, 20)]) for t in range(10)]
    fills = {}
    for refill in (None, 0.1):
        searches.clear()
        stream = CompletionStream(CompletionConfig(window=1, refill=refill), lookahead=2)
        done = [out for stack in stacks for out in stream.push(stack)] + stream.finish()
        assert len(done) == len(stacks) and len(searches) == (2 if refill else 1)
        plate = stream._plate.colour()
        fills[refill] = stream._plate.filled[plate.never_seen]
    unseen = plate.never_seen
    assert 0 < unseen.sum() < 0.7 * (24 * 20)  # the box and its margin, less what the last frames saw
    whole = _invent(plate.colour, unseen, plate.seen, CompletionConfig(window=1))[unseen]
    assert not np.array_equal(fills[None], whole)
    changed = (fills[0.1] != fills[None]).any(axis=1)
    assert changed.any() and np.array_equal(fills[0.1][changed], whole[changed])
    with pytest.raises(ConfigError):
        CompletionConfig(refill=0.0)


def test_a_fill_is_invented_again_once_at_most(monkeypatch):
    """A person steps aside in two stages, each showing more than ``refill`` of what is still invented: the
    fill jumps once, not once a stage (counted afresh on its unseen rest, it would jump again)."""
    import vmat.editing.completion_stream as module
    from vmat.editing.completion import _invent

    searches = []
    monkeypatch.setattr(module, "_invent", lambda *args: searches.append(1) or _invent(*args))
    background = texture(24, 48, seed=6)
    boxes = [(10, 4, 30, 20)] * 5 + [(14, 4, 34, 20)] * 4 + [(18, 4, 38, 20)] * 5
    stacks = [frame(background, [box]) for box in boxes]
    stream = CompletionStream(CompletionConfig(window=1, refill=0.1), lookahead=2)
    done = [out for stack in stacks for out in stream.push(stack)] + stream.finish()
    assert len(done) == len(stacks) and len(searches) == 2
