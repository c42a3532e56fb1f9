"""The output policy, command by command: vmat never deletes or replaces what the user did not name as the output,
never writes over an input, replaces an existing output only with --overwrite (a folder only when vmat wrote it
and it holds nothing else), and a failed run leaves nothing behind. See docs/reliability.md."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from vmat.cli.main import main
from vmat.errors import OutputError
from vmat.io import VideoWriter, probe, write_test_pattern_clip
from vmat.io import atomic
from vmat.propagation import mask_path, write_id_mask

FRAMES = 4


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A tiny clip, its id masks (one person, id 1) and the layers ``vmat run`` made from them."""
    folder = tmp_path_factory.mktemp("made")
    clip = write_test_pattern_clip(folder / "clip.mp4", width=64, height=48, num_frames=FRAMES, audio=False)
    masks = folder / "masks"
    masks.mkdir()
    for index in range(FRAMES):
        ids = np.zeros((48, 64), np.uint8)
        ids[10:40, 8 + 2 * index : 30 + 2 * index] = 1
        write_id_mask(mask_path(masks, index), ids)
    assert (
        main(
            [
                "-q", "run", str(clip), "--masks", str(masks), "-o", str(folder / "run"), "--no-preview",
                "--no-completion", "--keep-layers",
            ]
        )
        == 0
    )
    return clip, masks, folder / "run" / "clip.vlayers"


@pytest.fixture()
def clip(tmp_path, made):
    """A copy of the tiny clip in this test's own folder (tests may try to destroy it)."""
    copy = tmp_path / "clip.mp4"
    copy.write_bytes(made[0].read_bytes())
    return copy


def _refused(capsys, argv: list[str], expected: str) -> None:
    code = main([str(arg) for arg in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("vmat ") and ": error: " in lines[0] and expected in lines[0], lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every path under ``folder`` with its bytes, to show that nothing changed."""
    return {str(p.relative_to(folder)): b"<folder>" if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def _user_folder(path: Path) -> Path:
    """A folder of the user's that vmat did not write."""
    path.mkdir()
    (path / "holiday.jpg").write_bytes(b"irreplaceable")
    return path


# -- item 1: existing folders were deleted, with exit status 0 ------------------------------------------------------


def _command(name: str, clip: Path, made, output: Path) -> list:
    _, masks, layers = made
    return {
        "convert": ["convert", clip, "-o", output],
        "masks": ["masks", clip, "-o", output, "--prompt", mask_path(masks, 0)],
        "depth": ["depth", clip, "-o", output],
        "replace-bg": ["replace-bg", clip, "--layers", layers, "--background", "#00ff00", "-o", output],
        "synth": ["synth", output, "--size", "64x64", "--frames", "2"],
    }[name]


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("command", ["convert", "masks", "depth", "replace-bg", "synth"])
def test_a_folder_the_user_made_is_never_replaced(tmp_path, capsys, made, clip, command, overwrite):
    folder = _user_folder(tmp_path / "existing")
    before = _snapshot(tmp_path)
    expected = "vmat did not write" if overwrite else "exists; pass --overwrite to replace it"
    _refused(capsys, _command(command, clip, made, folder) + (["--overwrite"] if overwrite else []), expected)
    assert _snapshot(tmp_path) == before


def test_an_edit_into_a_folder_name_is_refused_too(tmp_path, capsys, made, clip):
    _, _, layers = made
    folder = _user_folder(tmp_path / "existing")
    before = _snapshot(tmp_path)
    _refused(capsys, ["remove", clip, "--layers", layers, "--remove", "1", "-o", f"{folder}/"], "exists; pass --overwrite")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_masks_into_the_folder_holding_the_clip_keeps_the_clip(tmp_path, capsys, made, overwrite):
    sub = tmp_path / "sub"
    sub.mkdir()
    clip = sub / "clip.mp4"
    clip.write_bytes(made[0].read_bytes())
    (sub / "notes.txt").write_text("beside the clip")
    before = _snapshot(tmp_path)
    _refused(
        capsys,
        ["masks", clip, "-o", sub, "--prompt", mask_path(made[1], 0)] + (["--overwrite"] if overwrite else []),
        "holds the input",
    )
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("clip_here", [False, True], ids=["clip-elsewhere", "clip-here"])
def test_masks_into_the_current_folder_is_one_line(tmp_path, capsys, made, monkeypatch, overwrite, clip_here):
    here = tmp_path / "here"
    here.mkdir()
    clip = (here if clip_here else tmp_path) / "clip.mp4"
    clip.write_bytes(made[0].read_bytes())
    monkeypatch.chdir(here)
    before = _snapshot(tmp_path)
    expected = "holds the input" if clip_here else "is the current folder"
    _refused(
        capsys, ["masks", clip, "-o", ".", "--prompt", mask_path(made[1], 0)] + (["--overwrite"] if overwrite else []), expected
    )
    assert _snapshot(tmp_path) == before


# -- item 2: output path = input path overwrote the source ----------------------------------------------------------


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_convert_onto_its_own_input_is_refused(tmp_path, capsys, clip, overwrite, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    _refused(capsys, ["convert", "clip.mp4", "-o", "./clip.mp4"] + (["--overwrite"] if overwrite else []), "is the input")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_another_name_for_the_input_is_still_the_input(tmp_path, capsys, clip, link):
    other = tmp_path / "other.mp4"
    os.link(clip, other) if link == "hard" else other.symlink_to(clip)
    before = _snapshot(tmp_path)
    _refused(capsys, ["convert", clip, "-o", other], "is the input")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_an_edit_onto_its_own_clip_is_refused(tmp_path, capsys, made, clip, overwrite):
    before = _snapshot(tmp_path)
    argv = ["remove", clip, "--layers", made[2], "--remove", "1", "-o", clip] + (["--overwrite"] if overwrite else [])
    _refused(capsys, argv, "is the input")
    assert _snapshot(tmp_path) == before


def test_a_prompt_is_never_overwritten_by_an_output_of_the_run(tmp_path, capsys, made, clip):
    """`vmat run` writes CLIP.ids.png; a prompt of that name is an input."""
    prompt = tmp_path / "out" / "clip.ids.png"
    prompt.parent.mkdir()
    prompt.write_bytes(mask_path(made[1], 0).read_bytes())
    before = _snapshot(tmp_path)
    _refused(capsys, ["run", clip, "--prompt", prompt, "-o", tmp_path / "out"], "is the input")
    assert _snapshot(tmp_path) == before


# -- --overwrite replaces vmat's own outputs, and only those --------------------------------------------------------


def test_overwrite_replaces_a_folder_vmat_wrote_but_not_one_the_user_added_to(tmp_path, capsys, made, clip):
    out = tmp_path / "masks"
    argv = ["-q", "masks", clip, "-o", out, "--prompt", mask_path(made[1], 0)]
    assert main([str(a) for a in argv]) == 0
    names = sorted(p.name for p in out.iterdir() if p.name != atomic.MARKER)
    assert names == [f"{i:06d}.png" for i in range(FRAMES)]
    assert set(names) <= set((out / atomic.MARKER).read_text().splitlines())
    _refused(capsys, argv, "exists; pass --overwrite")
    (out / "000000.png").write_bytes(b"stale")
    assert main([str(a) for a in argv + ["--overwrite"]]) == 0
    assert (out / "000000.png").read_bytes() != b"stale"  # replaced by a fresh mask
    (out / "my-notes.txt").write_text("mine")
    before = _snapshot(tmp_path)
    _refused(capsys, argv + ["--overwrite"], "holds 'my-notes.txt'")
    assert _snapshot(tmp_path) == before


def test_run_outputs_are_named_after_the_clip_and_replaced_only_with_overwrite(tmp_path, capsys, made, clip):
    _, masks, _ = made
    out = tmp_path / "out"
    other = tmp_path / "other.mp4"
    other.write_bytes(clip.read_bytes())
    _user_folder(out)
    run = ["-q", "run", clip, "--masks", masks, "-o", out, "--no-completion", "--keep-layers"]
    assert main([str(a) for a in run]) == 0  # the output folder holds the outputs: it may hold other things
    assert (out / "holiday.jpg").read_bytes() == b"irreplaceable"
    assert {"clip.vlayers", "clip.ids.png", "clip.vmat.mp4"} <= {p.name for p in out.iterdir()}
    _refused(capsys, run, "clip.vlayers' exists; pass --overwrite")
    assert main([str(a) for a in ["-q", "run", other, "--masks", masks, "-o", out, "--no-completion", "--keep-layers"]]) == 0
    first = (out / "clip.vmat.mp4").stat().st_ino
    assert main([str(a) for a in run + ["--overwrite"]]) == 0
    assert (out / "clip.vmat.mp4").stat().st_ino != first and probe(out / "clip.vmat.mp4").num_frames == FRAMES
    assert (out / "other.vmat.mp4").exists() and (out / "holiday.jpg").read_bytes() == b"irreplaceable"
    assert not [p for p in out.iterdir() if ".partial-" in p.name]


def test_a_run_beside_its_clip_keeps_the_clip(tmp_path, made, clip):
    assert main(["-q", "run", str(clip), "--masks", str(made[1]), "-o", str(tmp_path), "--no-completion"]) == 0
    assert clip.read_bytes() == made[0].read_bytes() and (tmp_path / "clip.vmat.mp4").exists()


def test_an_edit_makes_its_layers_beside_the_output_and_names_the_final_paths(tmp_path, capsys, made, clip, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["replace-bg", "clip.mp4", "--masks", str(made[1]), "--background", "#00ff00", "-o", "edited.mp4", "--no-completion"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "wrote edited.vlayers (layers of 4 frames)" in out and "wrote edited.mp4: h264" in out and ".partial-" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "edited.mp4", "edited.vlayers"]
    _refused(capsys, argv, "'edited.mp4' exists; pass --overwrite")
    assert main(argv + ["--overwrite"]) == 0


def test_every_single_output_command_refuses_an_existing_file(tmp_path, capsys, made, clip):
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"the user's")
    for argv in (
        ["testclip", "-o", existing],
        ["convert", clip, "-o", existing],
        ["masks", clip, "-o", tmp_path / "m", "--prompt", mask_path(made[1], 0), "--preview", existing],
        ["depth", clip, "-o", tmp_path / "d", "--preview", existing],
        ["replace-bg", clip, "--layers", made[2], "--background", "#00ff00", "-o", existing],
        ["eval", "--json", existing],
        ["bench", "io", "--size", "64x48", "--frames", "4", "--json", existing],
    ):
        _refused(capsys, argv, "exists; pass --overwrite")
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "demo.mp4").write_bytes(b"the user's")
    _refused(capsys, ["demo", "-o", demo], "demo.mp4' exists; pass --overwrite")
    assert existing.read_bytes() == b"the user's" and (demo / "demo.mp4").read_bytes() == b"the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "demo", "existing.mp4"]


def test_the_library_never_replaces_a_folder_vmat_did_not_write(tmp_path):
    """The commit itself refuses, whatever the caller checked: a Python caller cannot delete the user's folder."""
    folder = _user_folder(tmp_path / "folder")
    with pytest.raises(OutputError, match="vmat did not write"):
        with atomic.atomic_output(folder, is_dir=True) as temporary:
            (temporary / "frame.png").write_bytes(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
    assert (folder / "holiday.jpg").read_bytes() == b"irreplaceable"


# -- item 8: a full disk during run; a failed train --init -----------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "existing-folder"])
def test_a_full_disk_during_run_is_one_line_and_leaves_no_output(tmp_path, capsys, made, clip, monkeypatch, existing):
    out = tmp_path / "out"
    if existing:
        _user_folder(out)
    before = _snapshot(tmp_path)

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # The video is the last output written: by then the masks, layers and preview are all done.
    monkeypatch.setattr(VideoWriter, "write_frame", disk_full)
    _refused(capsys, ["run", clip, "--prompt", mask_path(made[1], 0), "-o", out, "--no-completion"], "no space left on device")
    assert _snapshot(tmp_path) == before


def test_a_failed_train_init_leaves_no_empty_output_folder(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    out = tmp_path / "run"
    argv = ["train", "decomposition", "--init", bad, "--out", out, "--cache", tmp_path / "cache", "--steps", "1"]
    _refused(capsys, argv, "not a readable safetensors file")
    assert not out.exists()
