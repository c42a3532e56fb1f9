"""``vmat train`` through its own parser (the lead wires the module into ``vmat.cli.main``)."""

import argparse
import json

import pytest

from vmat.cli import train_cmd
from vmat.errors import VmatError
from tests.training.conftest import TINY


def _run(argv: list[str]) -> tuple[int, str]:
    """Parse and run like ``vmat.cli.main.main``: a VmatError becomes exit code 2 and one message line."""
    parser = argparse.ArgumentParser(prog="vmat")
    parser.add_argument("-q", "--quiet", action="store_true")
    train_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return args.handler(args), ""
    except VmatError as error:
        return error.exit_code, str(error)


def _cache_args(cache) -> list[str]:
    return ["--cache", str(cache), "--cache-clips", str(TINY["clips"]), "--cache-frames", str(TINY["frames_per_clip"]),
            "--cache-size", f"{TINY['width']}x{TINY['height']}"]


def test_bad_crop_is_a_one_line_error(tmp_path):
    code, message = _run(["train", "temporal", "--crop", "64by96", "--out", str(tmp_path / "o")])
    assert code == 2 and "crop" in message and "\n" not in message


def test_unknown_model_is_a_one_line_error(tmp_path):
    pytest.importorskip("vmat.decomposition.mpmat")
    code, message = _run(
        ["train", "decomposition", "--model", "huge", "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")]
    )
    assert code == 2 and "huge" in message and "\n" not in message
    assert not (tmp_path / "c").exists()  # the name is checked before any rendering


def test_unknown_task_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        _run(["train", "segmentation"])
    assert exit_info.value.code == 2


def test_cache_folder_that_cannot_be_created(tmp_path):
    pytest.importorskip("vmat.decomposition.mpmat")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, message = _run(["train", "decomposition", "--out", str(tmp_path / "o"), "--cache", str(blocker / "cache")])
    assert code == 2 and "cache" in message


def test_a_tiny_temporal_run_stopped_and_resumed(tmp_path, tiny_cache_dir, capsys):
    pytest.importorskip("vmat.temporal.losses", reason="needs the temporal refiner")
    argv = ["train", "temporal", "--steps", "2", "--batch-size", "1", "--crop", "32x48", "--threads", "1",
            "--out", str(tmp_path / "o"), "--log-every", "1", *_cache_args(tiny_cache_dir)]
    assert _run(argv + ["--stop-after", "1"]) == (0, "")
    assert "resume with --resume" in capsys.readouterr().out
    assert _run(argv)[0] == 2  # the folder holds a run: --resume or another --out
    assert _run(argv + ["--resume"]) == (0, "")
    assert (tmp_path / "o" / "temporal-small.safetensors").is_file()
    summary = json.loads((tmp_path / "o" / "train.json").read_text())
    assert summary["finished"] and summary["resumed_from_step"] == 1


@pytest.mark.parametrize("task,module", [("decomposition", "vmat.decomposition.mpmat"), ("temporal", "vmat.temporal.losses")])
def test_init_that_is_not_a_checkpoint_is_a_one_line_error(task, module, tmp_path):
    pytest.importorskip(module)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not weights")
    code, message = _run(["train", task, "--init", str(junk), "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")])
    assert code == 2 and "junk.safetensors" in message and "\n" not in message
