"""The whole pipeline on tiny generated clips: outputs, timing, audio, edits from saved layers, errors."""

import cv2
import numpy as np
import pytest

from vmat.cli.main import main
from vmat.errors import ConfigError
from vmat.io import VideoWriter, open_video, probe
from vmat.io.test_pattern import write_tone
from vmat.io.transcode import transcode
from vmat.layers import LayersFileError, LayersReader
from vmat.editing import Placement
from vmat.editing.leftovers import LeftoverConfig, near
from vmat.pipeline.edits import DragSpec, EditSpec
from vmat.pipeline.run import RunConfig, downstream_stages, edit_clip, run_clip
from vmat.propagation import mask_path, write_id_mask
from vmat.synthetic.scene import SceneConfig, SyntheticScene


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 6-frame, 3-person scene with audio, its exact per-frame id masks and its frames' truth."""
    folder = tmp_path_factory.mktemp("clip")
    scene = SyntheticScene(SceneConfig(level="easy", width=128, height=80, num_frames=6, fps=12.0, seed=5, num_people=3))
    masks = folder / "masks"
    masks.mkdir()
    truth = []
    tone = write_tone(folder / "tone.m4a", seconds=0.5)
    with VideoWriter(folder / "clip.mp4", fps=12, audio_from=tone, lossless=True) as writer:
        for frame in scene.frames():
            writer.write(frame.image)
            write_id_mask(mask_path(masks, frame.index), frame.id_map)
            truth.append(frame)
    return folder / "clip.mp4", masks, truth, scene.instance_ids


def test_run_writes_layers_preview_and_an_edited_video_with_the_clip_timing_and_audio(tmp_path, clip):
    source, masks, _, ids = clip
    summary = run_clip(
        source, tmp_path / "out", RunConfig(masks_folder=str(masks), write_layers=True, edit=EditSpec(background="#00ff00"))
    )
    out = tmp_path / "out"
    assert summary.frames == 6
    assert (out / "clip.vlayers" / "header.json").exists() and (out / "clip.ids.png").exists()
    edited, original = probe(out / "clip.vmat.mp4"), probe(source)
    assert edited.num_frames == 6 and edited.duration == pytest.approx(original.duration)
    assert [a.codec for a in edited.audio] == ["aac"]
    assert set(summary.stage_seconds) >= {"decode", "masks", "depth", "decompose", "camera", "edit", "render", "encode"}
    # Under a new background the completed background would never be seen: it is not computed.
    assert "completion" not in summary.stage_seconds
    # Outside every person's mask the new background shows: green, exactly up to H.264's loss.
    with open_video(out / "clip.vmat.mp4") as reader:
        first = next(iter(reader)).image.astype(int)
    far = cv2.dilate((clip[2][0].id_map > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    assert np.abs(first[far] - (0, 255, 0)).mean() < 8


def test_removal_from_saved_layers_takes_the_person_out(tmp_path, clip):
    source, masks, truth, ids = clip
    run_clip(source, tmp_path, RunConfig(masks_folder=str(masks), write_layers=True, write_video=False))
    target = ids[0]
    edit_clip(source, tmp_path / "clip.vlayers", tmp_path / "removed.mp4", EditSpec(remove=(target,)), crf=0)
    # The untouched clip through the same lossless encode: 4:2:0 chroma rounding is not the edit's doing.
    transcode(source, tmp_path / "same.mp4", crf=0)
    with open_video(tmp_path / "removed.mp4") as reader, open_video(tmp_path / "same.mp4") as original:
        pairs = [(a.image.astype(float), b.image.astype(float)) for a, b in zip(reader, original)]
    # Where the removed person stood, the frame changed a lot; elsewhere it is the original frame.
    person = truth[0].id_map == target
    edited, before = pairs[0]
    assert np.abs(edited - before)[person].mean() > 20
    near_people = cv2.dilate((truth[0].id_map > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert np.abs(edited - before)[~near_people].mean() < 1


def test_removal_from_saved_layers_completes_the_people_behind_once_per_frame(tmp_path, clip, monkeypatch):
    # The background's passes read the layers up to four times; the people behind are completed on the way out.
    from vmat.editing import amodal

    source, masks, _, ids = clip
    run_clip(source, tmp_path, RunConfig(masks_folder=str(masks), write_layers=True, write_video=False))
    pushed = []
    push = amodal.AmodalPeople.push
    monkeypatch.setattr(amodal.AmodalPeople, "push", lambda self, stack: pushed.append(stack) or push(self, stack))
    edit_clip(source, tmp_path / "clip.vlayers", tmp_path / "removed.mp4", EditSpec(remove=(ids[0],)))
    assert len(pushed) == 6


def test_edits_check_ids_and_that_layers_belong_to_the_clip(tmp_path, clip):
    source, masks, _, ids = clip
    run_clip(source, tmp_path, RunConfig(masks_folder=str(masks), write_layers=True, write_video=False, write_preview=False))
    with pytest.raises(ConfigError, match=r"person id\(s\) \[99\] are not in"):
        edit_clip(source, tmp_path / "clip.vlayers", tmp_path / "x.mp4", EditSpec(remove=(99,)))
    other = tmp_path / "other.mp4"
    with VideoWriter(other, fps=12) as writer:
        for _ in range(3):
            writer.write(np.zeros((80, 128, 3), np.uint8))
    with pytest.raises(LayersFileError, match="made from another clip"):
        edit_clip(other, tmp_path / "clip.vlayers", tmp_path / "x.mp4", EditSpec(background="blur:2"))
    assert not (tmp_path / "x.mp4").exists()


def test_edit_commands_make_layers_once_and_reuse_them(tmp_path, clip, capsys):
    source, masks, _, ids = clip
    first, second = str(ids[0]), str(ids[1])
    drag = ["drag", str(source), "--masks", str(masks), "--id", second, "--by", "10,0", "-o", str(tmp_path / "drag.mp4")]
    assert main(drag) == 0
    assert (tmp_path / "drag.vlayers" / "header.json").exists()
    layers = str(tmp_path / "drag.vlayers")
    assert main(["reorder", str(source), "--layers", layers, "--swap", first, second, "-o", str(tmp_path / "re.mp4")]) == 0
    assert main(["replace-bg", str(source), "--layers", layers, "--background", "10,20,30", "-o", str(tmp_path / "bg.mp4")]) == 0
    for name in ("drag.mp4", "re.mp4", "bg.mp4"):
        assert probe(tmp_path / name).num_frames == 6
    assert main(["remove", str(source), "--layers", layers, "--id", "42", "-o", str(tmp_path / "rm.mp4")]) == 2
    assert "are not in" in capsys.readouterr().err


def test_an_edit_naming_someone_the_detector_did_not_find_says_so_and_writes_nothing(tmp_path, capsys):
    source = tmp_path / "empty.mp4"
    with VideoWriter(source, fps=12) as writer:
        for _ in range(3):
            writer.write(np.full((48, 64, 3), 90, np.uint8))
    assert main(["-q", "remove", str(source), "--remove", "1", "-o", str(tmp_path / "rm.mp4")]) == 2
    error = capsys.readouterr().err
    # The layers were staged under a temporary name; the message names the clip, not that file.
    assert "person id(s) [1] are not in" in error and "empty.mp4" in error and "nobody was found" in error
    assert ".vmat.partial" not in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty.mp4"]


def test_run_from_a_first_frame_prompt_propagates_masks(tmp_path, clip):
    source, masks, truth, ids = clip
    summary = run_clip(source, tmp_path, RunConfig(prompt=str(mask_path(masks, 0)), write_masks=True, write_video=False))
    assert any("clip.masks" in line and "prompts from frame 0" in line for line in summary.outputs)
    from vmat.metrics.segmentation import j_and_f
    from vmat.propagation import read_id_mask

    last = read_id_mask(mask_path(tmp_path / "clip.masks", 5))
    scores = j_and_f(last, truth[5].id_map)
    assert np.mean([j for j, _ in scores.values()]) > 0.6


def test_temporal_stage_keeps_every_frame_in_order_and_steadies_still_mattes(tmp_path, clip):
    source, masks, _, ids = clip
    run_clip(
        source,
        tmp_path / "plain",
        RunConfig(masks_folder=str(masks), temporal="off", write_layers=True, write_video=False, write_preview=False),
    )
    run_clip(
        source,
        tmp_path / "steady",
        RunConfig(masks_folder=str(masks), temporal="fusion", write_layers=True, write_video=False, write_preview=False),
    )
    from vmat.layers import LayersReader

    plain, steady = LayersReader(tmp_path / "plain" / "clip.vlayers"), LayersReader(tmp_path / "steady" / "clip.vlayers")
    assert plain.info.num_frames == steady.info.num_frames == 6
    assert plain.info.times == steady.info.times
    assert all(a.ids == b.ids for a, b in zip(plain, steady))
    # frame 0 has no past: fusion must give it back unchanged (a misaligned hold-back would not)
    assert bool((plain.read(0).alpha == steady.read(0).alpha).all())


def test_people_are_exported_as_matte_and_rgba_videos_with_the_clip_timing(tmp_path, clip):
    source, masks, _, ids = clip
    run_clip(source, tmp_path, RunConfig(masks_folder=str(masks), write_layers=True, write_video=False, write_people=True))
    from vmat.layers import LayersReader

    first = LayersReader(tmp_path / "clip.vlayers").read(0)
    for instance in ids:
        matte, rgba = tmp_path / f"clip.person{instance}.matte.mp4", tmp_path / f"clip.person{instance}.webm"
        assert probe(matte).num_frames == probe(rgba).num_frames == 6
        assert probe(rgba).has_alpha
        with open_video(matte) as reader:
            grey = next(iter(reader)).image[:80, :128, 0].astype(float)
        weight = first.weights()[first.ids.index(instance)].numpy() * 255
        assert np.abs(grey - weight).mean() < 2  # the visible alpha, through a crf-10 matte video


def test_a_processing_size_keeps_the_output_at_the_source_size(tmp_path, clip):
    source, masks, truth, ids = clip
    config = RunConfig(masks_folder=str(masks), process_size=64, write_layers=True, edit=EditSpec(remove=(ids[0],)), crf=0)
    run_clip(source, tmp_path, config)
    layers = LayersReader(tmp_path / "clip.vlayers").info
    assert (layers.width, layers.height) == (64, 40)
    transcode(source, tmp_path / "same.mp4", crf=0)
    with open_video(tmp_path / "clip.vmat.mp4") as reader, open_video(tmp_path / "same.mp4") as original:
        edited, before = next(iter(reader)).image.astype(float), next(iter(original)).image.astype(float)
    assert edited.shape == before.shape == (80, 128, 3)
    person = truth[0].id_map == ids[0]
    assert np.abs(edited - before)[person].mean() > 20
    # Away from people the output is the source frame itself, not an enlarged small frame. Completion redraws
    # the rim of the removed person's matte it does not trust (CompletionConfig.margin processing pixels, and
    # one more where it blends in: 6 source pixels here).
    near_people = cv2.dilate((truth[0].id_map > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    near_people |= cv2.dilate(person.astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
    assert np.abs(edited - before)[~near_people].mean() < 1



@pytest.mark.parametrize(
    "edit, completes",
    [
        (EditSpec(), False),
        (EditSpec(reorder=(1, 2)), False),
        (EditSpec(background="#00ff00"), False),
        (EditSpec(remove=(1,), background="#00ff00"), False),
        (EditSpec(remove=(1,)), True),
        (EditSpec(drag=DragSpec(1, Placement(dx=5.0))), True),
        (EditSpec(background="blur:4"), True),
    ],
)
def test_only_edits_that_show_ground_no_frame_showed_complete_the_background(edit, completes):
    assert edit.completes_background is completes
    assert ("completion" in downstream_stages(RunConfig(edit=edit))) is completes


def test_a_removal_is_the_layers_as_they_were_away_from_the_person_removed(tmp_path, clip):
    """Away from the removed person (their reach: the margin and what their matte missed), the removal's output
    is the clip's layers rendered as they are, bit for bit (lossless): completion no longer redraws the ground
    under the other people's soft edges, which showed there as patches of other frames (9-12% of those
    pixels, up to 153 levels, before)."""
    source, masks, _, ids = clip
    run_clip(source, tmp_path, RunConfig(masks_folder=str(masks), write_layers=True, write_video=False))
    layers = tmp_path / "clip.vlayers"
    edit_clip(source, layers, tmp_path / "removed.mp4", EditSpec(remove=(ids[0],)), crf=0)
    edit_clip(source, layers, tmp_path / "as_is.mp4", EditSpec(), complete=False, crf=0)
    reader = LayersReader(layers)
    with open_video(tmp_path / "as_is.mp4") as as_is, open_video(tmp_path / "removed.mp4") as removed:
        for index, (before, after) in enumerate(zip(as_is, removed)):
            stack = reader.read(index)
            away = ~near((stack.alpha[stack.index_of(ids[0])] > 0.02).numpy(), LeftoverConfig(reach=0.1, least_reach=6))
            assert away.sum() > 0.8 * away.size
            np.testing.assert_array_equal(after.image[away], before.image[away])
