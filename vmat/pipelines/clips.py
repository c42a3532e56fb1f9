"""Which clips a batch job processes, where each one's outputs go, and its own options.

A job's input is a folder (searched recursively for media files), a glob pattern, or a manifest (CSV or
JSON Lines) with one clip per row: ``clip`` (the path, relative to the input folder) and any per-clip
options, named like the fields of :class:`vmat.pipeline.run.RunConfig` or of its edit
(:class:`vmat.pipeline.edits.EditSpec`: ``background``, ``remove``, ``reorder``), plus an optional
``output`` (the clip's output folder, relative to the job's output folder).

Each clip's outputs go to a folder named like the clip at its place in the input tree
(``in/a/b/walk.mp4`` -> ``out/a/b/walk.mp4/``): two clips never share a folder, nor does one clip's
folder hold another's (``a.mp4`` and ``a/b.mp4`` go to ``out/a.mp4/`` and ``out/a/b.mp4/``). Output names
can never leave the output folder (absolute names and ``..`` are refused), never take the job's own file
names (``vmat-batch.json`` ...) and are never hidden (vmat's temporaries are). Hidden folders are not
searched for clips.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from vmat.errors import ConfigError, InputNotFoundError
from vmat.io.metadata import VIDEO_SUFFIXES
from vmat.pipeline.config_file import apply_options, coerce_options
from vmat.pipeline.run import RunConfig
from vmat.pipelines.job import RESERVED_NAMES

MANIFEST_SUFFIXES = frozenset({".csv", ".jsonl"})
# A clip's instance masks, when no option names them and the folder exists: next to the clip
# (walk.mp4 -> walk.masks/). Without one the run finds its people itself.
MASKS_SUFFIX = ".masks"


@dataclass(frozen=True)
class ClipJob:
    """One clip of a batch: its ``key`` (its output folder relative to the job's output, POSIX style),
    where the clip is, and the options that differ from the job's."""

    key: str
    source: Path
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def config(self, base: RunConfig) -> RunConfig:
        """The job's run configuration with this clip's options applied."""
        config = apply_options(base, self.options)
        if config.masks_folder is None:
            masks = self.source.with_suffix(MASKS_SUFFIX)
            if masks.is_dir():
                config = dataclasses.replace(config, masks_folder=str(masks))
        return config


def find_clips(source: str | os.PathLike[str], manifest: str | os.PathLike[str] | None = None) -> list[ClipJob]:
    """The clips of a job, sorted by key.

    ``source`` is a folder, a glob pattern or a manifest file; with ``manifest`` given, ``source`` is the
    folder its clip paths are relative to. Raises :class:`ConfigError` for a manifest that names an output
    outside the output folder, an unknown option or two clips with the same output folder.
    """
    text = os.fspath(source)
    path = Path(text)
    if manifest is not None:
        if not path.is_dir():
            raise InputNotFoundError(f"input folder {text!r} does not exist")
        jobs = _read_manifest(Path(manifest), path)
    elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        jobs = _read_manifest(path, path.parent)
    elif path.is_dir():
        jobs = [_job(clip, path) for clip in sorted(path.rglob("*")) if _is_video(clip) and not _is_hidden(clip, path)]
    elif glob.has_magic(text):
        root = _glob_root(text)
        jobs = [_job(Path(clip), root) for clip in sorted(glob.glob(text, recursive=True)) if _is_video(Path(clip))]
    elif path.is_file():
        jobs = [_job(path, path.parent)]
    else:
        raise InputNotFoundError(f"input {text!r} is not a folder, a glob pattern matching clips, or a manifest")
    _check_unique(jobs)
    return sorted(jobs, key=lambda job: job.key)


def safe_key(name: str) -> str:
    """``name`` as a relative POSIX path inside the output folder; refuses absolute names, ``..``, hidden
    names (vmat's temporaries are hidden) and the job's own file names."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or Path(name).is_absolute() or ".." in posix.parts or not posix.parts or posix == PurePosixPath("."):
        raise ConfigError(f"output name {name!r} must be a relative path inside the output folder, without '..'")
    hidden = [part for part in posix.parts if part.startswith(".")]
    if hidden:
        raise ConfigError(f"output name {name!r} has a hidden part {hidden[0]!r}: vmat keeps its temporaries under hidden names")
    if posix.parts[0] in RESERVED_NAMES:
        raise ConfigError(f"output name {name!r} is reserved for the batch job's own file {posix.parts[0]!r}")
    return posix.as_posix()


def _is_video(path: Path) -> bool:
    # Hidden files include vmat's own unfinished outputs (".name.partial-...").
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _job(clip: Path, root: Path, options: dict[str, Any] | None = None, output: str | None = None) -> ClipJob:
    if output is None:
        try:
            relative = clip.resolve().relative_to(root.resolve())
        except ValueError:
            relative = Path(clip.name)
        output = relative.as_posix()
    return ClipJob(safe_key(output), clip, options or {})


def _glob_root(pattern: str) -> Path:
    """The folder above a pattern's first wildcard: outputs mirror the tree below it."""
    fixed = list(itertools.takewhile(lambda part: not glob.has_magic(part), Path(pattern).parts))
    return Path(*fixed) if fixed else Path(".")


def _check_unique(jobs: list[ClipJob]) -> None:
    """Two clips may not share an output folder, nor may one's folder hold another's (committing the outer
    one would replace the inner one)."""
    seen: dict[str, Path] = {}
    for job in jobs:
        if job.key in seen:
            raise ConfigError(f"clips {str(seen[job.key])!r} and {str(job.source)!r} would share the output folder {job.key!r}")
        seen[job.key] = job.source
    for key, source in seen.items():
        parts = key.split("/")
        for depth in range(1, len(parts)):
            outer = "/".join(parts[:depth])
            if outer in seen:
                raise ConfigError(
                    f"the output folder {key!r} of clip {str(source)!r} would be inside {outer!r}, the output folder of "
                    f"clip {str(seen[outer])!r}: give one of them another 'output'"
                )


# --- manifests -------------------------------------------------------------------------------------------

def _read_manifest(manifest: Path, root: Path) -> list[ClipJob]:
    if not manifest.is_file():
        raise InputNotFoundError(f"manifest {str(manifest)!r} does not exist")
    suffix = manifest.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise ConfigError(f"manifest {str(manifest)!r} must be a .csv or .jsonl file")
    rows = _csv_rows(manifest) if suffix == ".csv" else _jsonl_rows(manifest)
    jobs = []
    for line, row in rows:
        where = f"{manifest.name} row {line}"
        row = {name: value for name, value in row.items() if value not in ("", None)}
        if "clip" not in row:
            raise ConfigError(f"{where} has no 'clip' column naming the clip")
        clip = Path(str(row.pop("clip")))
        output = row.pop("output", None)
        # CSV cells are text to parse; JSON values must have their option's type already.
        options = coerce_options(row, where, text=suffix == ".csv")
        jobs.append(_job(clip if clip.is_absolute() else root / clip, root, options, None if output is None else str(output)))
    return jobs


def _csv_rows(manifest: Path):
    with manifest.open(newline="", encoding="utf-8") as handle:
        yield from enumerate(csv.DictReader(handle), start=2)


def _jsonl_rows(manifest: Path):
    with manifest.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError:
                raise ConfigError(f"{manifest.name} line {line} is not valid JSON") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{manifest.name} line {line} must be a JSON object")
            yield line, row
