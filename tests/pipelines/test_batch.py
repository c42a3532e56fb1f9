from __future__ import annotations

import json
import shutil

import pytest

from pipelines.batch import BatchConfig, run_batch
from pipelines.job import REPORT_FILE, STATE_FILE
from vmat.errors import ConfigError
from vmat.pipeline import InProcessRunner
from vmat.pipeline.run import RunConfig

from tests.pipelines.archive import GOOD
from tests.pipelines.outputs import assert_same_clip_outputs, output_files

# Lossless video: x264's output differs from run to run (threading), its lossless output does not.
IN_PROCESS = BatchConfig(runner="inprocess", retries=1, run=RunConfig(crf=0))


@pytest.fixture(scope="module")
def first_run(archive, tmp_path_factory):
    output = tmp_path_factory.mktemp("first") / "out"
    return output, run_batch(archive, output, IN_PROCESS)


def _states(output):
    return {key: clip["state"] for key, clip in json.loads((output / STATE_FILE).read_text())["clips"].items()}


def test_archive_end_to_end_with_a_corrupt_clip(first_run):
    output, report = first_run
    assert (report.done, report.failed, report.skipped, report.frames) == (3, 1, 0, 18)
    assert _states(output) == {"day1/deep/run": "done", "day1/walk": "done", "talk": "done", "day2/broken": "failed"}
    saved = json.loads((output / REPORT_FILE).read_text())
    assert (saved["done"], saved["failed"], saved["skipped"], saved["frames"]) == (3, 1, 0, 18)
    assert saved["frames_per_second"] > 0
    broken = next(clip for clip in saved["clips"] if clip["key"] == "day2/broken")
    assert "not a readable media file" in broken["error"]
    assert broken["attempts"] == 1  # the input's fault: not retried
    for key in GOOD:
        name = key.rsplit("/", 1)[-1]
        assert {f"{name}.vmat.mp4", f"{name}.ids.png", f"{name}.vlayers/header.json"} <= set(output_files(output / key))
    assert not (output / "day2" / "broken").exists()


def test_rerun_skips_done_redoes_failed_and_missing(first_run, archive, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(first_run[0], output)
    shutil.rmtree(output / "talk")  # a done clip whose outputs were deleted is redone
    stale = output / "day1" / ".walk.partial-0123abcd"
    stale.mkdir()
    report = run_batch(archive, output, IN_PROCESS)
    assert (report.done, report.failed, report.skipped) == (1, 1, 2)
    assert not stale.exists()
    state = json.loads((output / STATE_FILE).read_text())["clips"]
    assert state["day2/broken"]["attempts"] == 2
    assert state["talk"]["state"] == "done"
    assert_same_clip_outputs(output / "talk", first_run[0] / "talk")


def test_outputs_inside_the_input_folder_are_not_clips(archive, tmp_path):
    source = tmp_path / "in"
    shutil.copytree(archive / "day1", source)
    for _ in range(2):
        report = run_batch(source, source / "out", IN_PROCESS)
    assert (report.done, report.skipped, report.failed) == (0, 2, 0)
    assert (source / "out" / "walk" / "walk.vmat.mp4").is_file()


def test_changed_options_redo_the_clip(first_run, archive, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(first_run[0], output)
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"clip": "talk.mp4", "background": "#00b140"}) + "\n")
    report = run_batch(archive, output, IN_PROCESS, manifest=manifest)
    assert (report.done, report.skipped) == (1, 0)


class FlakyRunner:
    """Fails its first ``failures`` runs as a lost machine would, then runs in process."""

    def __init__(self, failures):
        self.failures = failures

    def run(self, records, factories, info, batch_size):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("lost the worker")
        return InProcessRunner().run(records, factories, info, batch_size)


def test_transient_failures_are_retried_then_recorded(archive, tmp_path):
    clip = str(archive / "talk.mp4")
    report = run_batch(clip, tmp_path / "a", BatchConfig(runner="inprocess", retries=1), runner=FlakyRunner(1))
    assert (report.done, report.clips[0]["attempts"]) == (1, 2)
    report = run_batch(clip, tmp_path / "b", BatchConfig(runner="inprocess", retries=1), runner=FlakyRunner(2))
    assert (report.failed, report.clips[0]["attempts"]) == (1, 2)
    assert report.clips[0]["error"] == "ConnectionError: lost the worker"


def test_a_bad_option_fails_only_its_clip(archive, tmp_path):
    manifest = tmp_path / "clips.csv"
    manifest.write_text("clip,background\ntalk.mp4,no-such-image.png\nday1/walk.mp4,blur:2\n")
    report = run_batch(archive, tmp_path / "out", IN_PROCESS, manifest=manifest)
    assert (report.done, report.failed) == (1, 1)
    assert "no-such-image.png" in next(c for c in report.clips if c["key"] == "talk")["error"]


def test_bad_config_is_refused():
    with pytest.raises(ConfigError):
        BatchConfig(runner="spark")
    with pytest.raises(ConfigError):
        BatchConfig(retries=-1)
