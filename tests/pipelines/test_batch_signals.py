"""Issue 18.5: SIGINT and SIGTERM stop an in-process batch within seconds, mid-clip, and leave it clean.

Before, Ctrl-C went on through every remaining clip and wrote no report. The clip being processed here
takes tens of seconds, so stopping within ``STOP_LIMIT`` means it was stopped mid-clip.
"""

from __future__ import annotations

import signal

import pytest

from tests.pipelines.stopping import (
    assert_stopped_cleanly,
    long_archive,
    short_scratch,
    signal_and_wait,
    start_batch,
    wait_until_mid_clip,
)

# Generous for a loaded 2-core machine; the first clip alone takes about 25 s there.
STOP_LIMIT = 10.0


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    return long_archive(tmp_path_factory.mktemp("long"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_in_process_batch_stops_within_seconds(long_clips, tmp_path, signum):
    output = tmp_path / "out"
    with short_scratch() as scratch:
        process = start_batch(long_clips, output, scratch, "--runner", "inprocess")
        wait_until_mid_clip(process, output)
        seconds, err = signal_and_wait(process, signum)
        assert seconds < STOP_LIMIT, err
        assert_stopped_cleanly(output, scratch, err, process.returncode, signum)


@pytest.mark.ray
@pytest.mark.parametrize(("signum", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_ray_batch_stops_within_seconds(long_clips, tmp_path, signum, group):
    """Before, SIGTERM ended in status 134 (Ray's own handler won) and Ctrl-C in status 1, with no report
    and nothing cleaned. SIGINT goes to the whole process group, as a terminal's Ctrl-C does."""
    output = tmp_path / "out"
    with short_scratch() as scratch:
        process = start_batch(long_clips, output, scratch, "--runner", "ray", "--workers", "1")
        wait_until_mid_clip(process, output)
        seconds, err = signal_and_wait(process, signum, group=group)
        assert seconds < STOP_LIMIT + 5, err  # and Ray's shutdown
        assert_stopped_cleanly(output, scratch, err, process.returncode, signum)
