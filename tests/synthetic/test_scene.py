import numpy as np
import pytest

from vmat.errors import ConfigError, InputNotFoundError
from vmat.synthetic import SceneConfig, SyntheticClip, SyntheticScene, write_clip
from vmat.synthetic.compose import composite, unit

SMALL = dict(width=96, height=72, num_frames=4, fps=12.0)


def _frames(**overrides):
    return list(SyntheticScene(SceneConfig(**(SMALL | overrides))).frames())


def test_same_seed_same_arrays_and_other_seed_differs():
    a = _frames(seed=11, level="medium", camera="pan")
    b = _frames(seed=11, level="medium", camera="pan")
    c = _frames(seed=12, level="medium", camera="pan")
    for fa, fb in zip(a, b):
        np.testing.assert_array_equal(fa.image, fb.image)
        np.testing.assert_array_equal(fa.layer_alpha, fb.layer_alpha)
    assert not np.array_equal(a[0].image, c[0].image)


def test_train_and_eval_namespaces_differ():
    train = _frames(seed=5, namespace="train")[0]
    evaluation = _frames(seed=5, namespace="eval")[0]
    assert not np.array_equal(train.image, evaluation.image)


def test_layers_reproduce_the_composite_within_rounding():
    for frame in _frames(seed=3, level="hard"):
        exact = composite(frame.alpha, frame.background_alpha, unit(frame.foreground), unit(frame.background))
        # The composite is the exact float image rounded once to 8 bits.
        assert np.abs(frame.image.astype(np.float64) - exact * 255).max() <= 0.5 + 1e-3
        np.testing.assert_allclose(frame.alpha.sum(0) + frame.background_alpha, 1.0, atol=1e-5)


def test_people_have_soft_and_semi_transparent_pixels():
    frame = _frames(seed=2, level="easy")[1]
    a = frame.layer_alpha
    soft = ((a > 0) & (a < 1)).sum()
    assert soft > 0.1 * (a == 1).sum()  # edges, hair and blur are a real share of every person


def test_hair_adds_thin_transparent_structure():
    with_hair = _frames(seed=4, level="easy", num_frames=1, motion_blur_samples=1)[0]
    without = _frames(seed=4, level="easy", num_frames=1, motion_blur_samples=1, hair=False)[0]
    extra = (with_hair.layer_alpha > 0) & (without.layer_alpha == 0)
    assert extra.sum() > 0
    assert with_hair.layer_alpha[extra].mean() < 0.9


@pytest.mark.parametrize("level,low,high", [("easy", 0.0, 0.0), ("medium", 0.05, 0.5), ("hard", 0.5, 0.85)])
def test_occlusion_stays_in_the_level_range(level, low, high):
    for frame in _frames(seed=21, level=level, width=160, height=96, num_frames=6):
        assert low <= frame.occlusion <= high


def test_depth_order_and_derived_maps_agree():
    frame = _frames(seed=8, level="hard")[2]
    nearest = frame.order[0]
    assert frame.instance_depth[nearest] == frame.instance_depth.min()
    ids = frame.id_map
    for k, instance_id in enumerate(frame.instance_ids):
        assert np.all(frame.depth[ids == instance_id] == frame.instance_depth[k])
    assert np.all(frame.depth[ids == 0] == frame.background_depth[ids == 0])


def test_removal_and_swap_ground_truth_are_exact_recomposites():
    frame = _frames(seed=8, level="hard")[0]
    nearest_id = frame.instance_ids[frame.order[0]]
    removed = frame.removed(nearest_id)
    k = frame.order[0]
    # Where nobody else covers a pixel, removing the person reveals the plate exactly.
    others = np.delete(frame.layer_alpha, k, axis=0).sum(0) == 0
    np.testing.assert_array_equal(removed[others], frame.background[others])
    pairs = frame.overlapping_pairs()
    assert pairs, "hard scenes overlap"
    p, q = pairs[0]
    swapped = frame.swapped(p, q)
    assert not np.array_equal(swapped, frame.image)
    np.testing.assert_array_equal(frame.swapped(q, p), swapped)


def test_bad_config_is_a_user_error(tmp_path):
    with pytest.raises(ConfigError):
        SyntheticScene(SceneConfig(level="impossible"))
    with pytest.raises(ConfigError):
        SyntheticScene(SceneConfig(level="easy", num_people=5))
    with pytest.raises(InputNotFoundError):
        SyntheticScene(SceneConfig(background=tmp_path / "missing.png"))
    with pytest.raises(ConfigError):
        SyntheticScene(SceneConfig(background=tmp_path))  # a folder without images or videos


def test_clip_round_trip(tmp_path):
    scene = SyntheticScene(SceneConfig(seed=1, level="medium", **SMALL))
    manifest = write_clip(scene, tmp_path / "clip")
    clip = SyntheticClip(tmp_path / "clip")
    assert clip.num_frames == 4 and clip.instance_ids == manifest["instance_ids"]
    for original, loaded in zip(scene.frames(), clip):
        np.testing.assert_array_equal(original.image, loaded.image)
        np.testing.assert_array_equal(original.layer_alpha, loaded.layer_alpha)
        np.testing.assert_array_equal(original.alpha, loaded.alpha)
        for instance_id in clip.instance_ids:
            np.testing.assert_array_equal(clip.stored_removed(instance_id, loaded.index), loaded.removed(instance_id))
    assert (tmp_path / "clip" / "manifest.json").is_file()
    assert not list(tmp_path.glob(".*partial*"))


def test_user_background_image(tmp_path):
    import cv2

    plate = np.zeros((40, 60, 3), np.uint8)
    plate[:, :30] = (0, 0, 255)  # BGR red on the left half
    cv2.imwrite(str(tmp_path / "plate.png"), plate)
    frame = _frames(seed=1, level="easy", num_frames=1, background=tmp_path)[0]
    assert frame.background[:, :10, 0].mean() > 200 and frame.background[:, -10:].max() == 0


def test_panning_moves_the_background_and_static_does_not():
    static = _frames(seed=6, level="easy", camera="static")
    panning = _frames(seed=6, level="easy", camera="pan")
    np.testing.assert_array_equal(static[0].background, static[-1].background)
    assert not np.array_equal(panning[0].background, panning[-1].background)


def test_user_background_video_is_streamed(tmp_path):
    from vmat.io import write_test_pattern_clip

    video = write_test_pattern_clip(tmp_path / "bg.mp4", width=64, height=48, num_frames=3, fps=12, audio=False)
    frames = _frames(seed=1, level="easy", num_frames=4, background=video)
    # the plate follows the video (which loops after 3 frames)
    assert not np.array_equal(frames[0].background, frames[1].background)
    np.testing.assert_array_equal(frames[0].background, frames[3].background)


def test_plain_scenes_render_what_they_did_before_detailed_people():
    # Digest of a plain scene's frames as rendered before detailed people existed (commit a6246c6).
    import hashlib

    digest = hashlib.sha256()
    for frame in _frames(seed=11, level="medium", camera="pan", num_frames=3, namespace="eval"):
        digest.update(frame.image.tobytes())
        digest.update(frame.layer_alpha.tobytes())
    assert digest.hexdigest()[:16] == "5d7f952732aac6ba"
    assert "detailed" not in SceneConfig().to_json() and SceneConfig(detailed=True).to_json()["detailed"] is True


def test_polygon_coverage_counts_sub_pixel_centres():
    from vmat.synthetic.person import polygon_coverage

    # Edges through sub-pixel centres (x = (k + 0.5) / 4), which count as inside: the square from 1.125 to
    # 3.125 covers pixels 1-2 whole and one sub-pixel column (and row) of pixel 3.
    square = np.array([[1.125, 1.125], [3.125, 1.125], [3.125, 3.125], [1.125, 3.125]])
    expected = np.zeros((5, 5), np.float32)
    expected[1:3, 1:3] = 1.0
    expected[1:3, 3] = expected[3, 1:3] = 0.25
    expected[3, 3] = 0.0625
    np.testing.assert_allclose(polygon_coverage(square, (5, 5)), expected)


def test_detailed_people_have_thick_soft_hair_and_clothing_edges():
    config = dict(level="easy", num_frames=2, motion_blur_samples=1, width=320, height=192, seed=5)
    plain = SyntheticScene(SceneConfig(**config))
    detailed = SyntheticScene(SceneConfig(**config, detailed=True))
    assert all(p.spec.look.hair_width == 0 and p.spec.look.coat_length == 0 for p in plain.people)
    looks = [p.spec.look for p in detailed.people]
    assert all(look.hair_width > 0 and look.hair_strands >= 60 for look in looks)
    frame = next(detailed.frames())
    bald = next(SyntheticScene(SceneConfig(**config, detailed=True, hair=False)).frames())
    hair = (frame.layer_alpha > 0) & (bald.layer_alpha == 0)
    # Hair is a wide translucent fringe: many pixels, mostly partly transparent.
    assert hair.sum() > 0.05 * (frame.layer_alpha > 0).sum()
    assert 0.05 < frame.layer_alpha[hair].mean() < 0.8
    # Every pixel of the detailed scene is still explained by its layers.
    exact = composite(frame.alpha, frame.background_alpha, unit(frame.foreground), unit(frame.background))
    assert np.abs(frame.image.astype(np.float64) - exact * 255).max() <= 0.5 + 1e-3


def test_a_sheer_coat_is_partly_transparent_over_the_background():
    from dataclasses import replace

    from vmat.synthetic.person import PersonSpec, Placement, render_person

    scene = SyntheticScene(SceneConfig(level="easy", num_frames=2, width=320, height=192, seed=5, detailed=True))
    spec = scene.people[0].spec
    coat = replace(spec.look, coat_length=0.3, coat_opacity=0.6, hair_strands=0)
    bare = replace(coat, coat_length=0.0)
    place = lambda t: Placement(160.0, 180.0, 160.0)  # noqa: E731
    with_coat, _ = render_person(PersonSpec(1, coat, spec.motion), 0.0, place, (192, 320))
    without, _ = render_person(PersonSpec(1, bare, spec.motion), 0.0, place, (192, 320))
    only_coat = (with_coat > 0) & (without == 0)
    assert only_coat.sum() > 50
    # Where only the sheer coat covers the background, its alpha is its opacity (inside) or less (the hem's edge).
    assert np.isclose(with_coat[only_coat].max(), 0.6, atol=1e-5) and with_coat[only_coat].min() > 0
