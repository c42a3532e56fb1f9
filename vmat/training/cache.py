"""The training-data cache: train-namespace synthetic clips rendered once into compact shards.

One shard per clip, ``clip-NNNNN.npz``, compressed (person layers are mostly empty: a 12-frame 160x96 clip
takes about 1 MB instead of 5, and reads in about 10 ms)::

    image        (F, H, W, 3)    uint8  the composite frames
    background   (F, H, W, 3)    uint8  the background plate each frame shows
    layer_alpha  (F, N, H, W)    uint8  each person's own (amodal) coverage, quantised to 1/255
    foreground   (F, N, H, W, 3) uint8  each person's straight colour, 0 where the layer is empty
    order        (F, N)          int64  layer indices nearest first
    instance_depth (F, N)        float32 metres of each person
    background_depth (H, W)      float32 metres of the ground and backdrop (the same every frame)

Visible mattes and the depth map are not stored: they follow exactly from ``layer_alpha``, ``order`` and
the depths (front-to-back compositing, :mod:`vmat.synthetic.compose`), so a person pasted in later
(:mod:`vmat.training.compositing`) stays consistent with them. Clips cycle through the levels (easy, medium, hard)
and cameras (static, pan); their seeds derive from the cache seed in the ``train`` namespace, which never yields
an evaluation scene.

Building is streamed (one clip in memory at a time), atomic per shard and resumable: a shard already on
disk is kept. ``manifest.json`` records the settings and every finished clip's seed, level and camera.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vmat.errors import ConfigError, OutputError
from vmat.io.atomic import atomic_output
from vmat.progress import progress
from vmat.synthetic import SceneConfig, SyntheticScene
from vmat.synthetic.scene import GENERATOR_VERSION

MANIFEST = "manifest.json"
CACHE_FORMAT = 1
LEVEL_CYCLE = ("easy", "medium", "hard")
CAMERA_CYCLE = ("static", "pan")
# A seed whose scene cannot meet its level's occlusion range is replaced by the next derived one.
SEED_TRIES = 8


@dataclass(frozen=True)
class CacheSettings:
    """What a cache holds; two builds with equal settings produce identical shards."""

    clips: int = 48
    frames_per_clip: int = 12
    width: int = 160
    height: int = 96
    seed: int = 0
    generator_version: int = GENERATOR_VERSION
    format: int = CACHE_FORMAT


def shard_name(index: int) -> str:
    return f"clip-{index:05d}.npz"


def clip_plan(index: int) -> tuple[str, str]:
    """Level and camera of clip ``index``: every level with both cameras within six consecutive clips."""
    return LEVEL_CYCLE[index % 3], CAMERA_CYCLE[(index // 3) % 2]


def clip_seed(index: int, seed: int, attempt: int = 0) -> int:
    """A 31-bit scene seed for clip ``index`` of a cache built with ``seed``."""
    return int(np.random.SeedSequence([seed, index, attempt]).generate_state(1)[0] & 0x7FFFFFFF)


def _read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise ConfigError(f"training cache manifest {str(path)!r} is not valid JSON; delete the folder to rebuild it.") from None


def _write_manifest(folder: Path, settings: CacheSettings, clips: list[dict]) -> None:
    with atomic_output(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps({"settings": asdict(settings), "clips": clips}, indent=1))


def _render_clip(index: int, settings: CacheSettings) -> tuple[dict, dict]:
    level, camera = clip_plan(index)
    for attempt in range(SEED_TRIES):
        seed = clip_seed(index, settings.seed, attempt)
        config = SceneConfig(
            level=level, camera=camera, width=settings.width, height=settings.height,
            num_frames=settings.frames_per_clip, seed=seed, namespace="train",
        )
        try:
            scene = SyntheticScene(config)
            break
        except ConfigError:
            continue
    else:
        raise ConfigError(
            f"no {level} scene of {settings.frames_per_clip} frames could be placed for clip {index}; use more frames per clip."
        )
    people = len(scene.people)
    shape = (settings.frames_per_clip, settings.height, settings.width)
    arrays: dict[str, np.ndarray] = {
        "image": np.zeros((*shape, 3), np.uint8),
        "background": np.zeros((*shape, 3), np.uint8),
        "layer_alpha": np.zeros((shape[0], people, *shape[1:]), np.uint8),
        "foreground": np.zeros((shape[0], people, *shape[1:], 3), np.uint8),
        "order": np.zeros((shape[0], people), np.int64),
        "instance_depth": np.zeros((shape[0], people), np.float32),
    }
    for frame in scene.frames():
        f = frame.index
        arrays["image"][f] = frame.image
        arrays["background"][f] = frame.background
        arrays["layer_alpha"][f] = np.rint(frame.layer_alpha * 255.0)
        arrays["foreground"][f] = frame.foreground
        arrays["order"][f] = frame.order
        arrays["instance_depth"][f] = frame.instance_depth
    arrays["background_depth"] = frame.background_depth.astype(np.float32)  # the same in every frame
    info = {"shard": shard_name(index), "seed": seed, "namespace": "train", "level": level, "camera": camera, "people": people}
    return arrays, info


def build_cache(
    folder: str | Path, *, clips: int = 48, frames_per_clip: int = 12, width: int = 160, height: int = 96, seed: int = 0
) -> Path:
    """Render the cache into ``folder`` (created if missing) and return it; finished shards are kept.

    Raises :class:`ConfigError` when ``folder`` already holds a cache built with other settings and
    :class:`OutputError` when it cannot be created.
    """
    folder = Path(folder)
    settings = CacheSettings(clips, frames_per_clip, width, height, seed)
    if clips < 1 or frames_per_clip < 1:
        raise ConfigError("a training cache needs at least one clip of at least one frame.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the training cache folder {str(folder)!r}: {error.strerror}.") from None
    manifest = _read_manifest(folder)
    if manifest is not None and manifest["settings"] != asdict(settings):
        raise ConfigError(f"{str(folder)!r} holds a training cache built with other settings; choose another folder.")
    done = {c["shard"]: c for c in (manifest or {}).get("clips", [])}
    infos = []
    for index in progress(range(clips), desc="training cache", unit="clip"):
        name = shard_name(index)
        if name in done and (folder / name).is_file():
            infos.append(done[name])
            continue
        arrays, info = _render_clip(index, settings)
        with atomic_output(folder / name) as tmp:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **arrays)
        infos.append(info)
        _write_manifest(folder, settings, infos)
    _write_manifest(folder, settings, infos)
    return folder


class TrainingCache:
    """A finished cache folder; :meth:`clip` loads one shard's arrays (nothing else stays in memory)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        manifest = _read_manifest(self.folder)
        if manifest is None:
            raise ConfigError(f"{str(self.folder)!r} is not a training cache (no {MANIFEST}); build it first.")
        self.settings = CacheSettings(**manifest["settings"])
        self.clips: list[dict] = manifest["clips"]
        if len(self.clips) != self.settings.clips:
            raise ConfigError(
                f"training cache {str(self.folder)!r} is unfinished ({len(self.clips)} of {self.settings.clips} clips); "
                "build it again to finish."
            )

    def __len__(self) -> int:
        return len(self.clips)

    def clip(self, index: int) -> dict[str, np.ndarray]:
        with np.load(self.folder / self.clips[index]["shard"]) as shard:
            return {key: shard[key] for key in shard.files}

    def window(self, index: int, start: int, length: int) -> dict[str, np.ndarray]:
        """Frames ``start .. start+length-1`` of clip ``index``."""
        clip = self.clip(index)
        return {key: value if key == "background_depth" else value[start : start + length] for key, value in clip.items()}
