import warnings

import cv2
import numpy as np
import torch

from vmat.editing import Filled, complete_background, remove
from vmat.editing.completion import CompletionConfig
from vmat.editing.completion_stream import complete_stream
from vmat.editing.shadows import ShadowConfig, _darkening, _gathered, lift_shadow, lift_shadows
from vmat.layers import LayerStack

HEIGHT, WIDTH = 120, 160
SHADE = np.array([0.45, 0.5, 0.6], np.float32)  # a shadow lets through less red than blue (skylight)


def grained(colour, seed: int, low: float = 0.8, spread: float = 0.4, shape=(HEIGHT, WIDTH)) -> np.ndarray:
    """Ground of ``colour`` with a fine grain: ``low`` to ``low + spread`` times it."""
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 1.0)
    return np.array(colour, np.float32) * (low + spread * grain[..., None])


def lawn(seed: int = 0) -> np.ndarray:
    return grained([0.45, 0.55, 0.3], seed)


def person_box(x: int = 60, width: int = WIDTH) -> np.ndarray:
    person = np.zeros((HEIGHT, width), bool)
    person[30:95, x : x + 15] = True
    return person


def shadow_from(x: int = 60, width: int = WIDTH) -> np.ndarray:
    """A soft shadow cast to the right along the ground from the feet of :func:`person_box`."""
    shadow = np.zeros((HEIGHT, width), np.uint8)
    cv2.fillPoly(shadow, [np.array([[x, 95], [x + 15, 95], [x + 60, 105], [x + 45, 108]])], 1)
    return cv2.GaussianBlur(shadow.astype(np.float32), (0, 0), 1.0)


def shaded(ground: np.ndarray, *shadows: np.ndarray) -> np.ndarray:
    out = ground.copy()
    for shadow in shadows:
        out *= 1 - shadow[..., None] * (1 - SHADE)
    return out


def stack_of(background: np.ndarray, person: np.ndarray) -> LayerStack:
    plane = torch.from_numpy(background).permute(2, 0, 1)
    height, width = person.shape
    colour = torch.stack([plane, torch.full((3, height, width), 0.2)])
    alpha = torch.stack([torch.ones(height, width), torch.from_numpy(person.astype(np.float32))])
    return LayerStack(colour, alpha, torch.tensor([float("inf"), 1.0]), (0, 1))


def background_of(stack: LayerStack) -> np.ndarray:
    return stack.colour[0].permute(1, 2, 0).numpy()


def test_the_attached_shadow_is_lifted_and_the_ground_kept():
    ground, person, shadow = lawn(), person_box(), shadow_from()
    # A dark patch of the same chroma that does not touch the person is not their shadow.
    patch = np.zeros((HEIGHT, WIDTH), np.float32)
    patch[100:112, 8:28] = 1.0
    stack = stack_of(shaded(ground, shadow, patch), person)
    lifted, changed = lift_shadows(stack, [1])
    result = background_of(lifted)
    inside = shadow > 0.5
    before = np.abs(background_of(stack) - ground)[inside].mean()
    after = np.abs(result - ground)[inside].mean()
    assert after < 0.3 * before
    # The grain of the lawn under the shadow survives (it is relit, not painted over).
    core = shadow > 0.99
    assert np.corrcoef(result[core][:, 1], ground[core][:, 1])[0, 1] > 0.8
    far = ~cv2.dilate((shadow > 0).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.array_equal(result[far], background_of(stack)[far])
    assert not changed[patch > 0].any()
    # Someone else's removal leaves this shadow alone.
    assert lift_shadows(stack, [7])[0] is stack


def test_shade_that_reaches_beyond_the_person_is_not_a_shadow():
    ground, person = lawn(1), person_box()
    tree = np.zeros((HEIGHT, WIDTH), np.float32)
    tree[70:, :] = 1.0  # the whole lower frame is in a tree's shade, the person standing in it
    stack = stack_of(shaded(ground, tree), person)
    assert not lift_shadows(stack, [1])[1].any()


def test_completion_removes_a_moving_shadow_unless_it_is_kept():
    ground = np.concatenate([lawn(2), lawn(3)], axis=1)  # 320 wide
    # The person walks right 12 px a frame, casting their shadow as they go: each patch of lawn under the
    # shadow is seen lit in other frames, while the person is elsewhere.
    stacks = [stack_of(shaded(ground, shadow_from(20 + 12 * t, 320)), person_box(20 + 12 * t, 320)) for t in range(12)]
    lifted = [remove(done.stack, 1).render().permute(1, 2, 0).numpy() for done in complete_background(stacks, removing=[1])]
    kept = [
        remove(done.stack, 1).render().permute(1, 2, 0).numpy()
        for done in complete_background(stacks, removing=[1], keep_shadows=True)
    ]
    for t in range(12):
        inside = shadow_from(20 + 12 * t, 320) > 0.5
        assert np.abs(lifted[t] - ground)[inside].mean() < 0.3 * np.abs(kept[t] - ground)[inside].mean()


def test_a_moving_shadow_is_replaced_by_the_ground_the_window_saw_lit():
    """A lift only approximates the lit ground; where frames of the window saw it lit (the shadow moves on
    with the person), that ground is copied as they saw it, exactly on a still camera."""
    ground = np.concatenate([lawn(2), lawn(3)], axis=1)
    stacks = [stack_of(shaded(ground, shadow_from(20 + 12 * t, 320)), person_box(20 + 12 * t, 320)) for t in range(12)]
    for t, done in enumerate(complete_background(stacks, removing=[1])):
        inside = (shadow_from(20 + 12 * t, 320) > 0.5) & ~person_box(20 + 12 * t, 320)
        assert (done.source[inside] == Filled.NEIGHBOUR).all()
        np.testing.assert_allclose(background_of(done.stack)[inside], ground[inside], atol=0.51 / 255)


def test_a_donor_still_in_the_shadow_does_not_replace_its_lift():
    """The next frame shows the same deep shadow (a third of the light, as in sunshine) but does not lift it (the
    person there stands apart from it: it is not attached to their feet): it is not ground seen lit, so the
    frame keeps its lift there."""
    ground, shadow = lawn(6), shadow_from()
    image = ground * (1 - 0.65 * shadow[..., None])
    apart = np.zeros((HEIGHT, WIDTH), bool)
    apart[10:70, 60:75] = True
    stacks = [stack_of(image, person_box()), stack_of(image, apart)]
    first = next(complete_background(stacks, removing=[1]))
    inside = (shadow > 0.5) & ~person_box()
    assert (first.source[inside] == Filled.SHADOW).mean() > 0.8  # the donor's shadow's soft edge is lighter
    assert np.abs(background_of(first.stack) - ground)[inside].mean() < 0.3 * np.abs(image - ground)[inside].mean()


def test_a_lift_is_kept_only_where_the_frame_saw_the_ground():
    """Under a removed person's soft edge the background plane holds the decomposition's guess, which a lift would
    only brighten (a white shoe's edge left a teal smear on woman_dog): there the ground is completed as other
    frames show it, and the rest of the shadow keeps its lift (no frame saw it lit)."""
    ground, shadow = lawn(6), shadow_from()
    image = ground * (1 - 0.65 * shadow[..., None])
    apart = np.zeros((HEIGHT, WIDTH), bool)
    apart[10:70, 60:75] = True
    edge = np.zeros((HEIGHT, WIDTH), bool)
    edge[95:98, 62:72] = True  # in the shadow, under the feet's soft edge
    guess = np.array([0.1, 0.6, 0.6], np.float32)
    first = stack_of(np.where(edge[..., None], guess, image), person_box())
    first = first.replace(alpha=torch.where(torch.from_numpy(edge), torch.tensor(0.3), first.alpha))
    done = next(complete_background([first, stack_of(image, apart)], removing=[1]))
    assert not (done.source[edge] == Filled.SHADOW).any()
    # Completed from the other frame, which shows it in the shadow (measured 0.018 off it; the guess: 0.23 off the ground).
    assert np.abs(background_of(done.stack) - image)[edge].mean() < 0.3 * np.abs(guess - image[edge]).mean()
    rest = (shadow > 0.5) & ~person_box() & ~cv2.dilate(edge.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert (done.source[rest] == Filled.SHADOW).mean() > 0.8


def test_completion_keeps_dark_ground_that_stays_dark():
    ground = np.concatenate([lawn(4), lawn(5)], axis=1)  # 320 wide
    mat = np.zeros((HEIGHT, 320), np.float32)
    mat[92:110, 40:120] = 1.0  # a dark mat, just like a shadow in any one frame, that the person walks across
    stacks = [stack_of(shaded(ground, mat), person_box(20 + 12 * t, 320)) for t in range(20)]
    # Once the person is far from it, the mat is still dark: it is ground, not their shadow.
    assert lift_shadows(stacks[2], [1])[1][mat > 0].any()  # one frame alone cannot tell
    for done in complete_background(stacks, removing=[1]):
        assert not (done.source == Filled.SHADOW).any()


def two_people(ground: np.ndarray) -> LayerStack:
    """Two people with their shadows on ``ground`` (320 wide): person 1 at x = 20, person 2 at x = 180."""
    stack = stack_of(shaded(ground, shadow_from(20, 320), shadow_from(180, 320)), person_box(20, 320))
    second = torch.from_numpy(person_box(180, 320).astype(np.float32))
    return LayerStack(
        torch.cat([stack.colour, torch.full((1, 3, HEIGHT, 320), 0.3)]),
        torch.cat([stack.alpha, second[None]]),
        torch.tensor([float("inf"), 1.0, 2.0]),
        (0, 1, 2),
    )


def test_lifting_two_shadows_is_lifting_one_after_the_other_and_leaves_the_input():
    stack = two_people(np.concatenate([lawn(6), lawn(7)], axis=1))
    before = stack.colour.clone()
    both, changed = lift_shadows(stack, [1, 2])
    first, changed_first = lift_shadows(stack, [1])
    then, changed_then = lift_shadows(first, [2])
    assert changed_first.any() and changed_then.any() and not (changed_first & changed_then).any()
    assert torch.equal(both.colour, then.colour)
    assert np.array_equal(changed, changed_first | changed_then)
    assert torch.equal(both.colour[1:], stack.colour[1:]) and torch.equal(both.alpha, stack.alpha)
    assert torch.equal(stack.colour, before)  # the layers given are not written to


def test_the_ground_seen_away_may_be_8_bit():
    ground = np.concatenate([lawn(8), lawn(9)], axis=1)
    stack = two_people(ground)
    seen = np.ones((HEIGHT, 320), bool)
    # Other frames saw person 1's shadow ground lit (that shadow goes) and person 2's dark (it is ground).
    plate = np.round(np.clip(shaded(ground, shadow_from(180, 320)), 0, 1) * 255).astype(np.uint8)
    from_floats = lift_shadows(stack, [1, 2], away=(plate.astype(np.float32) / 255.0, seen))
    from_bytes = lift_shadows(stack, [1, 2], away=(plate, seen))
    assert from_floats[1][:, :160].any() and not from_floats[1][:, 160:].any()
    assert torch.equal(from_bytes[0].colour, from_floats[0].colour)
    assert np.array_equal(from_bytes[1], from_floats[1])


def test_dark_texture_at_the_feet_is_ground_and_a_shadow_on_the_same_texture_is_lifted():
    """On a coarse, contrasty lawn, the threshold cuts dark blobs out of the ground's own texture, and some
    touch the feet; they are a narrow band of darkness where a shadow keeps all of the ground's variation."""
    false_lifts = {0.0: 0, ShadowConfig().texture: 0}
    for seed in range(4):
        rng = np.random.default_rng(seed)
        grain = cv2.GaussianBlur(rng.random((HEIGHT, WIDTH)).astype(np.float32), (0, 0), 1.5)
        grain = (grain - grain.min()) / (grain.max() - grain.min())
        ground = np.array([0.45, 0.55, 0.3], np.float32) * (0.5 + grain[..., None])
        for x in range(30, 100, 4):
            person = person_box(x)
            for texture in false_lifts:
                false_lifts[texture] += bool(lift_shadows(stack_of(ground, person), [1], ShadowConfig(texture=texture))[1].any())
            stack = stack_of(shaded(ground, shadow_from(x)), person)
            inside = shadow_from(x) > 0.5
            before = np.abs(background_of(stack) - ground)[inside].mean()
            after = np.abs(background_of(lift_shadows(stack, [1])[0]) - ground)[inside].mean()
            assert after < 0.35 * before
    # Without the texture rule, ground is lifted beside the feet at several of the 72 places; with it, at most one.
    assert false_lifts[0.0] >= 5 and false_lifts[ShadowConfig().texture] <= 1


def test_a_dark_region_warmer_than_the_lit_ground_is_not_a_shadow():
    """A red-brown kerb beside grey asphalt is darker than the ground, with a chroma within the tolerance, and
    can run from the feet to one side like a shadow; but a shadow is lit by what the sun leaves (the sky's
    bluer light, or indoors the same light): it is never warmer than the lit ground."""
    asphalt = grained([0.6, 0.6, 0.6], 5, 0.85, 0.3)
    person, region = person_box(), shadow_from()[..., None]
    for tint, lifted in ((SHADE, True), (np.array([0.75, 0.68, 0.62], np.float32), False)):
        stack = stack_of(asphalt * (1 - region * (1 - tint)), person)
        assert lift_shadows(stack, [1])[1].any() == lifted
        # The warm region is taken for a shadow without the rule: the rule alone tells it apart.
        assert lift_shadows(stack, [1], ShadowConfig(warmer=1.0))[1].any()


def test_a_shadow_beginning_a_few_pixels_from_the_feet_is_theirs():
    """The ground right beside the soles lies under the matte's soft edge (its plane a lighter guess), and a foot
    just lifted casts its shadow a little below it: a shadow that begins a few pixels off the feet is theirs."""
    height, width = 240, 320
    sand = grained([0.8, 0.75, 0.6], 7, 0.85, 0.3, (height, width))
    person = np.zeros((height, width), bool)
    person[20:220, 150:175] = True  # 200 px tall: the gap reaches 6 px
    shadow = np.zeros((height, width), np.uint8)
    cv2.fillPoly(shadow, [np.array([[180, 210], [270, 216], [262, 224], [180, 221]])], 1)  # 5 px right of the feet
    shadow = cv2.GaussianBlur(shadow.astype(np.float32), (0, 0), 1.0)
    stack = stack_of(sand * (1 - shadow[..., None] * (1 - SHADE)), person)
    inside = shadow > 0.5
    lifted, changed = lift_shadows(stack, [1])
    assert changed[inside].mean() > 0.9
    assert np.abs(background_of(lifted) - sand)[inside].mean() < 0.3 * np.abs(background_of(stack) - sand)[inside].mean()
    # Within 3 px only (the reach before), the shadow is not attached to the feet.
    assert not lift_shadows(stack, [1], ShadowConfig(gap=0.0))[1][inside].any()


def soft_soled(person: np.ndarray, background: np.ndarray) -> LayerStack:
    """:func:`stack_of` with the matte's soft edge under the soles (alpha 0.3 on the two rows below them),
    where the background plane holds the ground as it is there."""
    stack = stack_of(background, person)
    alpha = stack.alpha.clone()
    alpha[1, 95:97][torch.from_numpy(person[93:95])] = 0.3
    return stack.replace(alpha=alpha)


def test_the_contact_shadow_under_the_soles_is_lifted_and_a_stripe_passing_under_them_is_not():
    """The dark line where the soles meet the ground lies mostly inside the matte's soft edge, which the
    cast shadow's ground leaves out; a dark stripe of the same shade under the feet that runs on far beyond
    them on both sides is ground (a kerb, a joint)."""
    person = person_box()
    for seed in range(3):
        ground = lawn(10 + seed)
        line = np.zeros((HEIGHT, WIDTH), np.float32)
        line[95:98, 59:76] = 1.0
        stack = soft_soled(person, shaded(ground, line))
        lifted, changed = lift_shadows(stack, [1])
        inside = line > 0
        before = np.abs(background_of(stack) - ground)[inside].mean()
        assert np.abs(background_of(lifted) - ground)[inside].mean() < 0.3 * before
        stripe = np.zeros((HEIGHT, WIDTH), np.float32)
        stripe[95:98, 5:150] = 1.0
        assert not lift_shadows(soft_soled(person, shaded(ground, stripe)), [1])[1].any()


def test_a_window_with_no_ground_has_no_darkening_and_warns_nothing():
    """A window the person fills has no ground to compare with: no darkening, and no numpy warning about
    the median of nothing (it reached users' terminals from the contact search)."""
    brightness = np.full((12, 12), 0.5, np.float32)
    chroma = np.zeros((12, 12, 2), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _darkening(brightness, chroma, np.zeros((12, 12), bool), 3.0, ShadowConfig(), apart=2) is None


def test_a_deep_shadow_is_lifted_with_the_lit_grounds_grain_not_its_noise_amplified():
    """Lifting divides the shadow by its transmittance s, the sensor's noise in it too: the lifted ground's
    fine detail was about 1/s times the lit ground's wherever noise dominates it. Only that excess goes:
    the lifted ground's grain is the lit ground's, and its texture follows the true ground's as closely."""
    deep = SHADE * 0.6  # s about 0.31

    def fine(image: np.ndarray) -> np.ndarray:
        luminance = image.mean(axis=2)
        return luminance - cv2.GaussianBlur(luminance, (0, 0), 1.0)

    shape = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.fillPoly(shape, [np.array([[40, 40], [110, 50], [120, 80], [50, 75]])], 1.0)
    shadow = cv2.GaussianBlur(shape, (0, 0), 1.0)
    core = cv2.erode((shadow > 0.99).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)  # ~1,600 px
    lit = ~cv2.dilate((shadow > 0).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    grain, correlation = [], []
    for seed in range(4):
        ground = lawn(20 + seed)
        # The lawn's grain is about half as strong as the noise: the lit ground's fine detail is mostly noise.
        observed = ground * (1 - shadow[..., None] * (1 - deep))
        observed += np.random.default_rng(seed).normal(0.0, 0.02, ground.shape).astype(np.float32)
        plain = observed / (1 - shadow[..., None] * (1 - deep))  # the lift as it was: by 1/s alone
        result = lift_shadow(observed, shadow, np.ones((HEIGHT, WIDTH), bool))
        assert np.abs(result - ground)[core].mean() < 0.3 * np.abs(observed - ground)[core].mean()
        lit_grain = fine(observed)[lit].std()
        assert fine(plain)[core].std() > 2.5 * lit_grain  # the defect (sqrt(T + N / s^2) over sqrt(T + N): ~2.9)
        grain.append(fine(result)[core].std() / lit_grain)
        correlation.append(
            np.corrcoef(result[core][:, 1], ground[core][:, 1])[0, 1] - np.corrcoef(plain[core][:, 1], ground[core][:, 1])[0, 1]
        )
    # Measured over ~1,600 pixels, the grain's std varies by a few per cent from one ground to the next; the
    # lift matches the power over a ring only a few pixels wide around the shadow (~600 px), worth about 5%.
    # A blur would take it well below.
    assert all(abs(g - 1.0) < 0.15 for g in grain), grain
    assert np.mean(correlation) > 0.0, correlation


def test_the_grain_match_leaves_the_ground_outside_the_shadow_alone_even_where_it_is_flat():
    """Where the lit ground is flat in a band (one flat colour: no power at all), the lifted core's noise is
    all excess and goes, but a pixel outside the matte (not lifted) keeps its fine detail: the noise the
    shadow's own edge carries out to it is the frame's, not the lift's."""
    shape = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.rectangle(shape, (40, 30), (110, 80), 1.0, -1)
    matte = cv2.GaussianBlur(shape, (0, 0), 1.0)
    lit = np.empty((HEIGHT, WIDTH, 3), np.float32)
    lit[:] = (0.6, 0.5, 0.4)
    observed = lit * (1 - matte[..., None] * 0.6)
    inside = matte > 0
    observed[inside] += np.random.default_rng(0).normal(0.0, 0.01, (int(inside.sum()), 3)).astype(np.float32)
    result = lift_shadow(observed, matte, np.ones((HEIGHT, WIDTH), bool))
    assert np.array_equal(result[~inside], observed[~inside])
    core = cv2.erode(shape.astype(np.uint8), np.ones((11, 11), np.uint8)).astype(bool)
    assert np.abs(result - lit)[core].mean() < 0.5 * np.abs(observed / 0.4 - lit)[core].mean()  # the excess went


def test_a_shadow_core_too_small_to_measure_its_noise_keeps_the_plain_lift(monkeypatch):
    """Under _GRAIN_PIXELS core pixels (here an 18 px square: 36 px once its edge's reach is left out) a
    band's power is too uncertain to shrink it by: the lift is the plain division."""
    from vmat.editing import shadows

    shape = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.rectangle(shape, (60, 50), (77, 67), 1.0, -1)
    matte = cv2.GaussianBlur(shape, (0, 0), 1.0)
    ground = lawn(5)
    observed = ground * (1 - matte[..., None] * 0.6)
    observed += np.random.default_rng(5).normal(0.0, 0.02, ground.shape).astype(np.float32)
    result = lift_shadow(observed, matte, np.ones((HEIGHT, WIDTH), bool))
    monkeypatch.setattr(shadows, "_match_grain", lambda lifted, *_: lifted)
    assert np.array_equal(result, lift_shadow(observed, matte, np.ones((HEIGHT, WIDTH), bool)))


def _opponent(image: np.ndarray) -> np.ndarray:
    """Brightness and two colour differences (R - B, G - (R + B) / 2) of an ``(h, w, 3)`` image."""
    red, green, blue = image[..., 0], image[..., 1], image[..., 2]
    return np.stack([image.mean(axis=2), red - blue, green - (red + blue) / 2], axis=2)


def test_a_shadow_whose_texture_is_compressed_less_than_its_brightness_is_lifted_to_the_lit_grounds_contrast():
    """A video's tone curve compresses a sunlit ground's highlights: the shadowed ground is an affine
    function of the lit one, ``s = (l - b) / a``, darker than ``1 / a`` alone makes it. Dividing by the
    brightness's ratio overshoots the texture (bright stones to white, gaps into the shadow's colour); the
    affine lift gives the lit ground back."""
    shape = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.rectangle(shape, (30, 30), (130, 90), 1.0, -1)
    matte = cv2.GaussianBlur(shape, (0, 0), 0.7)
    grain = cv2.GaussianBlur(np.random.default_rng(7).random((HEIGHT, WIDTH)).astype(np.float32), (0, 0), 1.0)
    grain = (grain - grain.min()) / (grain.max() - grain.min())
    ground = np.array([0.8, 0.75, 0.7], np.float32) * (0.6 + 0.5 * grain[..., None])  # gravel: +-30%
    slope, offset = np.float32(1.35), np.array([0.3, 0.25, 0.15], np.float32)  # the colour is in the offset
    shadowed = (ground - offset) / slope
    observed = ground + matte[..., None] * (shadowed - ground)
    result = lift_shadow(observed, matte, np.ones((HEIGHT, WIDTH), bool))
    plain = observed * np.median(ground[shape > 0], axis=0) / np.median(shadowed[shape > 0], axis=0)
    core = cv2.erode(shape.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    error, plain_error = np.abs(result - ground)[core].mean(), np.abs(plain - ground)[core].mean()
    assert error < 0.4 * plain_error, (error, plain_error)
    spread = np.subtract(*np.percentile(result[core].mean(axis=1), [90, 10]))
    truth = np.subtract(*np.percentile(ground[core].mean(axis=1), [90, 10]))
    assert abs(spread / truth - 1) < 0.03, (spread, truth)


def test_a_shadows_colour_edge_wider_than_its_brightness_leaves_no_coloured_rim():
    """A video blurs colour wider than brightness: at a hard shadow's edge the shadowed ground still has
    the lit ground's colour a few pixels in. Lifting it by the shadow's colour shift there painted a warm
    rim; the colour is shifted only as far as the shadow's colour reaches."""
    shape = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.rectangle(shape, (30, 30), (130, 90), 1.0, -1)
    matte = cv2.GaussianBlur(shape, (0, 0), 0.7)
    ground = np.array([0.75, 0.7, 0.65], np.float32) * (0.8 + 0.4 * lawn(3)[..., 1:2] / 0.55 - 0.4)
    transmittance = np.array([0.4, 0.45, 0.55], np.float32)  # skylight: bluer than the lit ground
    sharp = ground * (1 - matte[..., None] * (1 - transmittance))
    # The camera keeps the brightness and blurs the colour differences (3 px).
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    observed = blurred - blurred.mean(axis=2, keepdims=True) + sharp.mean(axis=2, keepdims=True)
    result = lift_shadow(observed, matte, np.ones((HEIGHT, WIDTH), bool))
    plain = observed / (1 - matte[..., None] * (1 - transmittance))  # each channel by its ratio, as before
    inside = cv2.distanceTransform(shape.astype(np.uint8), cv2.DIST_L2, 5)
    rim, deep = (inside > 0) & (inside <= 4), inside > 12
    truth = _opponent(ground)[..., 1:]
    rim_error = np.linalg.norm(_opponent(result)[..., 1:] - truth, axis=2)[rim].mean()
    plain_rim_error = np.linalg.norm(_opponent(plain)[..., 1:] - truth, axis=2)[rim].mean()
    assert rim_error < 0.3 * plain_rim_error, (rim_error, plain_rim_error)
    assert (np.abs(_opponent(result)[..., 1:] - truth)[deep].mean(axis=0) < 0.01).all()


def test_an_uneven_contact_line_is_filled_with_the_ground_around_it_not_lifted_by_one_transmittance():
    """A contact line darkens the ground far more at the soles than a pixel away: one transmittance (its
    core's) lifted the lighter rows beside its darkest one to white and left that one dark (woman_dog's still
    sole). Filled, every row comes back to the ground's colour."""
    ground = lawn(4)
    darkening = np.zeros((HEIGHT, WIDTH), np.float32)
    darkening[95:97, 50:90], darkening[97, 50:90] = 0.8, 0.4  # how much light goes: the soles, a pixel below
    observed = ground * (1 - darkening[..., None])
    matte = (darkening > 0).astype(np.float32)
    lifted = lift_shadow(observed, matte, np.ones((HEIGHT, WIDTH), bool))
    filled = lift_shadow(observed, matte, np.ones((HEIGHT, WIDTH), bool), line=True)
    rows = [np.abs(filled - ground)[row, 50:90].mean() for row in (95, 96, 97)]
    assert max(rows) < 0.04, rows  # the lawn's grain (+-20%) is what a fill cannot bring back
    assert np.abs(lifted - ground)[97, 50:90].mean() > 5 * rows[2]  # the lighter row lifted far too far
    assert (lifted[97, 50:90] > ground[97, 50:90] + 0.2).mean() > 0.9
    assert np.array_equal(filled[matte == 0], observed[matte == 0])


def test_a_window_of_a_planar_layer_is_gathered_as_numpy_copies_it():
    planes = torch.rand(3, 20, 30)
    view = planes.permute(1, 2, 0).numpy()[3:17, 5:25]  # a layer's colour, channels first, cut to a window
    gathered = _gathered(view)
    assert gathered.flags.c_contiguous and np.array_equal(gathered, np.ascontiguousarray(view))
    image = np.ascontiguousarray(view)
    assert _gathered(image) is image
    assert np.array_equal(_gathered(image[:, ::2]), image[:, ::2])


def test_dark_gaps_in_a_lifted_shadow_keep_the_grounds_colour_not_an_amplified_blue():
    """Deep in a shadow on gravel the gaps between stones are lit by the blue sky alone and nearly black.
    The affine lift's offset is light added evenly (with the lit ground's colour): scaled by the whole
    lift, a gap's blue grew by its brightness's ratio into a blue blot."""
    shape = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.rectangle(shape, (30, 30), (130, 90), 1.0, -1)
    matte = cv2.GaussianBlur(shape, (0, 0), 0.7)
    rng = np.random.default_rng(5)
    grain = cv2.GaussianBlur(rng.random((HEIGHT, WIDTH)).astype(np.float32), (0, 0), 1.0)
    grain = (grain - grain.min()) / (grain.max() - grain.min())
    ground = np.array([0.75, 0.72, 0.68], np.float32) * (0.6 + 0.5 * grain[..., None])
    shadowed = (ground - np.float32(0.2)) / np.float32(1.4) * np.array([0.92, 1.0, 1.12], np.float32)
    observed = ground + matte[..., None] * (shadowed - ground)
    gaps = np.zeros((HEIGHT, WIDTH), np.uint8)
    gaps[rng.integers(35, 85, 40), rng.integers(35, 125, 40)] = 1
    gaps = cv2.dilate(gaps, np.ones((2, 2), np.uint8)).astype(bool)
    observed[gaps] = [0.03, 0.045, 0.08]
    result = lift_shadow(observed, matte, np.ones((HEIGHT, WIDTH), bool))
    red_blue = (result[..., 0] - result[..., 2]) * 255
    lit = np.median(red_blue[shape == 0])
    # Scaled by the whole lift, 14.3 levels bluer than the lit ground (the stones between them 1.6).
    assert np.abs(red_blue[gaps] - lit).mean() < 8.0
    assert np.abs(red_blue[(shape > 0) & ~gaps] - lit).mean() < 1.0


def test_a_shadow_seen_only_under_a_lifted_heel_does_not_come_back_where_the_person_stood():
    """A person stands still; for the first three frames their heel is lifted and the shadow under it shows
    (their matte ends above it), later their matte covers it. Frames more than the window away take that
    ground from the clean plate, the frames' unlifted mean: the shadow came back as a dark blot under the
    removed person's feet. It is lifted there as in the frames that saw it, and nothing else changes."""
    ground, shadow = lawn(20), np.zeros((HEIGHT, WIDTH), np.float32)
    shadow[91:98, 59:76] = 1.0
    image = np.round(shaded(ground, shadow) * 255) / np.float32(255)  # 8-bit, as a stream holds its frames
    lifted, standing = person_box(), person_box()
    lifted[88:], standing[95:98, 60:75] = False, True
    stacks = [stack_of(image, lifted) for _ in range(3)] + [stack_of(image, standing) for _ in range(9)]
    config = CompletionConfig(window=2)
    done = list(complete_background(stacks, config, removing=[1]))
    streamed = list(complete_stream(iter(stacks), config, removing=[1], lookahead=len(stacks)))
    plate = np.zeros((HEIGHT, WIDTH), bool)
    plate[93:98, 61:74] = True  # what the lifted heel showed, at least 2 px from the matte (the seen margin)
    for t in range(6, 12):
        assert (done[t].source[plate] == Filled.PLATE).all()  # beyond every frame that saw it lifted
        result = background_of(done[t].stack)
        assert np.abs(result - ground)[plate].mean() < 0.3 * np.abs(image - ground)[plate].mean()
        assert torch.equal(streamed[t].stack.colour[0], done[t].stack.colour[0])
        # Only what was lent changed: the frame's own ground is as it was.
        seen = done[t].source == Filled.SEEN
        assert np.array_equal(result[seen], image[seen])
