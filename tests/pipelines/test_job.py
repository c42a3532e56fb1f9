from __future__ import annotations

import json

import pytest

from vmat.pipelines.job import STATE_FILE, JobState, job_lock, remove_partials
from vmat.errors import OutputError


def test_state_is_saved_on_every_change_and_reloaded(tmp_path):
    state = JobState(tmp_path)
    state.update("a/b", source="in/b.mp4", fingerprint="f1", state="running", attempts=1)
    saved = json.loads((tmp_path / STATE_FILE).read_text())
    assert saved["clips"]["a/b"]["state"] == "running"
    state.update("a/b", state="done", frames=7)
    again = JobState(tmp_path)
    assert again.clips["a/b"].frames == 7
    assert again.is_done("a/b", "f1")
    assert not again.is_done("a/b", "f2")  # options changed: redo
    assert not again.is_done("other", "f1")
    assert not any(path.name.startswith(".") for path in tmp_path.iterdir())  # no temporaries left


def test_a_damaged_job_file_is_reported(tmp_path):
    (tmp_path / STATE_FILE).write_text("{not json")
    with pytest.raises(OutputError, match="not a vmat batch job file"):
        JobState(tmp_path)


def test_second_driver_is_refused(tmp_path):
    with job_lock(tmp_path):
        with pytest.raises(OutputError, match="another batch job"):
            with job_lock(tmp_path):
                pass
    with job_lock(tmp_path):  # released
        pass


def test_only_unfinished_outputs_are_removed(tmp_path):
    keep = [tmp_path / "a" / "walk", tmp_path / "a" / "walk" / "walk.vmat.mp4", tmp_path / ".vmat-batch.lock"]
    stale = [tmp_path / "a" / ".walk.partial-0123abcd", tmp_path / "a" / "walk" / ".walk.vmat.partial-89abcdef.mp4"]
    keep[0].mkdir(parents=True)
    keep[1].write_bytes(b"v")
    keep[2].write_bytes(b"")
    stale[0].mkdir()
    (stale[0] / "walk.vlayers").mkdir()
    stale[1].write_bytes(b"half")
    removed = remove_partials(tmp_path)
    assert sorted(removed) == sorted(stale)
    assert all(path.exists() for path in keep)
    assert not any(path.exists() for path in stale)


def test_a_job_file_of_an_earlier_vmat_says_so(tmp_path):
    (tmp_path / STATE_FILE).write_text(json.dumps({"version": 1, "clips": {}}))
    with pytest.raises(OutputError, match="earlier vmat, which named output folders differently"):
        JobState(tmp_path)


def test_an_interrupted_clip_is_not_done(tmp_path):
    state = JobState(tmp_path)
    state.update("a.mp4", source="a.mp4", fingerprint="f", state="interrupted")
    assert not JobState(tmp_path).is_done("a.mp4", "f")
