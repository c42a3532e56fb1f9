"""One vocabulary across the commands (issue 16): the same flags everywhere, old spellings kept working with a
note, global flags after the command, -o as a file or a folder, checks before any work, ranges, devices."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from tests.cli.bad_inputs import fails_cleanly, run_vmat
from tests.propagation.scenes import disc_shape, moving_scene
from vmat.cli.main import build_parser, main
from vmat.cli.people import check_edit_people
from vmat.io import VideoWriter, open_video, probe, write_test_pattern_clip
from vmat.propagation.idmask import mask_path, read_id_mask, write_id_mask

FRAMES = 8


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A clip of one disc moving right (person 1), its first id mask, and that mask as white on black."""
    folder = tmp_path_factory.mktemp("scene")
    frames = moving_scene(FRAMES, [(disc_shape(12), (20, 30), (3, 0), (0, 0, 170))])
    with VideoWriter(folder / "clip.mp4", fps=10, audio_from=None) as writer:
        for image, _ in frames:
            writer.write(image)
    write_id_mask(folder / "ids.png", frames[0][1])
    cv2.imwrite(str(folder / "binary.png"), np.where(frames[0][1] > 0, 255, 0).astype(np.uint8))
    return folder


def _parse(argv):
    return build_parser().parse_args(argv)


@pytest.mark.parametrize(
    "old, new",
    [
        (["masks", "c.mp4", "--out", "m"], ["masks", "c.mp4", "-o", "m"]),
        (
            ["masks", "c.mp4", "-o", "m", "--id-mask", "p.png", "--frame", "3"],
            ["masks", "c.mp4", "-o", "m", "--prompt", "p.png", "--prompt-frame", "3"],
        ),
        (["masks", "c.mp4", "-o", "m", "--work-size", "480"], ["masks", "c.mp4", "-o", "m", "--flow-size", "480"]),
        (["remove", "c.mp4", "-o", "e.mp4", "--id", "2", "3"], ["remove", "c.mp4", "-o", "e.mp4", "--remove", "2", "3"]),
        (["drag", "c.mp4", "-o", "e.mp4", "--id", "2"], ["drag", "c.mp4", "-o", "e.mp4", "--drag", "2"]),
        (["run", "c.mp4", "--reorder", "1", "2"], ["run", "c.mp4", "--swap", "1", "2"]),
        (["run", "c.mp4", "--people"], ["run", "c.mp4", "--person-videos"]),
        (["run", "c.mp4", "--no-layers"], ["run", "c.mp4"]),
    ],
)
def test_old_spellings_do_what_the_new_ones_do_with_a_one_line_note(capsys, old, new):
    old_args, new_args = vars(_parse(old)), vars(_parse(new))
    notes = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    values = {name: value for name, value in old_args.items() if not callable(value)}
    if old[-1] == "--no-layers":  # says what the default does: no layers file
        assert values.pop("keep_layers") is False and new_args["keep_layers"] is None
        new_args.pop("keep_layers")
    assert values == {name: value for name, value in new_args.items() if not callable(value)}
    # One line per old flag, each naming its new spelling.
    assert len(notes) == sum(arg.startswith("--") and arg not in new for arg in old)
    assert all(" note: " in line and "is an old spelling of" in line for line in notes)


def test_old_spellings_are_hidden_from_help(capsys):
    for command, old in [
        ("masks", "--id-mask"),
        ("masks", "--work-size"),
        ("remove", "--id"),
        ("run", "--reorder"),
        ("run", "--people"),
        ("run", "--no-layers"),
    ]:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert old not in capsys.readouterr().out


def test_an_output_given_the_old_way_still_works(tmp_path, capsys):
    clip = tmp_path / "c.mp4"
    assert main(["-q", "testclip", str(clip), "--size", "64x48", "--frames", "3"]) == 0
    assert main(["-q", "convert", str(clip), str(tmp_path / "o.mp4")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 2 and all("old spelling of -o" in line for line in lines)
    assert probe(tmp_path / "o.mp4").num_frames == 3
    fails_cleanly(capsys, ["convert", str(clip), str(tmp_path / "a.mp4"), "-o", str(tmp_path / "b.mp4")], "two outputs")
    fails_cleanly(capsys, ["convert", str(clip)], "name the output with -o PATH")


@pytest.mark.parametrize("flags", [["-q"], ["--progress"]])
def test_global_flags_work_after_the_command_too(tmp_path, capsys, flags):
    clip = tmp_path / "c.mp4"
    assert main(["testclip", "-o", str(clip), "--size", "64x48", "--frames", "3", *flags]) == 0
    after = vars(_parse(["info", str(clip), *flags]))
    before = vars(_parse([*flags, "info", str(clip)]))
    assert after == before and after["quiet" if flags == ["-q"] else "progress"] is True
    out = capsys.readouterr().out
    assert (out == "") == (flags == ["-q"])  # -q after the command silences the summary


def test_quiet_and_progress_together_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["-q", "info", "x.mp4", "--progress"])
    assert stop.value.code == 2 and "contradict" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["out.mp4", "out.MOV", "result.webm"])
def test_run_refuses_a_video_name_for_its_output_folder(tmp_path, capsys, scene, name, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = fails_cleanly(capsys, ["run", str(scene / "clip.mp4"), "-o", name], "names the output folder")
    assert "use -o" in line and ".vmat.mp4" in line
    assert not (tmp_path / name).exists()


def test_a_person_the_prompt_does_not_name_fails_at_once(tmp_path, capsys, scene):
    out = tmp_path / "out"
    line = fails_cleanly(
        capsys,
        ["run", str(scene / "clip.mp4"), "--prompt", str(scene / "ids.png"), "--remove", "7", "-o", str(out)],
        "person 7 not in the prompt",
    )
    assert "which names 1" in line and not out.exists()
    prompt = tmp_path / "p.json"
    prompt.write_text(
        json.dumps(
            {"prompts": [{"frame": 0, "instances": [{"id": 2, "box": [5, 5, 40, 40]}, {"id": 4, "box": [40, 5, 60, 40]}]}]}
        )
    )
    line = fails_cleanly(
        capsys, ["run", str(scene / "clip.mp4"), "--prompt", str(prompt), "--swap", "2", "3", "-o", str(out)], "person 3 not in"
    )
    assert "which names 2, 4" in line
    edited = tmp_path / "e.mp4"
    fails_cleanly(
        capsys,
        ["remove", str(scene / "clip.mp4"), "--prompt", str(prompt), "--remove", "2", "5", "-o", str(edited)],
        "person 5 not in",
    )
    assert not edited.exists() and not edited.with_suffix(".vlayers").exists()


def test_a_person_the_masks_do_not_hold_fails_at_once(tmp_path, capsys, scene):
    masks = tmp_path / "masks"
    masks.mkdir()
    for index in range(FRAMES):
        write_id_mask(mask_path(masks, index), read_id_mask(scene / "ids.png") * (3 if index == 5 else 1))
    fails_cleanly(
        capsys,
        ["drag", str(scene / "clip.mp4"), "--masks", str(masks), "--drag", "2", "-o", str(tmp_path / "e.mp4")],
        "person 2 not in the masks",
    )
    check_edit_people([1, 3], masks=str(masks))  # person 3 is on one frame only: that is enough


def test_a_binary_mask_prompt_is_one_person_with_id_1(tmp_path, capsys, scene):
    assert main(["-q", "masks", str(scene / "clip.mp4"), "--prompt", str(scene / "binary.png"), "-o", str(tmp_path / "m")]) == 0
    first, last = read_id_mask(mask_path(tmp_path / "m", 0)), read_id_mask(mask_path(tmp_path / "m", FRAMES - 1))
    assert np.array_equal(first, read_id_mask(scene / "ids.png"))
    assert set(np.unique(last).tolist()) == {0, 1}
    assert capsys.readouterr().err == ""


def test_masks_finding_nobody_warns_and_succeeds(tmp_path, capsys, scene):
    empty = tmp_path / "empty.png"
    write_id_mask(empty, np.zeros_like(read_id_mask(scene / "ids.png")))
    code, lines = run_vmat(capsys, ["-q", "masks", str(scene / "clip.mp4"), "--prompt", str(empty), "-o", str(tmp_path / "m")])
    assert code == 0 and len(lines) == 1 and "warning:" in lines[0] and "names nobody: every mask is empty" in lines[0]


def test_a_run_that_finds_nobody_warns_and_succeeds(tmp_path, capsys, scene):
    masks = tmp_path / "masks"
    masks.mkdir()
    for index in range(FRAMES):
        write_id_mask(mask_path(masks, index), np.zeros_like(read_id_mask(scene / "ids.png")))
    code, lines = run_vmat(
        capsys, ["-q", "run", str(scene / "clip.mp4"), "--masks", str(masks), "-o", str(tmp_path / "o"), "--no-completion"]
    )
    assert code == 0 and len(lines) == 1 and lines[0].startswith("vmat run: warning: ") and "names nobody" in lines[0]
    assert probe(tmp_path / "o" / "clip.vmat.mp4").num_frames == FRAMES


def test_run_reads_an_image_folder_and_a_range_of_it(tmp_path, capsys, scene):
    folder = tmp_path / "frames"
    assert main(["-q", "convert", str(scene / "clip.mp4"), "-o", str(folder), "--format", "png-rgba"]) == 0
    argv = ["-q", "run", str(folder), "--prompt", str(scene / "ids.png"), "-o", str(tmp_path / "o"), "--no-completion"]
    assert main([*argv, "--start", "2", "--end", "5", "--no-preview"]) == 0
    assert probe(tmp_path / "o" / "frames.vmat.mp4").num_frames == 3


def test_layers_made_from_a_range_are_edited_with_that_range(tmp_path, capsys, scene):
    out = tmp_path / "o"
    run = [
        "-q", "run", str(scene / "clip.mp4"), "--prompt", str(scene / "ids.png"), "-o", str(out), "--no-completion",
        "--no-preview",
    ]
    assert main([*run, "--start", "2", "--end", "6", "--keep-layers"]) == 0
    edit = ["remove", str(scene / "clip.mp4"), "--layers", str(out / "clip.vlayers"), "--remove", "1", "--no-completion"]
    with open_video(scene / "clip.mp4", start=2, end=6) as reader:
        wanted = [frame.time for frame in reader]
    # The layers remember their range: given again or not, the edit shows those frames at their times.
    for index, given in enumerate(([], ["--start", "2", "--end", "6"], ["--end", "6"])):
        assert main(["-q", *edit, "-o", str(tmp_path / f"e{index}.mp4"), *given]) == 0
        with open_video(tmp_path / f"e{index}.mp4") as reader:
            assert [frame.time for frame in reader] == pytest.approx(wanted, abs=1e-3)
    made = "was made from frames 2 to 5 of"
    assert "not from frame 0:" in fails_cleanly(capsys, [*edit, "-o", str(tmp_path / "f.mp4"), "--start", "0"], made)
    assert "not to frame 7:" in fails_cleanly(capsys, [*edit, "-o", str(tmp_path / "f.mp4"), "--end", "8"], made)
    assert not (tmp_path / "f.mp4").exists()


def test_layers_that_do_not_record_their_range_are_edited_from_frame_0(tmp_path, capsys, scene):
    """Files written before the range was kept: their fingerprint has no start."""
    out = tmp_path / "o"
    run = ["-q", "run", str(scene / "clip.mp4"), "--prompt", str(scene / "ids.png"), "-o", str(out), "--no-completion"]
    assert main([*run, "--start", "2", "--end", "6", "--keep-layers", "--no-preview"]) == 0
    header = out / "clip.vlayers" / "header.json"
    fields = json.loads(header.read_text())
    assert fields["source"].pop("start") == 2
    header.write_text(json.dumps(fields))
    edit = ["remove", str(scene / "clip.mp4"), "--layers", str(out / "clip.vlayers"), "--remove", "1", "--no-completion"]
    line = fails_cleanly(capsys, [*edit, "-o", str(tmp_path / "f.mp4")], "holds 4 frames but")
    assert "give the --start and --end they were made with" in line
    assert main(["-q", *edit, "-o", str(tmp_path / "e.mp4"), "--start", "2", "--end", "6"]) == 0
    assert probe(tmp_path / "e.mp4").num_frames == 4


@pytest.mark.parametrize("device, words", [("gpu", "must be cpu, cuda or cuda:N"), ("cuda:99", "cuda"), ("cpu:0", "must be cpu")])
def test_a_device_that_is_not_there_fails_in_one_line(tmp_path, capsys, scene, device, words):
    if device == "cuda:99" and torch.cuda.is_available():
        words = "CUDA device(s)"
    for argv in (
        ["run", str(scene / "clip.mp4"), "-o", str(tmp_path / "o")],
        ["masks", str(scene / "clip.mp4"), "-o", str(tmp_path / "m")],
    ):
        fails_cleanly(capsys, [*argv, "--device", device], words)
    assert not (tmp_path / "o").exists() and not (tmp_path / "m").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_fails_in_one_line(tmp_path, capsys, scene):
    fails_cleanly(capsys, ["masks", str(scene / "clip.mp4"), "-o", str(tmp_path / "m"), "--device", "cuda"], "use --device cpu")


def test_masks_and_convert_take_a_frame_range(tmp_path, capsys, scene):
    assert (
        main(
            [
                "-q", "masks", str(scene / "clip.mp4"), "--prompt", str(scene / "ids.png"), "-o", str(tmp_path / "m"),
                "--start", "2", "--end", "6",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "m").glob("*.png")) == [f"{i:06d}.png" for i in range(4)]
    clip = write_test_pattern_clip(tmp_path / "t.mp4", width=64, height=48, num_frames=20, fps=20)
    assert main(["-q", "convert", str(clip), "-o", str(tmp_path / "part.mp4"), "--start", "5", "--end", "12"]) == 0
    with open_video(clip, start=5, end=12) as reader:
        wanted = [frame.time for frame in reader]
    with open_video(tmp_path / "part.mp4") as reader:
        got = [frame.time for frame in reader]
    assert got == pytest.approx(wanted, abs=1e-3) and len(got) == 7
    assert probe(tmp_path / "part.mp4").audio  # the part's stretch of the audio


@pytest.mark.parametrize("command", ["run", "masks", "convert"])
def test_a_range_outside_the_clip_fails_before_any_work(tmp_path, capsys, scene, command):
    out = tmp_path / ("o.mp4" if command == "convert" else "o")
    fails_cleanly(
        capsys, [command, str(scene / "clip.mp4"), "-o", str(out), "--start", str(FRAMES)], f"the clip has {FRAMES} frames"
    )
    fails_cleanly(capsys, [command, str(scene / "clip.mp4"), "-o", str(out), "--start", "4", "--end", "4"], "is empty")
    assert not out.exists()


def test_print_config_shows_the_real_defaults_and_the_new_fields(capsys):
    assert main(["run", "c.mp4", "--print-config", "--device", "cpu", "--start", "3", "--end", "9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "crf = 18" in lines and 'device = "cpu"' in lines and "start = 3" in lines and "end = 9" in lines


@pytest.mark.parametrize("command", ["masks", "run"])
def test_the_prompt_format_is_in_the_help(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert '{"prompts": [' in out and '"box": [120, 40, 330, 470]' in out and "binary mask" in out


@pytest.mark.parametrize(
    "command, words",
    [("run", "output folder"), ("masks", "folder"), ("depth", "folder"), ("convert", "one video file"), ("remove", "one file"),
     ("replace-bg", "one file"), ("testclip", "one file"), ("demo", "folder")],
)
def test_every_output_is_o_and_its_help_says_file_or_folder(capsys, command, words):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "-o PATH, --output PATH" in out
    assert words in " ".join(out.split())
