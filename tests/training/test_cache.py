import json

import numpy as np
import pytest

from vmat.errors import ConfigError
from vmat.synthetic import SceneConfig, SyntheticScene
from vmat.synthetic.compose import composite, unit, visible_contributions
from vmat.training import TrainingCache, build_cache
from vmat.training import cache as cache_module
from tests.training.conftest import TINY


def test_manifest_records_train_seeds_levels_and_cameras(tiny_cache_dir):
    manifest = json.loads((tiny_cache_dir / "manifest.json").read_text())
    assert [c["level"] for c in manifest["clips"]] == ["easy", "medium", "hard"]
    assert {c["namespace"] for c in manifest["clips"]} == {"train"}
    assert [c["shard"] for c in manifest["clips"]] == ["clip-00000.npz", "clip-00001.npz", "clip-00002.npz"]
    assert manifest["settings"]["clips"] == 3 and manifest["settings"]["width"] == 96


def test_shard_matches_the_scene_it_was_rendered_from(tiny_cache):
    info = tiny_cache.clips[1]
    scene = SyntheticScene(
        SceneConfig(
            level=info["level"],
            camera=info["camera"],
            width=96,
            height=64,
            num_frames=TINY["frames_per_clip"],
            seed=info["seed"],
            namespace="train",
        )
    )
    frame = next(iter(scene.frames()))
    shard = tiny_cache.clip(1)
    assert shard["image"].shape == (5, 64, 96, 3) and shard["image"].dtype == np.uint8
    assert shard["layer_alpha"].shape == (5, info["people"], 64, 96) and shard["layer_alpha"].dtype == np.uint8
    np.testing.assert_array_equal(shard["image"][0], frame.image)
    np.testing.assert_array_equal(shard["foreground"][0], frame.foreground)
    np.testing.assert_array_equal(shard["order"][0], frame.order)
    # Alphas are quantised to 1/255: at most half a step off.
    assert np.abs(shard["layer_alpha"][0] / 255.0 - frame.layer_alpha).max() <= 0.5 / 255 + 1e-6


def test_stored_layers_reproduce_the_stored_frame(tiny_cache):
    shard = tiny_cache.clip(2)
    visible, rest = visible_contributions(shard["layer_alpha"][0] / 255.0, shard["order"][0])
    image = composite(visible, rest, unit(shard["foreground"][0]), unit(shard["background"][0]))
    # The frame's own rounding (0.5/255) plus each layer alpha's (0.5/255 per layer crossed, at most 5 layers).
    assert np.abs(image - unit(shard["image"][0])).max() <= 3.0 / 255


def test_window_takes_consecutive_frames(tiny_cache):
    window = tiny_cache.window(0, 1, 2)
    np.testing.assert_array_equal(window["image"], tiny_cache.clip(0)["image"][1:3])
    assert window["background_depth"].shape == (64, 96)


def test_rebuilding_keeps_finished_shards(tiny_cache_dir, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a finished shard was rendered again")

    monkeypatch.setattr(cache_module, "_render_clip", fail)
    build_cache(tiny_cache_dir, **TINY)


def test_an_interrupted_build_resumes_from_its_shards(tmp_path, monkeypatch):
    settings = dict(TINY, clips=2, frames_per_clip=1)
    rendered = []
    real = cache_module._render_clip

    def counting(index, s):
        rendered.append(index)
        if index == 1 and len(rendered) == 2:
            raise KeyboardInterrupt
        return real(index, s)

    monkeypatch.setattr(cache_module, "_render_clip", counting)
    with pytest.raises(KeyboardInterrupt):
        build_cache(tmp_path / "c", **settings)
    with pytest.raises(ConfigError, match="unfinished"):
        TrainingCache(tmp_path / "c")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["clip-00000.npz", "manifest.json"]
    build_cache(tmp_path / "c", **settings)
    assert rendered == [0, 1, 1]
    assert len(TrainingCache(tmp_path / "c")) == 2


def test_other_settings_in_the_same_folder_are_refused(tiny_cache_dir):
    with pytest.raises(ConfigError, match="other settings"):
        build_cache(tiny_cache_dir, **(TINY | {"seed": 1}))


def test_a_folder_without_a_cache_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not a training cache"):
        TrainingCache(tmp_path)


def test_clip_seeds_are_stable_and_distinct():
    seeds = [cache_module.clip_seed(i, 0) for i in range(50)]
    assert len(set(seeds)) == 50
    assert cache_module.clip_seed(3, 0) == cache_module.clip_seed(3, 0) != cache_module.clip_seed(3, 1)
