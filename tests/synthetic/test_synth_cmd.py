import argparse
import json

from vmat.cli import synth_cmd
from vmat.synthetic import SyntheticClip


def _parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--quiet", action="store_true")
    synth_cmd.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_synth_writes_a_clip_with_preview(tmp_path, capsys):
    args = _parse(
        ["synth", str(tmp_path / "clip"), "--level", "hard", "--camera", "pan", "--size", "96x72"]
        + ["--frames", "3", "--seed", "4", "--preview"]
    )
    assert args.handler(args) == 0
    clip = SyntheticClip(tmp_path / "clip")
    assert clip.level == "hard" and clip.num_frames == 3
    assert (tmp_path / "clip" / "preview.mp4").stat().st_size > 0
    manifest = json.loads((tmp_path / "clip" / "manifest.json").read_text())
    assert manifest["config"]["seed"] == 4 and len(manifest["frames"]) == 3
    assert "wrote" in capsys.readouterr().out


def test_synth_suite(tmp_path, capsys):
    args = _parse(["synth", str(tmp_path), "--suite", "smoke", "--no-edits"])
    assert args.handler(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6  # one line per clip, then one per level
    assert lines[-1].startswith("hard: occlusion per frame 0.")
    assert not (tmp_path / "easy-static-0-160x96x6" / "removed").exists()


def test_synth_detailed_people(tmp_path):
    args = _parse(
        ["synth", str(tmp_path / "clip"), "--level", "easy", "--size", "160x96", "--frames", "2", "--detailed", "--no-edits"]
    )
    assert args.handler(args) == 0
    manifest = json.loads((tmp_path / "clip" / "manifest.json").read_text())
    assert manifest["config"]["detailed"] is True
    assert all(person["look"]["hair_width"] > 0 for person in manifest["people"])
