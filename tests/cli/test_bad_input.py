"""Every bad input gets one clear line on stderr, a non-zero exit, no traceback and no output file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.io import media
from vmat.cli.main import main
from vmat.io import write_test_pattern_clip


def _fails_cleanly(capsys, argv, output: Path, expected: str) -> None:
    code = main(argv)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code != 0
    assert "Traceback" not in captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("vmat convert: error: ") and expected in lines[0]
    assert not output.exists()
    assert not [p for p in output.parent.iterdir() if ".partial-" in p.name], "a temporary output was left behind"


@pytest.fixture()
def good_clip(tmp_path):
    return write_test_pattern_clip(tmp_path / "good.mp4", width=96, height=64, num_frames=30)


def test_missing_file(tmp_path, capsys):
    _fails_cleanly(
        capsys, ["convert", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "does not exist"
    )


def test_a_file_that_is_not_media(tmp_path, capsys):
    text = tmp_path / "notes.mp4"
    text.write_text("these are not the frames you are looking for\n" * 20)
    _fails_cleanly(capsys, ["convert", str(text), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "not a readable media file")


def test_an_empty_file(tmp_path, capsys):
    (tmp_path / "empty.mp4").write_bytes(b"")
    _fails_cleanly(
        capsys, ["convert", str(tmp_path / "empty.mp4"), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "empty file"
    )


def test_a_video_with_zero_frames(tmp_path, capsys):
    clip = media.zero_frame_clip(tmp_path / "zero.mp4")
    _fails_cleanly(capsys, ["convert", str(clip), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "has no video stream")


def test_audio_without_video(tmp_path, capsys):
    clip = media.audio_only_clip(tmp_path / "song.m4a")
    _fails_cleanly(capsys, ["convert", str(clip), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "has no video stream")


def test_truncated_mp4_with_its_index_at_the_front(tmp_path, capsys):
    clip = media.truncated(media.faststart_clip(tmp_path / "fs.mp4"), tmp_path / "cut.mp4")
    _fails_cleanly(
        capsys, ["convert", str(clip), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "declares 40 frames but holds"
    )


def test_truncated_mp4_with_its_index_at_the_end(tmp_path, capsys, good_clip):
    clip = media.truncated(good_clip, tmp_path / "cut.mp4")
    _fails_cleanly(capsys, ["convert", str(clip), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "not a readable media file")


def test_truncated_matroska_reports_where_it_broke(tmp_path, capsys):
    source = write_test_pattern_clip(tmp_path / "full.mkv", width=96, height=64, num_frames=60)
    clip = media.truncated(source, tmp_path / "cut.mkv")
    _fails_cleanly(
        capsys, ["convert", str(clip), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "decoding stopped after frame"
    )


def test_damage_in_the_middle_reports_where_it_broke(tmp_path, capsys):
    clip = media.overwritten_middle(media.faststart_clip(tmp_path / "fs.mp4"), tmp_path / "damaged.mp4")
    _fails_cleanly(
        capsys, ["convert", str(clip), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "decoding stopped after frame"
    )


def test_salvage_keeps_the_frames_before_the_damage(tmp_path, capsys):
    source = write_test_pattern_clip(tmp_path / "full.mkv", width=96, height=64, num_frames=60)
    clip = media.truncated(source, tmp_path / "cut.mkv")
    assert main(["convert", "--salvage", str(clip), "-o", str(tmp_path / "o.mp4")]) == 0
    captured = capsys.readouterr()
    assert "warning: input" in captured.out and "good frames were kept" in captured.out
    from vmat.io import probe

    frames = probe(tmp_path / "o.mp4").num_frames
    assert 0 < frames < 60


def test_unsupported_codec(tmp_path, capsys):
    clip = media.unknown_codec_clip(tmp_path)
    _fails_cleanly(
        capsys, ["convert", str(clip), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "video codec vmat cannot decode"
    )


def test_unsupported_pixel_format(tmp_path, capsys):
    clip = media.unknown_pixel_format_clip(tmp_path)
    _fails_cleanly(capsys, ["convert", str(clip), "-o", str(tmp_path / "o.mp4")], tmp_path / "o.mp4", "unsupported pixel format")


def test_output_in_a_missing_folder(tmp_path, capsys, good_clip):
    output = tmp_path / "no" / "such" / "o.mp4"
    code = main(["convert", str(good_clip), "-o", str(output)])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and "output folder" in err and "does not exist" in err
    assert not output.parent.exists()


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write to: a read-only one, or /sys when running as root (root ignores modes)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except OSError:
        return folder
    (folder / "probe").unlink()
    if _cannot_create_in(Path("/sys")):
        return Path("/sys")
    pytest.skip("no folder here refuses writes to this user")


def _cannot_create_in(folder: Path) -> bool:
    try:
        (folder / ".vmat-test").touch()
    except OSError:
        return True
    (folder / ".vmat-test").unlink()
    return False


def test_output_in_a_read_only_folder(tmp_path, capsys, good_clip):
    folder = _unwritable_folder(tmp_path)
    code = main(["convert", str(good_clip), "-o", str(folder / "o.mp4")])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert "cannot write to output folder" in err
    assert not (folder / "o.mp4").exists()
