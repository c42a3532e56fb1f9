"""Small clips, layers files and checks shared by the bad-input and fuzz tests of the command line."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from vmat.cli.main import main
from vmat.io import VideoWriter, open_video
from vmat.layers import LayersWriter, LayerStack
from vmat.layers.store import source_fingerprint

REPO = Path(__file__).resolve().parents[2]


def smooth_clip(path: Path, seed: int, width: int = 48, height: int = 32, frames: int = 4) -> Path:
    """A short H.264 clip of a smooth random picture sliding sideways; another seed gives another clip."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    with VideoWriter(path, fps=10) as writer:
        for index in range(frames):
            writer.write(np.roll(base, index, axis=1))
    return path


def layers_of(clip: Path, path: Path) -> Path:
    """A layers file of ``clip``: its frames as the background and person 1 as a red box."""
    with (
        open_video(clip) as reader,
        LayersWriter(path, frame_rate=reader.info.frame_rate, source=source_fingerprint(clip)) as writer,
    ):
        for frame in reader:
            image = torch.from_numpy(frame.image).permute(2, 0, 1).float() / 255
            colour = torch.stack([image, torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand_as(image)])
            alpha = torch.zeros(2, *image.shape[1:])
            alpha[0] = 1
            alpha[1, 8:24, 10:30] = 1
            writer.write(LayerStack(colour, alpha, torch.tensor([float("inf"), 1.0]), (0, 1)), frame.time)
    return path


def edit_header(layers: Path, change) -> None:
    """Rewrite a layers file's header.json through ``change(header) -> header``."""
    header_path = layers / "header.json"
    header_path.write_text(json.dumps(change(json.loads(header_path.read_text()))))


def run_vmat(capsys, argv: list[str]) -> tuple[int, list[str]]:
    """Run the command line in this process: its exit status and its non-empty stderr lines.

    Anything but a :class:`~vmat.errors.VmatError` (a traceback, for a user) propagates and fails the test.
    """
    code = main(argv)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, lines


def fails_cleanly(capsys, argv: list[str], expected: str) -> str:
    """Assert that ``vmat argv`` exits with status 2 and one stderr line containing ``expected``; returns it."""
    code, lines = run_vmat(capsys, argv)
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"vmat {argv[0]}: error: ") and expected in lines[0], lines[0]
    return lines[0]


def run_measured(cases: dict[str, list[str]], cwd: Path) -> dict[str, tuple[int | str, list[str], float]]:
    """Run ``vmat argv`` for each case, in order, in one child process (one start-up for all): per case its
    exit status (or the exception that escaped, as text), its stderr lines and the child's peak resident
    memory in MB so far. Peak memory only grows, so a case that allocates too much shows from there on.

    The child's address space is capped (``_ADDRESS_LIMIT``), so a command that tries to allocate the
    gigabytes a bad input asks for fails fast instead of taking the machine's memory.
    """
    script = """
import contextlib, io, json, resource, sys
from vmat.cli.main import main
results = {}
for name, argv in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except BaseException as error:
            status = f"{type(error).__name__}: {error}"
    results[name] = [status, err.getvalue().splitlines(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]
print(json.dumps(results))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(cases)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)},
        preexec_fn=_cap_memory,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.splitlines()[-1])
    return {name: (status, [line for line in lines if line.strip()], peak) for name, (status, lines, peak) in results.items()}


_ADDRESS_LIMIT = 12 << 30  # torch maps a few GB of address space on import; a bomb asks for far more


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_ADDRESS_LIMIT, _ADDRESS_LIMIT))
