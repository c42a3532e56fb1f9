"""The named benchmark suites: fixed seeds in the ``eval`` namespace, generated on demand and cached.

Every suite clip is named ``<level>-<camera>-<n>`` and its seed is derived from that name, so the same
clip is shared by every suite that lists it (``standard`` = ``easy`` + ``medium`` + ``hard``). Clips use
the ``eval`` seed namespace; training must use ``train`` (the default of :class:`SceneConfig`), which
cannot produce the same scene.

========  ==================================  ===============================
suite     clips                               size
========  ==================================  ===============================
smoke     one static clip per level           160x96, 6 frames (for tests)
easy      2 static + 2 panning, easy          320x192, 24 frames at 24 fps
medium    2 static + 2 panning, medium        320x192, 24 frames
hard      2 static + 2 panning, hard          320x192, 24 frames
standard  easy + medium + hard (12 clips)     320x192, 24 frames
quick     standard's clips 0 (6 clips)        320x192, 24 frames (same clips, half the time)
hd        one static clip per level           1280x720, 12 frames, detailed people
========  ==================================  ===============================

``hd`` has people 4x larger (240-560 px tall) with the detailed look (:class:`SceneConfig` ``detailed``:
thick soft hair strands and a stray-hair halo, coats and skirts, some sheer, cuffs); the other suites keep
the original mannequins, so their clips and scores stay what they were.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from vmat.errors import ConfigError
from vmat.progress import progress
from vmat.synthetic.scene import GENERATOR_VERSION, SceneConfig, SyntheticScene
from vmat.synthetic.storage import MANIFEST, SyntheticClip, write_clip


@dataclass(frozen=True)
class ClipSpec:
    """One clip of a suite: its folder name and the scene it holds."""

    name: str
    config: SceneConfig


def derive_seed(name: str) -> int:
    """A stable 31-bit seed from a clip name."""
    return int.from_bytes(hashlib.sha256(f"vmat-suite/{name}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def _clips(levels: tuple[str, ...], cameras: tuple[str, ...], per_camera: int, detailed: bool = False, **size) -> list[ClipSpec]:
    specs = []
    for level in levels:
        for camera in cameras:
            for n in range(per_camera):
                name = (
                    f"{level}-{camera}-{n}"
                    + ("-" + "x".join(str(v) for v in size.values()) if size else "")
                    + ("-detailed" if detailed else "")
                )
                config = SceneConfig(
                    level=level, camera=camera, seed=derive_seed(name), namespace="eval", detailed=detailed, **size
                )
                specs.append(ClipSpec(name, config))
    return specs


LEVEL_NAMES = ("easy", "medium", "hard")
SUITES: dict[str, list[ClipSpec]] = {
    "smoke": _clips(LEVEL_NAMES, ("static",), 1, width=160, height=96, num_frames=6),
    **{level: _clips((level,), ("static", "pan"), 2) for level in LEVEL_NAMES},
    "standard": _clips(LEVEL_NAMES, ("static", "pan"), 2),
    "quick": _clips(LEVEL_NAMES, ("static", "pan"), 1),
    "hd": _clips(LEVEL_NAMES, ("static",), 1, detailed=True, width=1280, height=720, num_frames=12),
}


def suite_specs(name: str) -> list[ClipSpec]:
    if name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}: choose one of {', '.join(SUITES)}.")
    return SUITES[name]


def _is_current(folder: Path, spec: ClipSpec) -> bool:
    path = folder / MANIFEST
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    return manifest.get("generator_version") == GENERATOR_VERSION and manifest.get("config") == spec.config.to_json()


def occlusion_by_level(clips: list[SyntheticClip]) -> dict[str, dict[str, float]]:
    """Per level, the measured per-frame occlusion over all frames of ``clips``: min, mean, max and frame count."""
    values: dict[str, list[float]] = {}
    for clip in clips:
        values.setdefault(clip.level, []).extend(f["occlusion"] for f in clip.manifest["frames"])
    return {
        level: {"min": min(v), "mean": sum(v) / len(v), "max": max(v), "frames": len(v)}
        for level, v in values.items()
    }


def describe_occlusion(clips: list[SyntheticClip]) -> str:
    """One line per level, e.g. ``medium: occlusion per frame 0.08-0.44 (mean 0.20) over 96 frames``."""
    return "\n".join(
        f"{level}: occlusion per frame {s['min']:.2f}-{s['max']:.2f} (mean {s['mean']:.2f}) over {s['frames']} frames"
        for level, s in occlusion_by_level(clips).items()
    )


def ensure_suite(name: str, root: str | Path, *, edits: bool = True, preview: bool = False) -> list[SyntheticClip]:
    """The suite's clips under ``root``, generating any that are missing or stale."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    clips = []
    for spec in progress(suite_specs(name), desc=f"suite {name}", unit="clip"):
        folder = root / spec.name
        if not _is_current(folder, spec):
            write_clip(SyntheticScene(spec.config), folder, edits=edits, preview=preview)
        clips.append(SyntheticClip(folder))
    return clips
