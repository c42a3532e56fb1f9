from __future__ import annotations

import json

import numpy as np
import pytest

from tests.propagation.scenes import disc_shape, moving_scene
from vmat.errors import ConfigError
from vmat.propagation.auto import PeopleFinderConfig
from vmat.propagation.clip import MaskingConfig, mask_clip, propagate
from vmat.propagation.idmask import mask_path, read_id_mask
from vmat.propagation.prompts import FramePrompt, InstancePrompt, Box, load_prompts
from vmat.propagation.propagator import FlowPropagator


def _iou(a, b):
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture
def clip():
    return moving_scene(
        9, [(disc_shape(14), (20, 30), (5, 1), (0, 0, 170)), (np.ones((30, 20), bool), (110, 30), (-2, 0), (170, 0, 0))]
    )


def _source(frames):
    return lambda: (image for image, _ in frames)


def test_mask_clip_from_a_middle_frame_goes_both_ways(tmp_path, clip):
    start = 4
    prompt = FramePrompt(start, id_mask=clip[start][1])
    summary = mask_clip(_source(clip), tmp_path, [prompt], config=MaskingConfig(backward_chunk=3))
    assert summary.frames == 9 and summary.start_frame == start and summary.ids == [1, 2] and not summary.automatic
    for index, (_, truth) in enumerate(clip):
        ids = read_id_mask(mask_path(tmp_path, index))
        assert _iou(ids == 1, truth == 1) > 0.85, index
        assert _iou(ids == 2, truth == 2) > 0.85, index


def test_mask_clip_applies_later_prompts_on_the_way(tmp_path, clip):
    only_disc = np.where(clip[0][1] == 1, 1, 0).astype(np.uint16)
    square = clip[5][1] == 2
    ys, xs = np.nonzero(square)
    later = FramePrompt(5, instances=(InstancePrompt(2, box=Box(xs.min() - 3, ys.min() - 3, xs.max() + 4, ys.max() + 4)),))
    mask_clip(_source(clip), tmp_path, [FramePrompt(0, id_mask=only_disc), later])
    assert not (read_id_mask(mask_path(tmp_path, 4)) == 2).any()
    assert _iou(read_id_mask(mask_path(tmp_path, 8)) == 2, clip[8][1] == 2) > 0.8


def test_mask_clip_without_prompts_uses_the_weight_free_finder_when_asked(tmp_path):
    # A moving bar is no person: the default detector rightly finds nobody, the motion cue finds it.
    clip = moving_scene(12, [(np.ones((40, 18), bool), (10, 20), (9, 0), (150, 0, 0))], size=(96, 160))
    assert mask_clip(_source(clip), tmp_path / "detector", config=MaskingConfig(auto_frames=6, auto_stride=2)).ids == []
    config = MaskingConfig(auto_frames=6, auto_stride=2, propagator="flow", people=PeopleFinderConfig(method="motion"))
    summary = mask_clip(_source(clip), tmp_path / "motion", config=config)
    assert summary.automatic and summary.ids == [1]
    assert _iou(read_id_mask(mask_path(tmp_path / "motion", 0)) == 1, clip[0][1] == 1) > 0.8


def test_prompt_past_the_end_is_an_error(tmp_path, clip):
    with pytest.raises(ConfigError):
        mask_clip(_source(clip), tmp_path, [FramePrompt(50, id_mask=clip[0][1])])


def test_propagate_yields_every_frame_in_the_given_order(clip):
    frames = [(i, image) for i, (image, _) in enumerate(clip)][1:]
    indices = [index for index, _ in propagate(iter(frames), FlowPropagator(), (clip[0][0], clip[0][1]))]
    assert indices == list(range(1, 9))


def test_prompt_file_round_trip_with_exported_masks(tmp_path, clip):
    out = tmp_path / "masks"
    mask_clip(_source(clip), out, [FramePrompt(0, id_mask=clip[0][1])])
    (tmp_path / "p.json").write_text(json.dumps({"prompts": [{"frame": 3, "id_mask": "masks/000003.png"}]}))
    rounds = load_prompts(tmp_path / "p.json")
    np.testing.assert_array_equal(rounds[0].id_mask, read_id_mask(out / "000003.png"))
