import cv2
import numpy as np
import torch

from vmat.editing.leftovers import ClipLeftovers, Ground, GroundSum, LeftoverConfig, _distance, find_leftovers, near, reach_of
from vmat.layers import LayerStack

HEIGHT, WIDTH = 120, 180
TOP, BOTTOM, BODY = 10, 110, 16  # the person: 100 px tall (reach 5 px), 16 px wide
FRAMES, STILL = 12, 6  # the person walks left to right; the frame looked at


def ground_image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.random((HEIGHT, WIDTH)).astype(np.float32), (0, 0), 1.5)
    grain = (grain - grain.mean()) / grain.std()  # gravel: 15 % of the brightness either way
    return np.array([120, 140, 90], np.float32) * (1.0 + 0.15 * grain[..., None])


def person_at(t: int) -> np.ndarray:
    person = np.zeros((HEIGHT, WIDTH), bool)
    x = 10 + 13 * t
    person[TOP:BOTTOM, x : x + BODY] = True
    return person


def foot_at(t: int) -> np.ndarray:
    """A toe the matte misses: 5 px beside the person's lowest 6 rows."""
    foot = np.zeros((HEIGHT, WIDTH), bool)
    x = 10 + 13 * t + BODY
    foot[BOTTOM - 6 : BOTTOM, x : x + 5] = True
    return foot


def hidden_of(person: np.ndarray) -> np.ndarray:
    """What completion fills anyway: the matte and a 2 px margin."""
    return cv2.dilate(person.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


def clip(foot: bool = True, noise: float = 3.0, seed: int = 0) -> list[np.ndarray]:
    ground = ground_image(seed)
    rng = np.random.default_rng(seed + 1)
    frames = []
    for t in range(FRAMES):
        frame = ground + rng.normal(0.0, noise, ground.shape)
        if foot:
            frame[foot_at(t)] = (235, 235, 230)  # a white shoe
        frames.append(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
    return frames


def summed(frames: list[np.ndarray], config: LeftoverConfig = LeftoverConfig(), frames_used: range | None = None) -> Ground:
    total = GroundSum(HEIGHT, WIDTH)
    for t in frames_used or range(len(frames)):
        person = person_at(t)
        total.add(frames[t], ~hidden_of(person) & ~near(person, config))
    return total.ground()


def look(
    frame: np.ndarray,
    ground: Ground,
    others: np.ndarray | None = None,
    spare: np.ndarray | None = None,
    reach: float = 0.05,
    texture: float = 0.7,
) -> np.ndarray:
    person = person_at(STILL)
    others = np.zeros_like(person) if others is None else others
    config = LeftoverConfig(reach=reach, texture=texture)
    return find_leftovers(frame, hidden_of(person), person, others, ground, config, spare=spare)


def grown(mask: np.ndarray, pixels: int = 1) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * pixels + 1,) * 2, np.uint8)) > 0


def test_a_missed_toe_is_found_and_nothing_else():
    frames = clip()
    found = look(frames[STILL], summed(frames))
    toe = foot_at(STILL) & ~hidden_of(person_at(STILL))
    assert toe.sum() >= 15
    assert (found & toe).sum() == toe.sum()
    assert not (found & ~grown(toe)).any()


def test_noise_alone_finds_nothing():
    for seed in range(3):
        frames = clip(foot=False, noise=4.0, seed=seed)
        assert not look(frames[STILL], summed(frames)).any()


def test_the_toe_is_found_through_an_exposure_change():
    frames = clip()
    brighter = np.clip(frames[STILL].astype(np.float32) * np.array([1.15, 1.12, 1.1]) + 0.5, 0, 255).astype(np.uint8)
    toe = foot_at(STILL) & ~hidden_of(person_at(STILL))
    found = look(brighter, summed(frames))
    assert (found & toe).sum() == toe.sum()
    assert not (found & ~grown(toe)).any()


def test_another_persons_pixels_are_never_taken():
    frames = clip()
    # Someone's red sleeve lies against the removed person's side, within reach.
    other = np.zeros((HEIGHT, WIDTH), bool)
    x = 10 + 13 * STILL + BODY
    other[40:90, x : x + 4] = True
    frame = frames[STILL].copy()
    frame[other] = (200, 30, 30)
    found = look(frame, summed(frames), others=other)
    assert not (found & other).any()
    assert (found & foot_at(STILL)).any()  # the toe below them is still found
    # Without being told, the sleeve would have been taken: the guard is what keeps it.
    assert (look(frame, summed(frames)) & other).any()


def test_a_still_change_away_from_the_person_is_not_taken():
    frames = clip(foot=False)
    x = 10 + 13 * STILL + BODY
    for t in range(STILL, FRAMES):
        frames[t][60:80, x + 20 : x + 30] = (250, 250, 250)  # a bag put down 20 px away
        frames[t][40:50, x + 4 : x + 7] = (250, 250, 250)  # a pole 4 px away: within reach, not touching
    assert not look(frames[STILL], summed(frames)).any()


def test_something_the_person_touches_is_not_taken():
    frames = clip(foot=False)
    x = 10 + 13 * STILL + BODY
    frame = frames[STILL].copy()
    frame[50:62, x : x + 25] = (240, 200, 160)  # a dog's muzzle at their hand, its head beyond the reach
    ground = summed(frames)
    assert not look(frame, ground).any()
    # Nor when no frame saw the ground past the reach well enough to tell the head from it.
    ground.count[40:70, x + 6 :] = 0
    assert not look(frame, ground).any()
    ground = summed(frames)
    ground.spread[40:70, x + 6 :] = 30.0  # seen often, but varying: something moves there
    assert not look(frame, ground).any()
    # Only the muzzle, within reach, is taken when nothing goes on past it.
    frame = frames[STILL].copy()
    frame[50:62, x : x + 4] = (240, 200, 160)
    assert look(frame, ground).sum() >= 2 * 12


def test_ground_under_other_light_is_not_taken():
    # Something's shadow lay by the person's feet in the frames that saw that ground: lit now, it is
    # brighter than the ground's mean, but its texture is the ground's. (A reach of 10 px, so that the
    # texture, not the reach, is what is tested.)
    frames = clip(foot=False)
    x = 10 + 13 * STILL + BODY
    shaded = [frame.copy() for frame in frames]
    for t in range(FRAMES):
        if t != STILL:
            shaded[t][BOTTOM - 12 : BOTTOM, x : x + 9] = (shaded[t][BOTTOM - 12 : BOTTOM, x : x + 9] * 0.7).astype(np.uint8)
    ground = summed(shaded, LeftoverConfig(reach=0.1))
    assert not look(shaded[STILL], ground, reach=0.1).any()
    # The texture is what tells: without that test the change would be taken.
    assert look(shaded[STILL], ground, reach=0.1, texture=2.0).sum() >= 7 * 12


def test_a_shadow_is_left_to_the_shadow_lifter():
    frames = clip(foot=False)
    x = 10 + 13 * STILL + BODY
    frame = frames[STILL].copy()
    shade = np.zeros((HEIGHT, WIDTH), bool)
    shade[BOTTOM - 8 : BOTTOM, x - 2 : x + 6] = True
    frame[shade] = np.round(frame[shade] * 0.5).astype(np.uint8)
    assert not look(frame, summed(frames)).any()
    # Lifted ones are spared whatever they look like.
    white = frames[STILL].copy()
    white[foot_at(STILL)] = 250
    assert not look(white, summed(frames), spare=foot_at(STILL)).any()


def test_ground_seen_in_too_few_frames_is_not_trusted():
    frames = clip()
    # Only two frames saw the ground by the toe with the person away from it.
    found = look(frames[STILL], summed(frames, frames_used=range(STILL - 1, STILL + 2)))
    assert not found.any()


def stack_of(frame: np.ndarray, people: list[np.ndarray]) -> LayerStack:
    planes = 1 + len(people)
    colour = torch.from_numpy(frame).permute(2, 0, 1).float().div(255).expand(planes, -1, -1, -1).clone()
    alpha = torch.zeros(planes, HEIGHT, WIDTH)
    alpha[0] = 1
    for plane, person in enumerate(people, 1):
        alpha[plane] = torch.from_numpy(person.astype(np.float32))
    return LayerStack(colour, alpha, torch.arange(planes, 0, -1).float(), tuple(range(planes)))


def test_layers_find_the_removed_persons_toe_only():
    frames = clip()
    removing, nobody = ClipLeftovers([1]), ClipLeftovers([2])
    for t, frame in enumerate(frames):
        stack = stack_of(frame, [person_at(t)])
        for leftovers in (removing, nobody):
            leftovers.add(stack, frame, ~hidden_of(person_at(t)))
    stack = stack_of(frames[STILL], [person_at(STILL)])
    seen = ~hidden_of(person_at(STILL))
    found = removing.of(removing.people(stack), frames[STILL], seen)
    toe = foot_at(STILL) & ~hidden_of(person_at(STILL))
    assert (found & toe).sum() == toe.sum() and not (found & ~grown(toe)).any()
    assert not nobody.of(nobody.people(stack), frames[STILL], seen).any()  # nobody by that id


def test_near_is_the_frames_distance_within_the_reach():
    # Measured in the person's box alone: the same pixels as the distance transform of the whole frame,
    # for a person in the middle and one cut by the frame's corner.
    config = LeftoverConfig()
    corner = np.zeros((HEIGHT, WIDTH), bool)
    corner[HEIGHT - 100 :, WIDTH - 6 :] = True
    corner[HEIGHT - 40 :, WIDTH - 20 :] = True
    for person in (person_at(STILL), person_at(0), corner):
        expected = _distance(person) <= reach_of(person, config)
        assert np.array_equal(near(person, config), expected)
    assert not near(np.zeros((HEIGHT, WIDTH), bool), config).any()


def test_ground_within_a_box_is_the_frames_ground_there():
    frames = clip()
    total = GroundSum(HEIGHT, WIDTH)
    for t in range(FRAMES):
        total.add(frames[t], ~near(person_at(t)))
    box = (slice(20, 90), slice(30, 140))
    whole, there = total.ground(), total.within(box)
    for name in ("mean", "spread", "count"):
        assert np.array_equal(getattr(there, name), getattr(whole, name)[box])


def test_a_frames_leftovers_are_those_found_on_the_whole_frame():
    frames = clip()
    leftovers = ClipLeftovers([1])
    for t, frame in enumerate(frames):
        leftovers.add(stack_of(frame, [person_at(t)]), frame, ~hidden_of(person_at(t)))
    other = np.zeros((HEIGHT, WIDTH), bool)
    other[40:90, 10 + 13 * STILL + BODY : 10 + 13 * STILL + BODY + 4] = True
    frame = frames[STILL].copy()
    frame[other] = (200, 30, 30)
    stack = stack_of(frame, [person_at(STILL), other])
    seen = ~hidden_of(person_at(STILL))
    spared = foot_at(STILL).copy()
    spared[BOTTOM - 4 :] = False  # the toe's top rows (a lifted shadow): the rest is still found
    assert leftovers.sums is not None
    for spare in (None, spared):
        expected = find_leftovers(frame, ~seen, person_at(STILL), other, leftovers.sums.ground(), leftovers.config, spare)
        found = leftovers.of(leftovers.people(stack), frame, seen, spare)
        assert expected.any() and np.array_equal(found, expected)


def test_a_moving_cameras_ground_is_summed_on_the_canvas_and_read_back_where_the_frame_lands():
    """A canvas 30 px wider and 10 taller, each frame landing 20 px right and 6 down on it (a whole-pixel
    move, which warps exactly): the ground read back over a box is the frame-grid ground there; the count
    is kept where trusted (0 elsewhere), and ``low``/``high`` are each channel's extremes within the slack."""
    frames = clip()
    config = LeftoverConfig()
    still, moving = ClipLeftovers([1], config), ClipLeftovers([1], config, canvas=(WIDTH + 30, HEIGHT + 10))
    to_canvas = np.array([[1.0, 0, 20], [0, 1.0, 6], [0, 0, 1.0]])
    for t, frame in enumerate(frames):
        stack, seen = stack_of(frame, [person_at(t)]), ~hidden_of(person_at(t))
        still.add(stack, frame, seen)
        moving.add(stack, frame, seen, to_canvas)
    assert still.sums is not None and moving.sums is not None
    box = (slice(20, 90), slice(30, 140))
    here, there = still.sums.within(box), moving.sums.seen_from(box, to_canvas, config)
    known = (here.count >= config.frames) & (here.spread.max(axis=2) <= config.steady)
    assert np.array_equal(there.mean, here.mean) and np.array_equal(there.spread, here.spread)
    assert np.array_equal(there.count, np.where(known, here.count, 0))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    assert np.array_equal(there.low, cv2.erode(here.mean, disc)) and np.array_equal(there.high, cv2.dilate(here.mean, disc))


def test_a_moving_cameras_slack_spares_ground_a_pixel_off_and_still_finds_the_toe():
    """Chained homographies put a pan's frame a pixel or two off its canvas: against the ground's mean alone
    a dark tile's edge beside the person, two rows off, disagrees; against the colours the ground shows within
    the slack (``Ground.low`` / ``high``, as a moving camera's ground is read back) it does not, and a white
    shoe still does. (A reach of 10 px, so that the tile lies within it.)"""
    config = LeftoverConfig(reach=0.1)
    x = 10 + 13 * STILL + BODY
    tiled = []
    for frame in clip(foot=False):
        frame = frame.copy()
        frame[60:70, x + 2 : x + 9] = (60, 70, 45)
        tiled.append(frame)
    ground = summed(tiled, config)
    off = tiled[STILL].copy()
    off[60:72, x + 2 : x + 9] = off[58:70, x + 2 : x + 9].copy()  # the frame two rows off its ground there
    assert look(off, ground, reach=0.1).sum() >= 2 * 2 * 7  # the tile's top and bottom edges
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * config.slack + 1,) * 2)
    ground.low, ground.high = cv2.erode(ground.mean, disc), cv2.dilate(ground.mean, disc)
    assert not look(off, ground, reach=0.1).any()
    off[foot_at(STILL)] = (235, 235, 230)
    toe = foot_at(STILL) & ~hidden_of(person_at(STILL))
    found = look(off, ground, reach=0.1)
    assert (found & toe).sum() == toe.sum()
