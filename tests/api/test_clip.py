"""vmat.Clip: prompts on any frame, masks / layers / edited frames in memory, files as sinks."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

import vmat
from vmat.errors import ConfigError, InputNotFoundError
from vmat.io import VideoWriter, open_video, probe
from vmat.layers import LayersReader, LayerStack
from vmat.metrics.segmentation import j_and_f
from vmat.pipeline.run import RunConfig
from vmat.propagation import mask_path, read_id_mask
from vmat.propagation.prompts import PromptError
from vmat.synthetic.scene import SceneConfig, SyntheticScene


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """An 8-frame, 2-person scene and each frame's true id map."""
    folder = tmp_path_factory.mktemp("api")
    scene = SyntheticScene(SceneConfig(level="easy", width=128, height=80, num_frames=8, fps=10.0, seed=7, num_people=2))
    truth = []
    with VideoWriter(folder / "clip.mp4", fps=10, lossless=True) as writer:
        for frame in scene.frames():
            writer.write(frame.image)
            truth.append(frame.id_map)
    return folder / "clip.mp4", truth, scene.instance_ids


def _clip(path, **options):
    return vmat.Clip(path, config=RunConfig(propagator="flow"), **options)


def test_import_vmat_stays_light_and_names_the_clip():
    code = "import sys, vmat; print('torch' in sys.modules, 'cv2' in sys.modules); print(vmat.Clip.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "vmat.clip"]
    assert "Clip" in vmat.__all__
    with pytest.raises(AttributeError):
        vmat.NoSuchThing  # noqa: B018


def test_masks_follow_mask_prompts_and_a_later_prompt_reaches_back(scene):
    path, truth, ids = scene
    clip = _clip(path)
    clip.add_prompt(0, ids[0], mask=truth[0] == ids[0])
    clip.add_prompt(3, ids[1], mask=truth[3] == ids[1])
    frames = list(clip.masks())
    assert [index for index, _, _ in frames] == list(range(8))
    second = []
    for index, present, masks in frames:
        assert masks.dtype == bool and masks.shape == (len(present), 80, 128)
        id_map = np.zeros((80, 128), np.uint16)
        for instance, mask in zip(present, masks):
            id_map[mask] = instance
        scores = j_and_f(id_map, truth[index])
        # The second person is prompted on frame 3 only: frames 0-2 have them too (propagated back).
        assert set(present) == set(ids), index
        assert scores[ids[0]][0] > 0.6, index
        second.append(scores[ids[1]][0])
    # One frame from the prompt, backwards as forwards (the weight-free flow drifts on this scene either way).
    assert second[3] == 1.0 and second[2] > 0.6 and second[4] > 0.6 and min(second[:3]) > 0.3


def test_edits_come_out_as_full_size_frames_and_ids_are_checked_first(scene):
    path, truth, ids = scene
    clip = _clip(path, process_size=64)
    clip.add_prompt(0, 1, mask=truth[0] == ids[0])
    with pytest.raises(ConfigError, match=r"\[5\] are not in the prompts"):
        next(clip.edit(remove=[5]))
    with pytest.raises(ConfigError, match="unknown edit"):
        next(clip.edit(colour="red"))
    frames = list(clip.edit(background="#00ff00"))
    assert [index for index, _ in frames] == list(range(8))
    image = frames[0][1]
    assert image.shape == (80, 128, 3) and image.dtype == np.uint8
    far = cv2.dilate((truth[0] == ids[0]).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    assert np.abs(image[far].astype(int) - (0, 255, 0)).mean() < 2  # only person 1 was prompted: the rest is green


def test_layers_are_stacks_at_the_processing_size(scene):
    path, truth, ids = scene
    clip = _clip(path, process_size=64)
    clip.add_prompt(0, 2, box=(0, 0, 128, 80))
    clip.add_prompt(0, 1, mask=truth[0] == ids[0])
    first_index, stack = next(iter(clip.layers()))
    assert first_index == 0 and isinstance(stack, LayerStack)
    assert (stack.width, stack.height) == (64, 40) and set(stack.instance_ids) <= {1, 2}


def test_sinks_write_masks_layers_and_video(tmp_path, scene):
    path, truth, ids = scene
    clip = _clip(path)
    clip.add_prompt(0, 1, mask=truth[0] == ids[0])
    clip.write_masks(tmp_path / "masks")
    assert np.array_equal(read_id_mask(mask_path(tmp_path / "masks", 0)) > 0, truth[0] == ids[0])
    clip.write_layers(tmp_path / "clip.vlayers")
    assert LayersReader(tmp_path / "clip.vlayers").info.num_frames == 8
    clip.write_video(tmp_path / "out.mp4", remove=[1])
    assert probe(tmp_path / "out.mp4").num_frames == 8
    with open_video(tmp_path / "out.mp4") as reader:
        first = next(iter(reader)).image.astype(int)
    with open_video(path) as reader:
        source = next(iter(reader)).image.astype(int)
    assert np.abs(first - source)[truth[0] == ids[0]].mean() > 20  # person 1 is gone


def test_bad_prompts_and_missing_clips_are_user_errors(tmp_path, scene):
    path, _, _ = scene
    with pytest.raises(InputNotFoundError):
        vmat.Clip(tmp_path / "absent.mp4")
    clip = _clip(path)
    with pytest.raises(PromptError, match="no box, points or mask"):
        clip.add_prompt(0, 1)
    with pytest.raises(PromptError, match="2 points but 1 labels"):
        clip.add_prompt(0, 1, points=[(1, 2), (3, 4)], labels=[1])
    with pytest.raises(PromptError, match="ids start at 1"):
        clip.add_prompt(0, 0, box=(0, 0, 4, 4))
