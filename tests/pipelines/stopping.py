"""Running ``vmat batch`` as its own process, signalling it mid-clip, and checking what it left."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vmat.pipelines.job import REPORT_FILE, STATE_FILE

from tests.pipelines.archive import pattern_clip_with_audio


def long_archive(root: Path) -> Path:
    """A clip that takes tens of seconds (240 frames), then one that is never reached before the signal."""
    pattern_clip_with_audio(root / "a-long.mp4", frames=240)
    pattern_clip_with_audio(root / "b-short.mp4")
    return root


@contextmanager
def short_scratch() -> Iterator[Path]:
    """An empty temporary folder with a short path: Ray's Unix socket paths below it must stay short."""
    folder = Path(tempfile.mkdtemp(prefix="vb", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def start_batch(source: Path, output: Path, scratch: Path, *options: str) -> subprocess.Popen:
    """``vmat -q batch`` in a new session (a terminal's Ctrl-C reaches the whole group), its temporary
    files in the existing folder ``scratch``."""
    environment = {**os.environ, "TMPDIR": str(scratch), "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}
    command = [sys.executable, "-m", "vmat", "-q", "batch", str(source), str(output), *options]
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def states(output: Path) -> dict[str, str]:
    try:
        return {key: clip["state"] for key, clip in json.loads((output / STATE_FILE).read_text())["clips"].items()}
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def wait_until_mid_clip(process: subprocess.Popen, output: Path, timeout: float = 180.0) -> None:
    """Until the first clip is being written (its hidden temporary folder exists), then a second more."""
    deadline = time.monotonic() + timeout
    while not (states(output).get("a-long.mp4") == "running" and list(output.glob(".a-long.partial-*"))):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the batch never started its first clip"
        time.sleep(0.05)
    time.sleep(1.0)


def signal_and_wait(process: subprocess.Popen, signum: int, *, group: bool = False, timeout: float = 120.0) -> tuple[float, str]:
    """Send ``signum`` (to the whole process group with ``group``); return the seconds until the process
    ended and its stderr."""
    sent = time.monotonic()
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return time.monotonic() - sent, err


def assert_stopped_cleanly(output: Path, scratch: Path, err: str, returncode: int, signum: int) -> None:
    """Exit status 128 + signal, one line, every unfinished clip recorded as interrupted in the job file and
    the report, no temporary output, no scratch folder and no process of the job left."""
    name = signal.Signals(signum).name
    assert returncode == 128 + signum, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vmat batch: stopped by {name}: 0 done"), err
    assert states(output) == {"a-long.mp4": "interrupted", "b-short.mp4": "interrupted"}
    report = json.loads((output / REPORT_FILE).read_text())
    assert (report["stopped_by"], report["done"], report["interrupted"]) == (name, 0, 2)
    assert sorted(clip["state"] for clip in report["clips"]) == ["interrupted", "interrupted"]
    assert not [path for path in output.rglob("*") if ".partial-" in path.name]
    assert not (output / "a-long.mp4").exists()
    assert list(scratch.iterdir()) == []
    # Ray's processes are told to stop when it shuts down; the last ones may take a moment to exit.
    deadline = time.monotonic() + 10
    while processes_mentioning(scratch) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_mentioning(scratch)


def processes_mentioning(path: Path) -> list[int]:
    """Processes whose command line names ``path`` (Ray's processes name their session folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(path) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
