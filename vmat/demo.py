"""The quick start's main job, on a clip vmat generates, so that it runs on a fresh machine with no footage."""

from __future__ import annotations

from pathlib import Path

from vmat.errors import OutputError
from vmat.io import write_test_pattern_clip
from vmat.io.transcode import transcode


def run_demo(folder: Path) -> list[str]:
    """Write ``folder/input.mp4`` (a generated clip with audio) and the main job's outputs beside it.

    Returns one summary line per output. Today the main job is vmat's decode -> encode path with the audio
    copied; the model stages join it as they land (see the README's status table).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output folder {str(folder)!r}: {error.strerror}") from None
    source = write_test_pattern_clip(folder / "input.mp4", width=640, height=360, num_frames=90, fps=30)
    summary = transcode(source, folder / "output.mp4")
    return [f"wrote {source} (generated input)", summary.describe()]
