"""A reader or writer closed by its owner while another thread is inside FFmpeg with it (decoding ahead,
encoding behind: vmat.pipeline.stream) must not crash the process. It did: a batch stopped by SIGTERM
died of a segmentation fault when the clip's reader was closed under its decoding thread.

The race is run many times in a child process, so that a crash fails the test instead of killing pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from vmat.io import write_test_pattern_clip

RACES = 40

READER_RACE = """
import sys, threading, time
from vmat.io import open_video
outcomes = set()
for attempt in range({races}):
    reader = open_video(sys.argv[1])
    started, outcome = threading.Event(), []
    def read():
        try:
            for _ in reader:
                started.set()
            outcome.append("finished")
        except ValueError as error:
            assert "closed while it was being read" in str(error), error
            outcome.append("stopped")
    thread = threading.Thread(target=read)
    thread.start()
    started.wait()
    time.sleep(0.0005 * (attempt % 5))
    reader.close()
    thread.join()
    outcomes.update(outcome)
print(sorted(outcomes))
"""

WRITER_RACE = """
import sys, threading, time
import numpy as np
from vmat.errors import ConfigError
from vmat.io import VideoWriter
image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
outcomes = set()
for attempt in range({races}):
    writer = VideoWriter(f"{{sys.argv[1]}}/out{{attempt}}.mp4")
    started, outcome = threading.Event(), []
    def write():
        try:
            for _ in range(200):
                writer.write(image)
                started.set()
            outcome.append("finished")
        except ConfigError as error:
            assert "already closed" in str(error), error
            outcome.append("stopped")
    thread = threading.Thread(target=write)
    thread.start()
    started.wait()
    time.sleep(0.0005 * (attempt % 5))
    writer.abort()
    thread.join()
    outcomes.update(outcome)
print(sorted(outcomes))
"""


def run_race(script: str, argument: str) -> str:
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script.format(races=RACES)), argument],
        capture_output=True, text=True, timeout=300,
    )
    assert child.returncode == 0, f"exit status {child.returncode}: {child.stderr[-2000:]}"
    return child.stdout.strip()


def test_closing_a_reader_while_a_thread_decodes_stops_the_thread(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_test_pattern_clip(clip, width=640, height=480, num_frames=120, audio=False)
    assert run_race(READER_RACE, str(clip)) == "['stopped']"


def test_aborting_a_writer_while_a_thread_encodes_stops_the_thread(tmp_path):
    assert run_race(WRITER_RACE, str(tmp_path)) == "['stopped']"
    assert not list(tmp_path.iterdir())  # every aborted output was removed
