"""vmat.run and vmat.matte: the same outputs as run_clip with the same configuration, options checked first."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

import vmat
from vmat.errors import ConfigError
from vmat.io import open_video
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig, run_clip
from vmat.propagation.idmask import read_id_mask_folder

from tests.pipelines.archive import scene_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 6-frame synthetic scene with its true id masks in walk.masks/."""
    return scene_clip(tmp_path_factory.mktemp("api") / "walk.mp4", seed=3)


def test_run_writes_what_run_clip_writes(clip, tmp_path):
    masks = str(clip.with_suffix(".masks"))
    summary = vmat.run(clip, tmp_path / "api", masks_folder=masks, remove=[1], background="#00b140", crf=20)
    expected = RunConfig(masks_folder=masks, crf=20, edit=EditSpec(remove=(1,), background="#00b140"))
    run_clip(clip, tmp_path / "direct", expected)
    assert summary.frames == 6
    names = sorted(path.name for path in (tmp_path / "api").iterdir())
    assert names == ["walk.ids.png", "walk.vmat.mp4"]
    assert names == sorted(path.name for path in (tmp_path / "direct").iterdir())
    assert (tmp_path / "api" / "walk.vmat.mp4").read_bytes() == (tmp_path / "direct" / "walk.vmat.mp4").read_bytes()


def test_matte_writes_each_persons_matte_and_no_edited_video(clip, tmp_path):
    masks = clip.with_suffix(".masks")
    vmat.matte(clip, tmp_path / "api", masks_folder=str(masks))
    run_clip(clip, tmp_path / "direct", RunConfig(masks_folder=str(masks), write_people=True, write_video=False))
    ids = np.stack(list(read_id_mask_folder(masks)))
    people = sorted(int(i) for i in np.unique(ids) if i)
    names = {path.name for path in (tmp_path / "api").iterdir()}
    assert names == {"walk.ids.png", *(f"walk.person{i}.{kind}" for i in people for kind in ("matte.mp4", "webm"))}
    for name in names:
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "direct" / name).read_bytes(), name
    for person in people:
        with open_video(tmp_path / "api" / f"walk.person{person}.matte.mp4") as reader:
            alpha = np.stack([frame.image[..., 0] for frame in reader]).astype(np.float32) / 255
        # Each file is that person's matte: on their mask, not on the background (away from the edges). Its
        # quality on this 96x64 clip is the matting's business (tests/decomposition), not this wiring's.
        core = np.ones((1, 5, 5), bool)
        inside, outside = alpha[binary_erosion(ids == person, core)], alpha[binary_erosion(ids == 0, core)]
        assert inside.size and inside.mean() > 0.5 and outside.mean() < 0.05, (person, inside.mean(), outside.mean())


def test_bad_options_fail_before_any_work(clip, tmp_path):
    with pytest.raises(ConfigError, match="^vmat.run: unknown option 'colour'"):
        vmat.run(clip, tmp_path / "out", colour="red")
    with pytest.raises(ConfigError, match="^vmat.matte: crf must be an integer, not \"high\""):
        vmat.matte(clip, tmp_path / "out", crf="high")
    toml = tmp_path / "run.toml"
    toml.write_text("process_size = 'big'\n")
    with pytest.raises(ConfigError, match=f"^{toml}: process_size must be an integer"):
        vmat.run(clip, tmp_path / "out", config=toml)
    assert not (tmp_path / "out").exists()


def test_an_output_folder_named_like_a_video_is_refused(clip, tmp_path):
    with pytest.raises(ConfigError, match="looks like a video file"):
        vmat.run(clip, tmp_path / "edited.mp4")
    assert not (tmp_path / "edited.mp4").exists()


def test_options_go_over_a_config_file(clip, tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("write_preview = false\ncrf = 30\n")
    masks = str(clip.with_suffix(".masks"))
    vmat.run(clip, tmp_path / "a", config=toml, masks_folder=masks, crf=20)
    run_clip(clip, tmp_path / "b", RunConfig(masks_folder=masks, crf=20, write_preview=False))
    assert sorted(path.name for path in (tmp_path / "a").iterdir()) == ["walk.vmat.mp4"]
    assert (tmp_path / "a" / "walk.vmat.mp4").read_bytes() == (tmp_path / "b" / "walk.vmat.mp4").read_bytes()
