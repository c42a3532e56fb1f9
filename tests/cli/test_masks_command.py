from __future__ import annotations

import argparse

import cv2
import pytest

from tests.propagation.scenes import disc_shape, moving_scene
from vmat.errors import InputNotFoundError
from vmat.cli.masks_cmd import register
from vmat.propagation.idmask import mask_path, read_id_mask, write_id_mask


def _parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--quiet", action="store_true")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


@pytest.fixture
def clip_folder(tmp_path):
    frames = moving_scene(6, [(disc_shape(12), (20, 30), (4, 0), (0, 0, 170))])
    folder = tmp_path / "clip"
    folder.mkdir()
    for index, (image, _) in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:03d}.png"), image[..., ::-1])
    write_id_mask(tmp_path / "first.png", frames[0][1])
    return folder, frames


def test_masks_command_writes_masks_and_preview(tmp_path, clip_folder, capsys):
    folder, frames = clip_folder
    out, prompt, preview = tmp_path / "out", tmp_path / "first.png", tmp_path / "p.mp4"
    args = _parse(["masks", str(folder), "-o", str(out), "--prompt", str(prompt), "--preview", str(preview)])
    assert args.handler(args) == 0
    last = read_id_mask(mask_path(tmp_path / "out", 5)) == 1
    truth = frames[5][1] == 1
    assert (last & truth).sum() / (last | truth).sum() > 0.85
    assert (tmp_path / "p.mp4").stat().st_size > 0
    assert "6 id masks" in capsys.readouterr().out


def test_masks_command_missing_input(tmp_path):
    args = _parse(["masks", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "out")])
    with pytest.raises(InputNotFoundError):
        args.handler(args)
