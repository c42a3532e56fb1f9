import cv2
import numpy as np
import pytest

from vmat.errors import ConfigError
from vmat.temporal import flow_blend
from vmat.temporal.flow_blend import FlowBlend, FlowBlendConfig, flow_estimator
from vmat.temporal.streaming import StreamConfig, TemporalRefinerStream

HEIGHT, WIDTH = 96, 128


def _texture(seed: int) -> np.ndarray:
    """A smooth random colour texture that optical flow can lock onto."""
    noise = np.random.default_rng(seed).integers(0, 256, (HEIGHT // 4, WIDTH // 4, 3), dtype=np.uint8)
    return cv2.resize(noise, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)


def _disc_alpha(centre_x: float, radius: float = 24.0, soft: float = 3.0) -> np.ndarray:
    """A disc's matte with a soft ramp of ``soft`` px at its edge, centred at ``(centre_x, HEIGHT / 2)``."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    distance = np.hypot(xs - centre_x, ys - HEIGHT / 2)
    return np.clip((radius - distance) / soft + 0.5, 0.0, 1.0).astype(np.float32)


def _scene(centre_x: float) -> np.ndarray:
    """Background texture with a differently textured disc pasted at ``centre_x`` (the disc's texture moves with it)."""
    alpha = _disc_alpha(centre_x)[..., None]
    shift = np.float32([[1, 0, centre_x - WIDTH / 2], [0, 1, 0]])
    foreground = cv2.warpAffine(_texture(1), shift, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REFLECT)
    return (alpha * foreground + (1 - alpha) * _texture(0)).astype(np.uint8)


def _band(alpha: np.ndarray) -> np.ndarray:
    return (alpha > 0.0) & (alpha < 1.0)


def _second_frame(first: tuple[np.ndarray, np.ndarray], image: np.ndarray, alphas: dict) -> dict:
    """The blend's output for ``(image, alphas)`` after a first frame ``(image, person 1's alpha)``."""
    blend = FlowBlend()
    blend.push(first[0], {1: first[1]})
    return blend.push(image, alphas)


def test_a_band_that_flickers_on_a_still_picture_is_steadied():
    image = _scene(WIDTH / 2)
    truth = _disc_alpha(WIDTH / 2)
    rng = np.random.default_rng(2)
    blend = FlowBlend()
    inputs, outputs = [], []
    for _ in range(8):
        alpha = np.where(_band(truth), np.clip(truth + rng.normal(0, 0.15, truth.shape), 0, 1), truth).astype(np.float32)
        inputs.append(alpha)
        outputs.append(blend.push(image, {1: alpha})[1])
    band = _band(truth)

    def flicker(mattes):
        return np.mean([np.abs(b - a)[band].mean() for a, b in zip(mattes[1:], mattes[2:])])

    assert flicker(outputs) < 0.7 * flicker(inputs)


def test_a_moving_edge_is_carried_by_the_flow_not_dragged():
    blend = FlowBlend()
    steps = [WIDTH / 2 - 6 + 3 * t for t in range(5)]  # 3 px a frame
    for x in steps:
        alpha = _disc_alpha(x)
        out = blend.push(_scene(x), {1: alpha})[1]
    previous = _disc_alpha(steps[-2])
    band = _band(alpha) | _band(previous)
    # Held in place (no flow) the last matte would be this far off in the band; carried by the flow it agrees.
    assert np.abs(previous - alpha)[band].mean() > 0.3
    assert np.abs(out - alpha)[band].mean() < 0.05


def test_where_the_picture_changes_the_frame_s_own_matte_is_kept():
    held = _disc_alpha(WIDTH / 2)
    alpha = _disc_alpha(WIDTH / 2 + 5)
    out = _second_frame((_texture(3), held), _texture(4), {1: alpha})[1]  # a cut: nothing of the picture stays
    band = _band(alpha) | _band(held)
    assert np.abs(held - alpha)[band].mean() > 0.3
    # Two random textures agree by chance at a few pixels, so this is a mean, not a maximum.
    assert np.abs(out - alpha)[band].mean() < 0.02


def test_solid_and_empty_pixels_away_from_both_bands_are_left_exactly():
    image = _scene(WIDTH / 2)
    alpha = _disc_alpha(WIDTH / 2, radius=20.0)
    out = _second_frame((image, _disc_alpha(WIDTH / 2)), image, {1: alpha})[1]
    near = cv2.dilate((_band(alpha) | _band(_disc_alpha(WIDTH / 2))).view(np.uint8), np.ones((5, 5), np.uint8)) > 0
    np.testing.assert_array_equal(out[~near], alpha[~near])
    assert not np.array_equal(out[near], alpha[near])  # the band itself was blended (the picture is still)


def test_a_person_new_in_this_frame_keeps_their_own_matte():
    image = _scene(WIDTH / 2)
    newcomer = _disc_alpha(WIDTH / 2 + 2)
    out = _second_frame((image, _disc_alpha(WIDTH / 2)), image, {1: _disc_alpha(WIDTH / 2), 2: newcomer})
    np.testing.assert_array_equal(out[2], newcomer)


def test_the_stream_blends_before_fusion_and_zero_turns_it_off():
    frames = [(_scene(x), {1: _disc_alpha(x + (1.5 if k % 2 else 0))}) for k, x in enumerate(range(50, 62, 3))]
    blend = FlowBlend(FlowBlendConfig(weight=0.5))
    expected = [blend.push(image, alphas)[1] for image, alphas in frames]
    for weight, want in ((0.5, expected), (0.0, [alphas[1] for _, alphas in frames])):
        stream = TemporalRefinerStream(None, StreamConfig(fusion="none", change="frames", flow_blend=weight))
        got = [stream.push(image, alphas)[1] for image, alphas in frames]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_one_flow_estimator_for_the_clip_gives_what_a_new_one_per_frame_gives(monkeypatch):
    moving = [(_scene(x), {1: _disc_alpha(x)}) for x in range(50, 62, 3)]
    larger = [
        (cv2.resize(image, (2 * WIDTH, 2 * HEIGHT)), {1: cv2.resize(alphas[1], (2 * WIDTH, 2 * HEIGHT))})
        for image, alphas in moving
    ]
    frames = moving + larger + moving  # the frame size changes twice on the way
    kept = FlowBlend()
    expected = [kept.push(image, alphas)[1] for image, alphas in frames]
    with_new = flow_blend.backward_flow
    monkeypatch.setattr(flow_blend, "backward_flow", lambda grey, previous, dis: with_new(grey, previous, flow_estimator()))
    fresh = FlowBlend()
    for (image, alphas), want in zip(frames, expected):
        np.testing.assert_array_equal(fresh.push(image, alphas)[1], want)


@pytest.mark.parametrize("weight", [-0.1, 1.0])
def test_a_weight_outside_0_to_1_is_refused(weight):
    with pytest.raises(ConfigError):
        StreamConfig(change="frames", flow_blend=weight)
