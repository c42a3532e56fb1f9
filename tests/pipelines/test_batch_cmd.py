from __future__ import annotations

import argparse
import importlib.abc
import json
import shutil
import sys

import pytest

from vmat.cli import batch_cmd
from vmat.cli.main import main
from vmat.errors import ConfigError
from vmat.pipelines.job import REPORT_FILE

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
    args = _parse(
        ["-q", "batch", str(tmp_path / "in"), str(tmp_path / "out"), "--runner", "inprocess", "--background", "#102030"]
    )
    assert args.handler(args) == 0  # the broken clip is gone from the input; talk is skipped
    assert capsys.readouterr().out == ""
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text())["skipped"] == 1


class _WithoutRay(importlib.abc.MetaPathFinder):
    """An import finder that does not see Ray, as where the ``vmat[ray]`` extra is not installed."""

    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            return None
        return self.inner.find_spec(name, path, target)


@pytest.fixture
def without_ray(monkeypatch):
    if "ray" in sys.modules:
        pytest.skip("Ray is already imported in this test process")
    monkeypatch.setattr(sys, "meta_path", [_WithoutRay(finder) for finder in sys.meta_path])


def test_without_ray_the_ray_runner_says_how_to_get_it(tmp_path, capsys, without_ray):
    assert main(["batch", str(tmp_path), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'vmat[ray]'" in err and "--runner inprocess" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_without_ray_the_in_process_runner_works(tmp_path, capsys, without_ray):
    make_archive(tmp_path / "in")
    shutil.rmtree(tmp_path / "in" / "day1")
    shutil.rmtree(tmp_path / "in" / "day2")
    assert main(["-q", "batch", str(tmp_path / "in"), str(tmp_path / "out"), "--runner", "inprocess"]) == 0
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text())["done"] == 1
    assert "ray" not in sys.modules


def test_bad_worker_count_is_a_user_error(tmp_path):
    pytest.importorskip("ray")  # without Ray the missing extra is the error
    args = _parse(["batch", str(tmp_path), str(tmp_path / "out"), "--workers", "0"])
    with pytest.raises(ConfigError):
        args.handler(args)
