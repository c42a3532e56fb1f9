from __future__ import annotations

import json
import os
import shutil

import pytest

from vmat.pipelines.batch import BatchConfig, run_batch
from vmat.pipelines.job import REPORT_FILE, STATE_FILE
from vmat.errors import ConfigError
from vmat.pipeline import InProcessRunner
from vmat.pipeline.run import RunConfig

from tests.pipelines.archive import GOOD
from tests.pipelines.outputs import assert_same_clip_outputs, output_files

# Lossless video: x264's output differs from run to run (threading), its lossless output does not.
IN_PROCESS = BatchConfig(runner="inprocess", retries=1, run=RunConfig(crf=0, write_layers=True))


@pytest.fixture(scope="module")
def first_run(archive, tmp_path_factory):
    output = tmp_path_factory.mktemp("first") / "out"
    return output, run_batch(archive, output, IN_PROCESS)


def _states(output):
    return {key: clip["state"] for key, clip in json.loads((output / STATE_FILE).read_text())["clips"].items()}


def test_archive_end_to_end_with_a_corrupt_clip(first_run):
    output, report = first_run
    assert (report.done, report.failed, report.skipped, report.frames) == (3, 1, 0, 18)
    assert _states(output) == {
        "day1/deep/run.mp4": "done", "day1/walk.mp4": "done", "talk.mp4": "done", "day2/broken.mp4": "failed",
    }
    saved = json.loads((output / REPORT_FILE).read_text())
    assert (saved["done"], saved["failed"], saved["skipped"], saved["frames"]) == (3, 1, 0, 18)
    assert saved["frames_per_second"] > 0
    broken = next(clip for clip in saved["clips"] if clip["key"] == "day2/broken.mp4")
    assert "not a readable media file" in broken["error"]
    assert broken["attempts"] == 1  # the input's fault: not retried
    for key in GOOD:
        name = key.rsplit("/", 1)[-1].removesuffix(".mp4")
        assert {f"{name}.vmat.mp4", f"{name}.ids.png", f"{name}.vlayers/header.json"} <= set(output_files(output / key))
    assert not (output / "day2" / "broken.mp4").exists()


def test_rerun_skips_done_redoes_failed_and_missing(first_run, archive, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(first_run[0], output)
    shutil.rmtree(output / "talk.mp4")  # a done clip whose outputs were deleted is redone
    stale = output / "day1" / ".walk.partial-0123abcd"
    stale.mkdir()
    report = run_batch(archive, output, IN_PROCESS)
    assert (report.done, report.failed, report.skipped) == (1, 1, 2)
    assert not stale.exists()
    state = json.loads((output / STATE_FILE).read_text())["clips"]
    assert state["day2/broken.mp4"]["attempts"] == 2
    assert state["talk.mp4"]["state"] == "done"
    assert_same_clip_outputs(output / "talk.mp4", first_run[0] / "talk.mp4")


def test_outputs_inside_the_input_folder_are_not_clips(archive, tmp_path):
    source = tmp_path / "in"
    shutil.copytree(archive / "day1", source)
    for _ in range(2):
        report = run_batch(source, source / "out", IN_PROCESS)
    assert (report.done, report.skipped, report.failed) == (0, 2, 0)
    assert (source / "out" / "walk.mp4" / "walk.vmat.mp4").is_file()


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

    def run(self, records, factories, info, batch_size, clock=None):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("lost the worker")
        return InProcessRunner().run(records, factories, info, batch_size, clock)


def test_transient_failures_are_retried_then_recorded(archive, tmp_path):
    clip = str(archive / "talk.mp4")
    report = run_batch(clip, tmp_path / "a", BatchConfig(runner="inprocess", retries=1), runner=FlakyRunner(1))
    assert (report.done, report.clips[0]["attempts"]) == (1, 2)
    # The given runner's stages are timed on the clip's clock, as the default runner's are.
    assert {"masks", "depth", "decompose"} <= set(report.clips[0]["stage_seconds"])
    report = run_batch(clip, tmp_path / "b", BatchConfig(runner="inprocess", retries=1), runner=FlakyRunner(2))
    assert (report.failed, report.clips[0]["attempts"]) == (1, 2)
    assert report.clips[0]["error"] == "ConnectionError: lost the worker"


def test_a_bad_option_fails_only_its_clip(archive, tmp_path):
    manifest = tmp_path / "clips.csv"
    manifest.write_text("clip,background\ntalk.mp4,no-such-image.png\nday1/walk.mp4,blur:2\n")
    report = run_batch(archive, tmp_path / "out", IN_PROCESS, manifest=manifest)
    assert (report.done, report.failed) == (1, 1)
    assert "no-such-image.png" in next(c for c in report.clips if c["key"] == "talk.mp4")["error"]


def test_bad_config_is_refused():
    with pytest.raises(ConfigError):
        BatchConfig(runner="spark")
    with pytest.raises(ConfigError):
        BatchConfig(retries=-1)


def _copy_clip(archive, name, to):
    """An archive clip and its masks folder under another name."""
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(archive / name, to)
    shutil.copytree((archive / name).with_suffix(".masks"), to.with_suffix(".masks"))


def test_clips_a_and_a_slash_b_both_keep_their_outputs(archive, tmp_path):
    # Issue 18.6: both were reported done while the commit of out/a deleted out/a/b.
    source, output = tmp_path / "in", tmp_path / "out"
    _copy_clip(archive, "day1/walk.mp4", source / "a.mp4")
    _copy_clip(archive, "day1/deep/run.mp4", source / "a" / "b.mp4")
    report = run_batch(source, output, IN_PROCESS)
    assert (report.done, report.failed) == (2, 0)
    assert (output / "a.mp4" / "a.vmat.mp4").is_file()
    assert (output / "a" / "b.mp4" / "b.vmat.mp4").is_file()


def test_a_manifest_output_cannot_take_the_reports_name(archive, tmp_path):
    # Issue 18.6: the clip's output folder took the report's place.
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"clip": "talk.mp4", "output": "vmat-batch-report.json"}) + "\n")
    with pytest.raises(ConfigError, match="reserved for the batch job's own file"):
        run_batch(archive, tmp_path / "out", IN_PROCESS, manifest=manifest)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("output", ["link/talk", "link"])
def test_a_link_inside_the_output_folder_cannot_lead_out_of_it(archive, tmp_path, output):
    # Issue 18.6: a symbolic link already inside the output tree let a manifest output land outside it.
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(outside)
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"clip": "talk.mp4", "output": output}) + "\n")
    report = run_batch(archive, tmp_path / "out", IN_PROCESS, manifest=manifest)
    assert report.failed == 1 and "symbolic link" in report.clips[0]["error"]
    assert list(outside.iterdir()) == []
    assert (tmp_path / "out" / "link").is_symlink()


def test_a_clip_replaced_after_it_was_done_is_redone(archive, tmp_path):
    # Issue 18.6: the resume key ignored the source file, so the new clip was skipped.
    source, output = tmp_path / "in", tmp_path / "out"
    _copy_clip(archive, "day1/walk.mp4", source / "walk.mp4")
    assert run_batch(source, output, IN_PROCESS).done == 1
    assert run_batch(source, output, IN_PROCESS).skipped == 1
    shutil.copy(archive / "day1" / "deep" / "run.mp4", source / "walk.mp4")  # another clip, same masks
    report = run_batch(source, output, IN_PROCESS)
    assert (report.done, report.skipped) == (1, 0)


def test_the_resume_key_follows_the_source_the_files_named_the_version_and_the_weights(tmp_path, monkeypatch):
    import vmat
    from vmat.pipelines.batch import _fingerprint
    from vmat.pipelines.clips import ClipJob
    from vmat import weights

    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"x" * 10)
    checkpoint = tmp_path / "depth.safetensors"
    checkpoint.write_bytes(b"w")
    job = ClipJob("c.mp4", clip)
    config = RunConfig(depth_checkpoint=str(checkpoint))
    seen = {_fingerprint(job, config)}
    assert _fingerprint(job, config) in seen  # stable

    def changed() -> bool:
        fingerprint = _fingerprint(job, config)
        new = fingerprint not in seen
        seen.add(fingerprint)
        return new

    stamp = clip.stat()
    os.utime(clip, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1))  # same bytes, touched: may be another clip
    assert changed()
    clip.write_bytes(b"x" * 11)
    assert changed()
    checkpoint.write_bytes(b"ww")
    assert changed()
    monkeypatch.setattr(vmat, "__version__", "99.0")
    assert changed()
    for name, edit in (("same", b""), ("edited", b"!")):
        copy = tmp_path / name
        shutil.copytree(weights.FOLDER, copy, ignore=shutil.ignore_patterns("__pycache__"))
        shipped = copy / "mpmat_small.safetensors"
        shipped.write_bytes(shipped.read_bytes() + edit)
        monkeypatch.setattr(weights, "FOLDER", copy)
        assert changed() == (name == "edited")
