from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from vmat.editing import CompletionConfig, Filled, complete_background, complete_layers_file, remove
from vmat.editing.completion import PREVIOUS_DEFAULT, _local_mean, _narrowed, _nearest_agreeing, _View, changed_ground
from vmat.errors import ConfigError
from vmat.layers import LayerError, LayersReader, LayersWriter, LayerStack, tensor_to_image
from vmat.metrics.matting import gradient_magnitude

PERSON = torch.tensor([1.0, 0.0, 1.0])


def texture(height: int, width: int, seed: int, smooth: float = 0.0) -> np.ndarray:
    """8-bit RGB noise, optionally smoothed so that features can be tracked on it."""
    noise = np.random.default_rng(seed).random((height, width, 3)) * 255
    if smooth:
        noise = gaussian_filter(noise, (smooth, smooth, 0))
        noise = (noise - noise.min()) / (noise.max() - noise.min()) * 255
    return noise.round().astype(np.uint8)


def frame(background: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> LayerStack:
    """Opaque magenta people over ``background``; the background plane holds the person's colour where
    they hide it, as a matting model's background plane would."""
    height, width = background.shape[:2]
    plane = torch.from_numpy(background).permute(2, 0, 1).float() / 255
    alphas = []
    for x0, y0, x1, y1 in boxes:
        alpha = torch.zeros(height, width)
        alpha[y0:y1, x0:x1] = 1
        plane = torch.where(alpha > 0, PERSON[:, None, None], plane)
        alphas.append(alpha)
    colour = torch.stack([plane, *(PERSON[:, None, None].expand(3, height, width) for _ in boxes)])
    alpha = torch.stack([torch.ones(height, width), *alphas])
    depth = torch.tensor([float("inf"), *range(1, len(boxes) + 1)], dtype=torch.float32)
    return LayerStack(colour, alpha, depth, tuple(range(len(boxes) + 1)))


def truth(background: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(background).permute(2, 0, 1).float() / 255


def static_clip() -> tuple[np.ndarray, list[LayerStack]]:
    """16x24, 8 frames: person 1 walks right 3 px a frame; person 2 never moves (bottom right)."""
    background = texture(16, 24, seed=1)
    return background, [frame(background, [(3 * t, 2, 3 * t + 6, 7), (18, 12, 24, 16)]) for t in range(8)]


def test_static_camera_recovers_the_hidden_background_exactly():
    background, stacks = static_clip()
    done = list(complete_background(stacks))
    assert len(done) == 8
    expected = truth(background)
    for original, (stack, source) in zip(stacks, done):
        from_neighbours = torch.from_numpy(source == Filled.NEIGHBOUR)
        assert from_neighbours.any()
        assert torch.equal(stack.colour[0][:, from_neighbours], expected[:, from_neighbours])
        seen = torch.from_numpy(source == Filled.SEEN)
        assert torch.equal(stack.colour[0][:, seen], original.colour[0][:, seen])
        # Person 2 (and the 2-pixel margin around them) hid the bottom right in every frame: inpainted.
        assert (source[12:, 18:] == Filled.INPAINTED).all() and (source[:10] != Filled.INPAINTED).all()
        assert torch.equal(stack.alpha, original.alpha)


def test_removal_after_completion_shows_the_true_background():
    background, stacks = static_clip()
    (stack, _), *_ = complete_background(stacks)
    image = remove(stack, 1).render()
    assert torch.equal(image[:, :10, :], truth(background)[:, :10, :])


def test_clean_plate_covers_what_the_window_misses():
    background = texture(12, 20, seed=2)
    # The person stands at the left for six frames, then at the right for two.
    stacks = [frame(background, [(0, 2, 5, 9)]) for _ in range(6)] + [frame(background, [(14, 2, 19, 9)])] * 2
    done = list(complete_background(stacks, CompletionConfig(window=1)))
    first_source = done[0].source
    assert (first_source[2:9, :5] == Filled.PLATE).all()
    plate = torch.from_numpy(first_source == Filled.PLATE)
    assert torch.equal(done[0].stack.colour[0][:, plate], truth(background)[:, plate])
    # Frame 5 has frame 6 in its window, so it copies from it rather than the plate.
    assert (done[5].source[2:9, :5] == Filled.NEIGHBOUR).all()


def test_moving_camera_is_registered_between_frames():
    world = texture(48, 64 + 2 * 20, seed=3, smooth=2.0)
    views = [world[:, 2 * t : 2 * t + 64] for t in range(20)]  # the camera pans right 2 px a frame
    stacks = [frame(view, [(26, 14, 38, 34)]) for view in views]
    done = list(complete_background(stacks, CompletionConfig(window=10)))
    errors = []
    for view, (stack, source) in zip(views, done):
        from_neighbours = torch.from_numpy(source == Filled.NEIGHBOUR)
        errors.append((stack.colour[0][:, from_neighbours] - truth(view)[:, from_neighbours]).abs())
    # The hidden block (plus margin) is 16 px wide and the pan 2 px a frame: 8 frames away it is in view.
    assert (done[10].source[14:34, 26:38] == Filled.NEIGHBOUR).all()
    errors = torch.cat([e.flatten() for e in errors])
    # The pan is a whole number of pixels and is recovered to about 1e-3 px, so bilinear resampling
    # stays within one 8-bit step of the truth.
    assert float(errors.max()) <= 1.0 / 255 + 1e-6


def test_moving_camera_plate_is_a_registered_mosaic():
    world = texture(48, 72 + 30, seed=4, smooth=2.0)
    views = [world[:, 2 * t : 2 * t + 72] for t in range(16)]
    stacks = [frame(view, [(30, 10, 42, 30)]) for view in views]
    # With one neighbour each side nothing hidden is revealed (the pan is 2 px a frame, the hole 16 px
    # wide), so the frames far away reach it through the mosaic plate.
    done = list(complete_background(stacks, CompletionConfig(window=1)))
    source = done[0].source
    assert (source[10:30, 30:42] == Filled.PLATE).all()
    plate = torch.from_numpy(source == Filled.PLATE)
    # Each plate pixel is a mean of resampled samples of the same point, registered to ~1e-3 px.
    error = (done[0].stack.colour[0][:, plate] - truth(views[0])[:, plate]).abs()
    assert float(error.max()) <= 1.0 / 255 + 1e-6


def test_generators_are_refused_and_files_complete(tmp_path):
    _, stacks = static_clip()
    with pytest.raises(LayerError, match="more than once"):
        next(complete_background(iter(stacks)))
    with LayersWriter(tmp_path / "in.vlayers") as writer:
        for stack in stacks:
            writer.write(stack)
    counts = complete_layers_file(tmp_path / "in.vlayers", tmp_path / "out.vlayers")
    assert sum(counts.values()) == 8 * 16 * 24
    assert counts["neighbour"] > 0 and counts["inpainted"] > 0
    completed = LayersReader(tmp_path / "out.vlayers")
    assert len(completed) == 8
    assert not torch.equal(completed.read(0).colour[0], stacks[0].colour[0])


def test_previous_default_inpaints_each_frame_by_diffusion():
    _, stacks = static_clip()
    done = list(complete_background(stacks, PREVIOUS_DEFAULT))
    assert (done[0].source[12:, 18:] == Filled.INPAINTED).all()


def bricks(height: int, width: int) -> np.ndarray:
    """Speckled bricks: a sharp texture that diffusion would smear."""
    rng = np.random.default_rng(5)
    ys, xs = np.mgrid[:height, :width]
    mortar = (ys % 6 == 0) | ((xs + np.where((ys // 6) % 2 == 0, 0, 6)) % 12 == 0)
    image = np.where(mortar[..., None], 200.0, np.array([150.0, 70.0, 50.0]) + rng.normal(0, 12, (height, width, 3)))
    return np.clip(image, 0, 255).astype(np.uint8)


def test_never_seen_region_is_filled_once_sharp_and_the_same_in_every_frame():
    wall = bricks(48, 72)
    # A person who never moves hides the same block in all six frames.
    stacks = [frame(wall, [(30, 12, 44, 40)]) for _ in range(6)]
    done = list(complete_background(stacks))
    hidden = torch.from_numpy(done[0].source == Filled.INPAINTED)
    assert hidden[12:40, 30:44].all()
    fills = [stack.colour[0][:, hidden] for stack, _ in done]
    assert all(torch.equal(fill, fills[0]) for fill in fills)  # no boiling
    image = tensor_to_image(done[0].stack.colour[0])
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) / 255.0
    inner = np.zeros(grey.shape, bool)
    inner[15:37, 33:41] = True
    truth = cv2.cvtColor(wall, cv2.COLOR_RGB2GRAY) / 255.0
    assert gradient_magnitude(grey, 1.0)[inner].mean() > 0.75 * gradient_magnitude(truth, 1.0)[inner].mean()


def test_never_seen_fill_moves_with_a_panning_camera():
    world = texture(48, 96 + 2 * 12, seed=6, smooth=1.5)
    # The camera pans right 2 px a frame past a person standing still in the world: on screen they move
    # left 2 px a frame, and the wall behind them is never seen.
    views = [world[:, 2 * t : 2 * t + 96] for t in range(12)]
    stacks = [frame(view, [(40 - 2 * t, 12, 54 - 2 * t, 36)]) for t, view in enumerate(views)]
    done = list(complete_background(stacks, CompletionConfig(window=3)))
    assert (done[5].source[14:34, 32:42] == Filled.INPAINTED).all()
    for t in range(1, 12):
        before, now = done[t - 1], done[t]
        # What was at x in frame t-1 is at x - 2 in frame t.
        both = (before.source[:, 2:] == Filled.INPAINTED) & (now.source[:, :-2] == Filled.INPAINTED)
        assert both.sum() > 100
        moved = (now.stack.colour[0][:, :, :-2] - before.stack.colour[0][:, :, 2:]).abs()[:, torch.from_numpy(both)]
        stuck = (now.stack.colour[0] - before.stack.colour[0]).abs()[:, torch.from_numpy(now.source == Filled.INPAINTED)]
        # It follows the camera to within resampling and blending noise, and is not glued to the screen.
        assert float(moved.mean()) < 4 / 255 and float(stuck.mean()) > 4 * float(moved.mean())


def test_gain_correction_matches_copied_pixels_to_each_frames_exposure():
    background = texture(24, 48, seed=7, smooth=1.0)
    # The person walks right 4 px a frame and auto-exposure brightens every other frame by 12%.
    gains = [1.0 if t % 2 == 0 else 1.12 for t in range(8)]
    exposed = [np.clip(background * g, 0, 255).round().astype(np.uint8) for g in gains]
    stacks = [frame(exposed[t], [(4 * t + 4, 4, 4 * t + 14, 20)]) for t in range(8)]
    errors = {}
    for gain in (False, True):
        done = list(complete_background(stacks, CompletionConfig(window=1, gain=gain)))
        copied = torch.from_numpy(done[3].source == Filled.NEIGHBOUR)
        errors[gain] = float((done[3].stack.colour[0][:, copied] - truth(exposed[3])[:, copied]).abs().mean())
    assert errors[False] > 0.03 and errors[True] < 0.005


@pytest.mark.parametrize("streamed", [False, True])
def test_margin_around_a_still_person_is_the_ground_not_an_invention(streamed):
    """Person 2 never moves: the 2-pixel margin around them is never trusted as seen, yet every frame's
    background is fully there (weight 1), so it is copied, not invented; a soft matte edge (weight 0.7)
    may hold some of the person and is invented."""
    from vmat.editing import complete_stream

    background = texture(16, 24, seed=5)
    stacks = []
    for t in range(6):
        stack = frame(background, [(3 * t, 2, 3 * t + 6, 7), (18, 12, 24, 16)])
        alpha = stack.alpha.clone()
        alpha[2, 14:16, 14:16] = 0.3  # a soft edge; the plane holds the ground there
        stacks.append(stack.replace(alpha=alpha))
    done = complete_stream(iter(stacks)) if streamed else complete_background(stacks)
    hidden = np.zeros((16, 24), np.uint8)
    hidden[12:16, 18:] = hidden[14:16, 14:16] = 1
    margin = (cv2.dilate(hidden, np.ones((5, 5), np.uint8)) > 0) & (hidden == 0)
    for stack, source in done:
        assert (source[margin] == Filled.NEIGHBOUR).all()
        assert torch.equal(stack.colour[0][:, torch.from_numpy(margin)], truth(background)[:, torch.from_numpy(margin)])
        assert (source[12:16, 18:] == Filled.INPAINTED).all() and (source[14:16, 14:16] == Filled.INPAINTED).all()
    old = list(complete_background(stacks, CompletionConfig(partly_seen_above=None)))
    assert (old[0].source[margin] == Filled.INPAINTED).all()


def test_margin_the_frames_disagree_on_is_invented():
    """Half the frames' mattes lost a strip of person 2's edge (their background plane shows the person
    there at full weight): the frames disagree, so the strip is invented, not copied."""
    background = texture(16, 24, seed=5)
    stacks = []
    for t in range(6):
        stack = frame(background, [(3 * t, 2, 3 * t + 6, 7), (18, 12, 24, 16)])
        if t % 2:
            colour = stack.colour.clone()
            colour[0, :, 12:16, 16:18] = PERSON[:, None, None]
            stack = stack.replace(colour=colour)
        stacks.append(stack)
    for _, source in complete_background(stacks):
        assert (source[12:16, 16:18] == Filled.INPAINTED).all()
        assert (source[10:12, 16:18] == Filled.NEIGHBOUR).all()


@pytest.mark.parametrize("streamed", [False, True])
def test_margin_only_one_frame_shows_is_copied_for_a_static_camera_and_invented_for_a_moving_one(streamed):
    """A person stands still in the world for 12 frames; in frame 5 their right arm is in (2 columns
    narrower), so only that frame shows the strip of ground there, and only within the 2-pixel margin. A
    static camera copies it from that frame; a moving camera needs two agreeing frames (one frame
    resampled through chained homographies cannot be checked), so it is invented there."""
    from vmat.editing import complete_stream

    world = texture(48, 96 + 2 * 12, seed=8, smooth=1.5)
    for pan in (0, 2):
        views = [world[:, pan * t : pan * t + 96] for t in range(12)]
        # The person's world columns are 40-53 (2 fewer in frame 5); on screen they move left by the pan.
        boxes = [(40 - pan * t, 12, (52 if t == 5 else 54) - pan * t, 36) for t in range(12)]
        stacks = [frame(view, [box]) for view, box in zip(views, boxes)]
        done = list(complete_stream(iter(stacks)) if streamed else complete_background(stacks))
        for t, (view, (stack, source)) in enumerate(zip(views, done)):
            strip = (slice(12, 36), slice(52 - pan * t, 54 - pan * t))
            left = (slice(14, 34), slice(38 - pan * t, 40 - pan * t))  # the margin every frame shows
            assert (source[left] == Filled.NEIGHBOUR).all()
            error = (stack.colour[0][:, left[0], left[1]] - truth(view)[:, left[0], left[1]]).abs()
            assert float(error.max()) <= 2.0 / 255 + 1e-6
            if pan:
                assert (source[strip] == Filled.INPAINTED).all()
            else:
                assert (source[strip] == Filled.NEIGHBOUR).all()
                assert torch.equal(stack.colour[0][:, strip[0], strip[1]], truth(view)[:, strip[0], strip[1]])


def test_masks_warped_together_are_those_warped_one_by_one():
    from vmat.editing.warping import warp_masks

    rng = np.random.default_rng(9)
    masks = [rng.random((40, 56)) > 0.3, rng.random((40, 56)) > 0.6]
    homography = np.array([[1.01, 0.02, 2.3], [-0.015, 0.99, -1.7], [1e-4, -2e-4, 1.0]])
    together = warp_masks(masks, homography, (50, 36))
    for mask, warped in zip(masks, together):
        alone = cv2.warpPerspective(mask.astype(np.uint8) * 255, homography, (50, 36)) == 255
        assert warped.shape == (36, 50) and np.array_equal(warped, alone)


def test_a_moving_cameras_donor_colour_is_warped_once_per_frame(monkeypatch):
    """The median of the seen pixels and the margin laid over the invention read the same warped donors:
    no donor's colour is resampled twice with the same homography."""
    world = texture(48, 96 + 2 * 12, seed=6, smooth=1.5)
    views = [world[:, 2 * t : 2 * t + 96] for t in range(12)]
    stacks = [frame(view, [(40 - 2 * t, 12, 54 - 2 * t, 36)]) for t, view in enumerate(views)]
    calls: list[tuple[int, bytes]] = []
    original = cv2.warpPerspective

    def counted(image, homography, *args, **kwargs):
        if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
            calls.append((id(image), np.asarray(homography).tobytes()))
        return original(image, homography, *args, **kwargs)

    monkeypatch.setattr(cv2, "warpPerspective", counted)
    done = list(complete_background(stacks, CompletionConfig(window=3)))
    assert any((source == Filled.INPAINTED).any() for _, source in done)  # the margin branch ran
    assert len(calls) > 12 and len(set(calls)) == len(calls)


def test_a_tripod_shot_is_completed_as_a_static_camera(shared_dir):
    """The woman-and-dog clip's camera hardly moves: tracked as the one-pass stream tracks it, its
    features do not move and the whole clip is static (chaining each pair's estimate from scratch drifted
    past the static tolerance within 24 frames, and every donor was then resampled)."""
    from vmat.editing.completion import _track_camera, _view
    from vmat.io import open_video

    images = []
    with open_video(shared_dir / "data" / "clips" / "woman_dog_static_720p.mp4") as reader:
        for image in (f.image for f, _ in zip(reader, range(24))):
            images.append(cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA))
    config = CompletionConfig()
    camera, _, _ = _track_camera([_view(frame(image, [(440, 120, 520, 340)]), config) for image in images], config)
    assert camera.static


@pytest.mark.parametrize("field", ["camera", "donors", "tracking", "never_seen"])
def test_an_unknown_choice_is_refused_in_one_line(field):
    with pytest.raises(ConfigError, match=field):
        CompletionConfig(**{field: "neither"})


@pytest.mark.parametrize("frames", [0, -2])
def test_agree_frames_below_one_is_refused_in_one_line(frames):
    with pytest.raises(ConfigError, match="agree_frames must be 1 or more"):
        CompletionConfig(agree_frames=frames)


def striped(height: int, width: int, shift: int) -> np.ndarray:
    """Vertical stripes 2 px dark, 2 px light, moved ``shift`` px to the left."""
    columns = np.where((np.arange(width) + shift) % 4 < 2, 200, 60).astype(np.uint8)
    return np.repeat(np.broadcast_to(columns[None, :, None], (height, width, 1)), 3, axis=2).copy()


def test_a_hidden_pixel_takes_the_nearest_frame_that_agrees_with_the_others():
    """A moving camera's donors a pixel apart where the tracked ground is not (parallax: a striped bed before
    a still wall): the median of their stripes is a blend of them, the nearest frame's colour is the
    stripes. Where that frame holds something the others do not (a part of a person left outside their
    mask), the next nearest frame's colour is taken instead. A static camera takes the median."""
    wall = texture(48, 64, seed=4, smooth=1.5)
    backgrounds = []
    for shift in [1, -1, 0, 1, -1]:
        background = wall.copy()
        background[6:42, 10:46] = striped(36, 36, shift)
        backgrounds.append(background)
    backgrounds[1][12:16, 22:26] = 0  # in frame 1 only
    stacks = [frame(background, [(20, 10, 36, 38) if t == 2 else (48, 10, 62, 38)]) for t, background in enumerate(backgrounds)]
    config = CompletionConfig(camera="moving", gain=False, align=False)
    stack, source = list(complete_background(stacks, config))[2]
    completed = tensor_to_image(stack.colour[0])
    assert (source[10:38, 20:36] == Filled.NEIGHBOUR).all()
    assert np.array_equal(completed[12:16, 22:26], backgrounds[3][12:16, 22:26])  # the nearest frame but one
    assert np.array_equal(completed[26:38, 20:36], backgrounds[1][26:38, 20:36])  # the nearest frame
    for blending in (replace(config, donors="median"), replace(config, camera="static")):
        blended = tensor_to_image(list(complete_background(stacks, blending))[2].stack.colour[0])
        assert not np.array_equal(blended[26:38, 20:36], backgrounds[1][26:38, 20:36])


def test_nearest_agreeing_donor_exactly():
    """Per pixel the first donor (nearest first) that saw it and whose local mean is within 24 levels of the
    median of those that saw it; else the median given."""
    values = [np.full((3, 3), v, np.uint8) for v in (10, 20, 30)]
    means = [np.full((3, 3), 100, np.uint8), np.full((3, 3), 130, np.uint8), np.full((3, 3), 131, np.uint8)]
    seen = [np.array([True, True, False]), np.array([True, True, False]), np.array([True, False, False])]
    median = np.full((3, 3), 7, np.uint8)
    taken = _nearest_agreeing(values, means, seen, median)
    # Pixel 0: the median of the means is 130, donor 0 is 30 away: donor 1. Pixel 1: two donors saw it, the
    # lower middle is 100: donor 0. Pixel 2: nobody: the median.
    assert taken.tolist() == [[20] * 3, [10] * 3, [7] * 3]


def test_a_donors_local_mean_leaves_out_what_it_did_not_see():
    """What a donor holds where it did not see the background (a person's colour) does not pull its local mean."""
    colour = np.full((9, 12, 3), 100, np.uint8)
    colour[:, :5] = 250
    seen = np.ones((9, 12), bool)
    seen[:, :5] = False
    assert (_local_mean(colour, seen) == 100).all()
    assert (_local_mean(colour, np.ones_like(seen))[:, 5] > 150).all()


def test_changed_ground_leaves_out_the_rim_around_the_people_who_stay():
    alpha = torch.zeros(3, 20, 30)
    alpha[0] = 1.0
    alpha[1, 5:15, 3:8] = 1.0  # removed
    alpha[2, 5:15, 20:25] = 1.0  # stays
    stack = LayerStack(torch.zeros(3, 3, 20, 30), alpha, torch.tensor([float("inf"), 1.0, 2.0]), (0, 1, 2))
    source = np.full((20, 30), Filled.SEEN, np.uint8)
    source[3:17, 1:10] = Filled.NEIGHBOUR  # the removed person, their rim and a missed shoe
    source[3:17, 18:27] = Filled.NEIGHBOUR  # the other person and the rim completion does not trust
    source[16:19, 8:14] = Filled.SHADOW
    redrawn, relit = changed_ground(stack, source, leaving=(1,))
    np.testing.assert_array_equal(relit, source == Filled.SHADOW)
    expected = source == Filled.NEIGHBOUR
    expected[2:18, 17:28] = False  # CompletionConfig.margin (2) and one more around the person who stays
    np.testing.assert_array_equal(redrawn, expected)
    everyone, _ = changed_ground(stack, source, leaving=(1, 2))
    np.testing.assert_array_equal(everyone, source == Filled.NEIGHBOUR)


def test_only_the_hidden_ground_that_reaches_the_people_leaving_is_filled():
    """With ``leave_staying`` a staying person's hidden ground is filled only when it lies within the work box's
    margin (the gain ring, 12 px, and one more) of what the edit changes: there it is the border of that fill.
    Farther off it counts as seen, and its fill, which would be thrown away, is skipped."""
    from vmat.editing.completion import CompletionConfig

    seen = np.ones((60, 120), bool)
    seen[10:40, 10:20] = False  # the person leaving
    seen[10:40, 22:30] = False  # a person beside them, apart by 2 px
    seen[10:40, 80:90] = False  # a person far off
    kept = np.ones_like(seen)
    kept[8:42, 8:22] = False  # the leaving person's reach
    view = _View(np.zeros((60, 120, 3), np.uint8), seen)
    narrowed = _narrowed(view, kept, CompletionConfig())
    expected = seen.copy()
    expected[10:40, 80:90] = True
    np.testing.assert_array_equal(narrowed.seen, expected)
    assert narrowed.colour is view.colour
    assert _narrowed(view, np.zeros_like(kept), CompletionConfig()) is view  # nothing kept: nothing to skip


@pytest.mark.parametrize("streamed", [False, True])
def test_leave_staying_changes_the_background_only_around_the_people_leaving(streamed):
    """Person 2 stays; a faint spill of their matte (alpha 0.1) lies far from person 1, who is removed. With
    ``leave_staying`` the plane keeps its decomposed colour (and code ``SEEN``) wherever person 1, grown by
    their reach (3 px here: the margin and one more), does not show; around person 1 it is completed as
    without it, so that the frame without person 1 shows the picture as it was away from them."""
    from vmat.editing import complete_stream
    from vmat.editing.leftovers import LeftoverConfig, near

    background, stacks = static_clip()
    spilled = []
    for stack in stacks:
        alpha = stack.alpha.clone()
        alpha[2, 9:11, 14:24] = 0.1
        spilled.append(stack.replace(alpha=alpha))

    def completed(**options):
        if streamed:
            return list(complete_stream(iter(spilled), removing=[1], **options))
        return list(complete_background(spilled, removing=[1], **options))

    everywhere, kept_only = completed(), completed(leave_staying=True)
    for original, full, narrow in zip(spilled, everywhere, kept_only):
        kept = ~near((original.alpha[1] > 0.02).numpy(), LeftoverConfig(least_reach=3))
        assert (full.source[kept] != Filled.SEEN).any()  # the spill and person 2 were completed before
        np.testing.assert_array_equal(narrow.source, np.where(kept, Filled.SEEN, full.source))
        where = torch.from_numpy(kept)
        assert torch.equal(narrow.stack.colour[0], torch.where(where, original.colour[0], full.stack.colour[0]))
        shown, before = remove(narrow.stack, 1).render(), remove(original, 1).render()
        # The stream holds pending frames as the layers file does: alpha in 16 bits.
        torch.testing.assert_close(shown[:, where], before[:, where], atol=2 / 65535, rtol=0)


@pytest.mark.parametrize("streamed", [False, True])
def test_the_blur_a_fast_person_trails_past_their_matte_is_not_lent_to_other_frames(streamed):
    """Person 1 runs right 8 px a frame, 6 px wide. In each frame the ground they covered a frame before,
    more than 4 px behind them, holds their motion blur (half their colour) with nobody's alpha on it. With
    one frame each side as donors, the ground they hide in frame t is seen by frame t + 1 through that blur:
    taken from there, the person comes back as a streak. The trail is not trusted as seen, so the ground
    comes from frames that saw it clear."""
    from vmat.editing import complete_stream

    background = texture(16, 56, seed=11)
    stacks = []
    for t in range(6):
        stack = frame(background, [(8 * t, 4, 8 * t + 6, 12)])
        if t:
            colour = stack.colour.clone()
            trail = colour[0, :, 4:12, 8 * t - 8 : 8 * t - 4]
            colour[0, :, 4:12, 8 * t - 8 : 8 * t - 4] = (trail + PERSON[:, None, None]) / 2
            stack = stack.replace(colour=colour)
        stacks.append(stack)
    expected = truth(background)[:, 4:12]

    def errors(config: CompletionConfig) -> list[float]:
        complete = complete_stream if streamed else complete_background
        done = complete(iter(stacks) if streamed else stacks, config, removing=[1], keep_shadows=True)
        columns = [slice(8 * t, 8 * t + 6) for t in range(len(stacks))]
        return [float((stack.colour[0][:, 4:12, at] - expected[:, :, at]).abs().max()) for at, (stack, _) in zip(columns, done)]

    config = CompletionConfig(window=1, leftovers=None)
    assert max(errors(config)) <= 2 / 255
    # Trusted as seen, the blur is what frame t + 1 lends frame t where it hid the ground.
    assert max(errors(replace(config, trail=None))) > 60 / 255


def test_a_negative_trail_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="trail"):
        CompletionConfig(trail=-1)
