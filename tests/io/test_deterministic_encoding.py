"""The same frames encode to the same bytes: on machines with other CPU counts, and in every container."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vmat.cli.main import main
from vmat.io import VideoWriter

REPO = Path(__file__).resolve().parents[2]

# Writes 12 frames of a moving smooth picture; big enough (320x240) that x264 would pick a thread count
# from the CPUs it may use.
_ENCODE = """
import sys
import cv2
import cv2
import numpy as np
from vmat.io import VideoWriter
rng = np.random.default_rng(5)
base = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (320, 240))
with VideoWriter(sys.argv[1], fps=25, **eval(sys.argv[2])) as writer:
    for index in range(12):
        image = np.roll(base, 4 * index, axis=1)
        writer.write(image[..., 0] if writer.format.channels == 1 else image)
"""


def _encode_on(cpus: set[int], path: Path, options: str = "{}") -> bytes:
    """Encode the frames in a child process that may only run on ``cpus``; the file's bytes."""
    subprocess.run(
        [sys.executable, "-c", _ENCODE, str(path), options],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
        check=True,
        timeout=120,
    )
    return path.read_bytes()


@pytest.fixture()
def cpus():
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        pytest.skip("needs at least two CPUs to compare encodes on one and on all of them")
    return available


@pytest.mark.parametrize("name", ["h264.mp4", "matte.mp4", "vp9.webm"])
def test_encodes_on_one_cpu_and_on_all_are_identical(tmp_path, cpus, name):
    options = "{'format': 'matte'}" if name.startswith("matte") else "{}"
    one = _encode_on({cpus[0]}, tmp_path / f"one-{name}", options)
    every = _encode_on(set(cpus), tmp_path / f"all-{name}", options)
    assert one == every


def test_fast_encode_lets_the_encoder_choose_its_threads(tmp_path, cpus):
    # The trade --fast-encode makes: x264 runs one thread per CPU share, so the bytes follow the machine.
    one = _encode_on({cpus[0]}, tmp_path / "one.mp4", "{'deterministic': False}")
    every = _encode_on(set(cpus), tmp_path / "all.mp4", "{'deterministic': False}")
    assert one != every


@pytest.mark.parametrize("name, format", [("a.mkv", "h264"), ("a.webm", "vp9-alpha"), ("a.mov", "prores4444"), ("a.mp4", "h264")])
def test_two_encodes_in_one_process_are_identical(tmp_path, name, format):
    rng = np.random.default_rng(6)
    frames = [rng.integers(0, 256, (32, 48, 4), dtype=np.uint8) for _ in range(5)]
    written = []
    for attempt in range(2):
        path = tmp_path / str(attempt) / name
        path.parent.mkdir()
        with VideoWriter(path, fps=10, format=format) as writer:
            for frame in frames:
                writer.write(frame)
        written.append(path.read_bytes())
    assert written[0] == written[1]


def test_convert_takes_fast_encode(tmp_path):
    source = tmp_path / "s.mp4"
    with VideoWriter(source, fps=10) as writer:
        for value in range(3):
            writer.write(np.full((32, 48, 3), 80 * value, np.uint8))
    assert main(["-q", "convert", "--fast-encode", str(source), "-o", str(tmp_path / "o.mp4")]) == 0
    assert (tmp_path / "o.mp4").stat().st_size > 0


def test_repeated_encodes_of_a_textured_pan_are_identical(tmp_path):
    # x264's AVX-512 routines encoded such a pan differently from one time to the next, depending on what
    # the encodes before it left in memory (on an AVX-512 CPU; elsewhere this passes either way): the writer
    # pins x264's instruction set.
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (320, 400, 3)).astype(np.float32), (0, 0), 3.0)
    texture = 255 * (texture - texture.min()) / (texture.max() - texture.min())
    stripes = (np.sin(np.arange(400) / 2.5) > 0)[None, :, None] * 60.0
    picture = np.clip(0.7 * texture + stripes, 0, 255).astype(np.uint8)
    frames = [cv2.warpAffine(picture, np.float32([[1, 0, -2.3 * i], [0, 1, -0.7 * i]]), (320, 240)) for i in range(6)]
    written = set()
    for attempt in range(12):
        # Another clip first, of another size, so that each encode of the pan follows different ones.
        with VideoWriter(tmp_path / "other.mp4", fps=30) as writer:
            for _ in range(3):
                writer.write(rng.integers(0, 256, (240 + 16 * attempt, 320 + 32 * attempt, 3), dtype=np.uint8))
        path = tmp_path / f"{attempt}.mp4"
        with VideoWriter(path, fps=30) as writer:
            for frame in frames:
                writer.write(frame)
        written.add(path.read_bytes())
    assert len(written) == 1
