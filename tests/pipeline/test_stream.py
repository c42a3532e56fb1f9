"""The one pass: masks in the stream (bounded backward window), decode once, no files unless asked, threads."""

import numpy as np
import pytest

from vmat.errors import ConfigError
from vmat.io import VideoWriter, open_video
from vmat.layers import LayersReader
from vmat.pipeline import run as run_module
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig, run_clip
from vmat.pipeline.stream import BackgroundSink, in_thread
from vmat.propagation import mask_path, read_id_mask, write_id_mask
from vmat.propagation.clip import MaskingConfig, mask_clip, video_frames
from vmat.propagation.prompts import FramePrompt
from vmat.propagation.stream import MaskStream
from vmat.synthetic.scene import SceneConfig, SyntheticScene


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 10-frame, 2-person scene, its exact id masks."""
    folder = tmp_path_factory.mktemp("stream")
    scene = SyntheticScene(SceneConfig(level="easy", width=96, height=64, num_frames=10, fps=10.0, seed=3, num_people=2))
    masks = folder / "masks"
    masks.mkdir()
    truth = []
    with VideoWriter(folder / "clip.mp4", fps=10, lossless=True) as writer:
        for frame in scene.frames():
            writer.write(frame.image)
            write_id_mask(mask_path(masks, frame.index), frame.id_map)
            truth.append(frame.id_map)
    return folder / "clip.mp4", masks, truth


def _frames(source):
    with open_video(source) as reader:
        return [frame.image for frame in reader]


def test_masks_from_a_later_prompt_match_the_two_pass_masks_within_the_window(tmp_path, clip):
    source, masks, truth = clip
    prompt = [FramePrompt(6, id_mask=truth[6])]
    config = MaskingConfig(propagator="flow")
    mask_clip(video_frames(source), tmp_path / "two_pass", prompt, config=config)
    stream = MaskStream(prompt, config)
    out = []
    for index, image in enumerate(_frames(source)):
        out += stream.push(index, image, index)
        assert len(out) == (0 if index < 6 else index + 1)  # frames 0-5 wait for the prompted frame, then flow
    out += stream.finish()
    assert [index for index, _ in out] == list(range(10))
    for index, ids in out:
        assert np.array_equal(ids, read_id_mask(mask_path(tmp_path / "two_pass", index))), index


def test_frames_beyond_the_backward_window_get_no_people_and_are_not_held(clip):
    source, _, truth = clip
    stream = MaskStream([FramePrompt(6, id_mask=truth[6])], MaskingConfig(propagator="flow", backward_window=2))
    returned = [stream.push(index, image, index) for index, image in enumerate(_frames(source))]
    assert [len(r) for r in returned[:6]] == [1, 1, 1, 1, 0, 0]  # 0-3 out at once, empty; 4-5 held
    assert stream.unreached == 4
    assert all(not ids.any() for r in returned[:4] for _, ids in r)
    assert all(ids.any() for _, ids in returned[6])  # 4, 5, 6 have people


def test_prompts_the_clip_does_not_reach_are_errors(clip):
    source, _, truth = clip
    stream = MaskStream([FramePrompt(12, id_mask=truth[0])], MaskingConfig(propagator="flow"))
    for index, image in enumerate(_frames(source)):
        stream.push(index, image, index)
    with pytest.raises(ConfigError, match="first prompt is on frame 12"):
        stream.finish()


def test_a_run_decodes_the_clip_once_and_writes_only_what_was_asked(tmp_path, clip, monkeypatch):
    source, masks, truth = clip
    opened = []
    real = run_module.open_video
    monkeypatch.setattr(run_module, "open_video", lambda *a, **k: opened.append(a[0]) or real(*a, **k))
    prompt = tmp_path / "prompt.png"
    write_id_mask(prompt, truth[0])
    config = RunConfig(prompt=str(prompt), propagator="flow", edit=EditSpec(remove=(1,), background="#203040"))
    summary = run_clip(source, tmp_path / "out", config)
    assert len(opened) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["clip.ids.png", "clip.vmat.mp4"]
    assert summary.frames == 10 and summary.ids == [1, 2]


def test_saved_layers_carry_the_camera_and_the_range_of_frames_asked_for(tmp_path, clip):
    source, masks, _ = clip
    config = RunConfig(masks_folder=str(masks), write_layers=True, write_video=False, start=2, end=7)
    summary = run_clip(source, tmp_path, config)
    layers = LayersReader(tmp_path / "clip.vlayers")
    assert summary.frames == layers.info.num_frames == 5
    cameras = layers.info.metadata["camera"]
    assert len(cameras) == 5 and cameras[0] is None
    # A still synthetic background: the tracked motion is about the identity.
    moved = [np.array(c).reshape(3, 3) for c in cameras[1:] if c is not None]
    assert moved and all(np.abs(h - np.eye(3)).max() < 0.05 for h in moved)
    with pytest.raises(ConfigError):
        run_clip(source, tmp_path / "none", RunConfig(masks_folder=str(masks), write_video=False, start=4, end=4))


def test_a_decode_thread_hands_on_its_error_and_the_encode_thread_its_own():
    def broken():
        yield 1
        raise ValueError("bad packet")

    with pytest.raises(ValueError, match="bad packet"):
        list(in_thread(broken()))
    # A consumer that stops early (a caller breaking out of clip.masks()) does not leave the thread stuck.
    frames = in_thread(iter(range(1000)), ahead=2)
    assert next(frames) == 0
    frames.close()
    written = []
    sink = BackgroundSink(written.append)
    for item in range(20):
        sink.put(item)
    sink.close()
    assert written == list(range(20))
    failing = BackgroundSink(lambda item: 1 / 0)
    failing.put(1)
    with pytest.raises(ZeroDivisionError):
        failing.close()


def test_stored_layers_are_what_the_layers_file_gives_back():
    import torch

    from vmat.layers import LayerStack
    from vmat.layers.store import decode_stack, decodes_to, encode_stack
    from vmat.pipeline.stream import stored

    generator = torch.Generator().manual_seed(0)
    colour = torch.rand((4, 3, 30, 40), generator=generator) * 1.2 - 0.1  # a little outside [0, 1] too
    alpha = torch.zeros((4, 30, 40))
    alpha[0] = 1
    alpha[1, 5:20, 8:30] = torch.rand((15, 22), generator=generator)
    alpha[2, 12, 3] = 0.4 / 65535  # rounds to nothing: the plane's colour goes
    alpha[3, 2:9, 30:39] = 1.3
    stack = LayerStack(colour, alpha, torch.tensor([float("inf"), 0.2, 0.4, 0.6]), (0, 1, 2, 3))
    want, got = decode_stack(encode_stack(stack), 40, 30), stored(stack)
    assert torch.equal(want.colour, got.colour) and torch.equal(want.alpha, got.alpha)
    assert torch.equal(want.depth, got.depth) and want.ids == got.ids
    # So a stored stack goes through the file's arrays exactly (what the people-behind step relies on to hold
    # waiting frames small), and the raw one does not.
    assert decodes_to(encode_stack(got), got) and not decodes_to(encode_stack(stack), stack)
