"""A batch job's record of its clips, kept in the output folder so that a killed job can be resumed.

``vmat-batch.json`` maps each clip's key (its output folder) to its state: ``pending``, ``running``,
``done``, ``failed`` or ``interrupted`` (by a signal), with the error, the attempts so far, the frames and
the seconds of the last attempt (and each stage's share of them), and a fingerprint of the clip's source and
options (a clip whose source or options changed is redone). The file is rewritten atomically after every
change, so it is never half-written, whenever the driver is killed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vmat.errors import OutputError
from vmat.io.atomic import atomic_output

STATE_FILE = "vmat-batch.json"
REPORT_FILE = "vmat-batch-report.json"
LOCK_FILE = ".vmat-batch.lock"
# Names of the job's own files, which no clip's output may take.
RESERVED_NAMES = frozenset({STATE_FILE, REPORT_FILE, LOCK_FILE})
# 2: clips' output folders keep the clip's extension (walk.mp4/), fingerprints stamp the source file.
STATE_VERSION = 2
STATES = ("pending", "running", "done", "failed", "interrupted")

# What vmat.io.atomic names unfinished outputs (".walk.partial-1a2b3c4d.mp4"): left over from a killed run.
_PARTIAL = re.compile(r"^\..*\.partial-[0-9a-f]{8}(\.[^/]*)?$")


@dataclass
class ClipState:
    """Where one clip of the job stands."""

    source: str
    fingerprint: str = ""
    state: str = "pending"
    error: str | None = None
    attempts: int = 0
    frames: int = 0
    seconds: float = 0.0
    # Seconds per stage of the last attempt (Ray: summed over the actors, which work at the same time).
    stage_seconds: dict[str, float] = field(default_factory=dict)


class JobState:
    """The job's clip states, saved to ``output_dir/vmat-batch.json`` after every change (thread-safe)."""

    def __init__(self, output_dir: str | os.PathLike[str]) -> None:
        self.path = Path(output_dir) / STATE_FILE
        self.clips: dict[str, ClipState] = {}
        self._lock = threading.Lock()
        if self.path.exists():
            self.clips = _load(self.path)

    def is_done(self, key: str, fingerprint: str) -> bool:
        clip = self.clips.get(key)
        return clip is not None and clip.state == "done" and clip.fingerprint == fingerprint

    def update(self, key: str, **changes: Any) -> ClipState:
        """Change ``key``'s fields (creating it when new) and save the job at once."""
        with self._lock:
            clip = self.clips.setdefault(key, ClipState(source=str(changes.get("source", ""))))
            for name, value in changes.items():
                setattr(clip, name, value)
            self._save()
            return ClipState(**asdict(clip))

    def _save(self) -> None:
        data = {"version": STATE_VERSION, "clips": {key: asdict(clip) for key, clip in sorted(self.clips.items())}}
        write_json(self.path, data)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (readers see the old file or the new one, never a mix)."""
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


@contextmanager
def job_lock(output_dir: Path) -> Iterator[None]:
    """Hold the output folder for one driver; refuse a second one. The OS drops the lock if the driver dies."""
    with open(output_dir / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"another batch job is writing to {str(output_dir)!r}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_partials(output_dir: Path) -> list[Path]:
    """Remove the unfinished outputs a killed driver left under ``output_dir``; return what was removed.

    Call it only while holding :func:`job_lock`, so that no running job's temporaries are touched.
    """
    removed = []
    for folder, subfolders, files in os.walk(output_dir):
        for name in [*subfolders, *files]:
            if _PARTIAL.match(name):
                path = Path(folder) / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
        subfolders[:] = [name for name in subfolders if not _PARTIAL.match(name)]
    return removed


def _load(path: Path) -> dict[str, ClipState]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = data.get("version")
        if isinstance(version, int) and version < STATE_VERSION:
            raise OutputError(
                f"job file {str(path)!r} was written by an earlier vmat, which named output folders differently; "
                "remove it (and those outputs) to start the job afresh"
            )
        if version != STATE_VERSION:
            raise ValueError("version")
        return {key: ClipState(**fields) for key, fields in data["clips"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise OutputError(f"job file {str(path)!r} is not a vmat batch job file; remove it to start the job afresh") from None
