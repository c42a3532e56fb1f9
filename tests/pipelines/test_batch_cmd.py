from __future__ import annotations

import argparse
import json
import shutil

import pytest

from vmat.pipelines.job import REPORT_FILE
from vmat.cli import batch_cmd
from vmat.errors import ConfigError

from tests.pipelines.archive import make_archive


def _parse(argv):
    parser = argparse.ArgumentParser(prog="vmat")
    parser.add_argument("-q", "--quiet", action="store_true")
    batch_cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_batch_command_in_process(tmp_path, capsys):
    make_archive(tmp_path / "in")
    shutil.rmtree(tmp_path / "in" / "day1")
    args = _parse(["batch", str(tmp_path / "in"), str(tmp_path / "out"), "--runner", "inprocess", "--background", "#102030"])
    assert args.handler(args) == 1  # the corrupt clip failed
    out = capsys.readouterr()
    assert "day2/broken.mp4: failed" in out.out
    assert "1 done, 1 failed, 0 skipped" in out.out
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert (report["done"], report["failed"], report["runner"]) == (1, 1, "inprocess")

    shutil.rmtree(tmp_path / "in" / "day2")
    args = _parse(["-q", "batch", str(tmp_path / "in"), str(tmp_path / "out"), "--runner", "inprocess", "--background", "#102030"])
    assert args.handler(args) == 0  # the broken clip is gone from the input; talk is skipped
    assert capsys.readouterr().out == ""
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text())["skipped"] == 1


def test_bad_worker_count_is_a_user_error(tmp_path):
    args = _parse(["batch", str(tmp_path), str(tmp_path / "out"), "--workers", "0"])
    with pytest.raises(ConfigError):
        args.handler(args)
