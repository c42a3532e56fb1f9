"""Synthetic clips on disk: lossless per-frame files plus a JSON manifest, written and read frame by frame.

Layout of a clip folder (``NNNNN`` is the zero-padded frame index)::

    manifest.json              scene parameters, seed, level, instance ids, per-frame occlusion and order
    background_depth.npy       (H, W) float32 metres of the background (the same every frame)
    composite/NNNNN.png        the frame, RGB
    background/NNNNN.png       the background plate seen by this frame, RGB
    layers/NNNNN.npz           layer_alpha (N, H, W) f32, alpha (N, H, W) f32 (visible mattes),
                               foreground (N, H, W, 3) u8, order (N,) layer indices nearest first,
                               instance_depth (N,) f32, depth (H, W) f32, ids (H, W) u8, time
    removed/<id>/NNNNN.png     the exact frame without instance <id>
    swapped/<p>-<q>/NNNNN.png  the exact frame with <p> and <q> exchanging depth places (only frames
                               where their layers overlap; elsewhere the swap changes nothing)
    preview.mp4                optional H.264 preview of the composite (lossy: never used for scoring)

Layer ``k`` of a frame is instance ``manifest["instance_ids"][k]``. Everything is written under a
temporary name and renamed when the clip is complete.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vmat.errors import InputNotFoundError, NotMediaError
from vmat.io.atomic import atomic_output
from vmat.io.image_sequence import read_image, write_png
from vmat.synthetic.scene import SyntheticFrame, SyntheticScene

MANIFEST = "manifest.json"
FILES = {
    "composite": "composite/NNNNN.png",
    "background": "background/NNNNN.png",
    "layers": "layers/NNNNN.npz: layer_alpha, alpha, foreground, order, instance_depth, depth, ids, time",
    "background_depth": "background_depth.npy",
    "removed": "removed/<id>/NNNNN.png",
    "swapped": "swapped/<nearer id>-<farther id>/NNNNN.png",
}


def _name(index: int) -> str:
    return f"{index:05d}"


def write_clip(scene: SyntheticScene, folder: str | Path, *, edits: bool = True, preview: bool = False) -> dict:
    """Render ``scene`` into ``folder`` frame by frame; return the manifest that was written."""
    folder = Path(folder)
    manifest = scene.manifest()
    frames_info = []
    with atomic_output(folder, is_dir=True) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        for sub in ("composite", "background", "layers"):
            (tmp / sub).mkdir()
        writer = None
        if preview:
            from vmat.io import VideoWriter

            writer = VideoWriter(tmp / "preview.mp4", fps=scene.config.fps, format="h264")
            writer.__enter__()
        try:
            for frame in scene.frames():
                if frame.index == 0:
                    np.save(tmp / "background_depth.npy", frame.background_depth)
                frames_info.append(_write_frame(tmp, frame, edits))
                if writer is not None:
                    writer.write(frame.image)
        finally:
            if writer is not None:
                writer.__exit__(None, None, None)
        manifest |= {
            "num_frames": len(frames_info),
            "frames": frames_info,
            "occlusion": _summary([f["occlusion"] for f in frames_info]),
            "files": FILES,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def _summary(values: list[float]) -> dict:
    return {"min": float(np.min(values)), "mean": float(np.mean(values)), "max": float(np.max(values))}


def _write_frame(folder: Path, frame: SyntheticFrame, edits: bool) -> dict:
    name = _name(frame.index)
    write_png(folder / "composite" / f"{name}.png", frame.image)
    write_png(folder / "background" / f"{name}.png", frame.background)
    np.savez_compressed(
        folder / "layers" / f"{name}.npz",
        layer_alpha=frame.layer_alpha,
        alpha=frame.alpha,
        foreground=frame.foreground,
        order=np.asarray(frame.order, np.int64),
        instance_depth=frame.instance_depth,
        depth=frame.depth,
        ids=frame.id_map,
        time=np.float64(frame.time),
    )
    pairs = frame.overlapping_pairs()
    if edits:
        for instance_id in frame.instance_ids:
            target = folder / "removed" / str(instance_id)
            target.mkdir(parents=True, exist_ok=True)
            write_png(target / f"{name}.png", frame.removed(instance_id))
        for p, q in pairs:
            target = folder / "swapped" / f"{p}-{q}"
            target.mkdir(parents=True, exist_ok=True)
            write_png(target / f"{name}.png", frame.swapped(p, q))
    hidden = frame.hidden_fraction
    return {
        "index": frame.index,
        "time": frame.time,
        "occlusion": frame.occlusion,
        "hidden_fraction": [None if np.isnan(h) else float(h) for h in hidden],
        "order": [frame.instance_ids[k] for k in frame.order],
        "overlapping_pairs": [list(p) for p in pairs],
    }


class SyntheticClip:
    """A clip folder written by :func:`write_clip`; iterate it for :class:`SyntheticFrame` objects, one at a time."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        if not path.is_file():
            raise InputNotFoundError(f"{str(self.folder)!r} is not a synthetic clip folder (no {MANIFEST}).")
        try:
            self.manifest = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise NotMediaError(f"{str(path)!r} is not valid JSON ({error.msg}).") from None
        self.instance_ids: list[int] = list(self.manifest["instance_ids"])
        self.num_frames: int = int(self.manifest["num_frames"])
        self.level: str = self.manifest["config"]["level"]
        self.camera: str = self.manifest["config"]["camera"]
        self.fps: float = float(self.manifest["config"]["fps"])

    @property
    def name(self) -> str:
        return self.folder.name

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self) -> Iterator[SyntheticFrame]:
        background_depth = np.load(self.folder / "background_depth.npy")
        for index in range(self.num_frames):
            yield self.read_frame(index, background_depth)

    def read_frame(self, index: int, background_depth: np.ndarray | None = None) -> SyntheticFrame:
        name = _name(index)
        if background_depth is None:
            background_depth = np.load(self.folder / "background_depth.npy")
        with np.load(self.folder / "layers" / f"{name}.npz") as layers:
            return SyntheticFrame(
                index=index,
                time=float(layers["time"]),
                image=_stored_image(self.folder / "composite" / f"{name}.png"),
                background=_stored_image(self.folder / "background" / f"{name}.png"),
                layer_alpha=layers["layer_alpha"],
                foreground=layers["foreground"],
                order=[int(k) for k in layers["order"]],
                instance_ids=self.instance_ids,
                instance_depth=layers["instance_depth"],
                background_depth=background_depth,
            )

    def stored_removed(self, instance_id: int, index: int) -> np.ndarray | None:
        """The stored removal ground truth, or ``None`` when the clip was written without edits."""
        path = self.folder / "removed" / str(instance_id) / f"{_name(index)}.png"
        return read_image(path, alpha=False) if path.is_file() else None


def _stored_image(path: Path) -> np.ndarray:
    """A frame image of a stored clip; a missing or damaged one is a one-line error, not a None frame."""
    image = read_image(path, alpha=False)
    if image is None:
        raise NotMediaError(f"{str(path)!r} is missing or damaged: write the synthetic clip again")
    return image
