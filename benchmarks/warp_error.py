"""The alpha's flow-warping error on real clips, which have no true alpha: how much each method's matte
changes where the picture does not (:func:`vmat.metrics.temporal.frame_warp_error`, x1e3, per person and
frame pair, flow from the source frames, occlusion-masked).

    python benchmarks/warp_error.py ../shared/data/davis/hike ../shared/data/clips/juggle_static_720p.mp4 \
        [--frames 48] [--max-side 480] [--method default --method guided-filter ...] [--propagator prior]

A DAVIS folder (``NAME/NAME.mp4`` and ``NAME/masks/00000.png``) starts from its frame-0 annotation; a plain
clip from vmat's automatic people finder (as ``vmat masks`` does with no prompts). The masks are carried
through the first ``--frames`` frames by ``--propagator`` (vmat's mask stage), and every method gets those
masks, so methods differ only in their mattes. Frames are brought to ``--max-side`` first (speed). The
``mask`` row scores the propagated masks themselves as hard alphas.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from vmat.geometry import shrink_ids, shrink_image
from vmat.evaluation import MethodInput, method_factory
from vmat.evaluation.guidance import masks_of_ids, propagate_ids
from vmat.geometry import processing_size
from vmat.metrics.temporal import frame_warp_error, source_flows
from vmat.propagation import MaskingConfig, mask_clip, read_id_mask, video_frames
from vmat.propagation.idmask import mask_path

DEFAULT_METHODS = ("gt-hard", "default", "default:temporal=fusion", "guided-filter", "mpmat")


def clip_frames(source: Path, frames: int, max_side: int) -> tuple[str, list[np.ndarray], np.ndarray | None]:
    """Name, the first ``frames`` frames at ``max_side``, and the DAVIS frame-0 ids at that size (or ``None``)."""
    video = source / f"{source.name}.mp4" if source.is_dir() else source
    images = []
    for image in video_frames(video, end=frames)():
        images.append(shrink_image(image, processing_size(image.shape[1], image.shape[0], max_side)))
    first_ids = None
    if source.is_dir():
        ids = read_id_mask(source / "masks" / "00000.png").astype(np.int32)
        first_ids = shrink_ids(ids, (images[0].shape[1], images[0].shape[0])).astype(np.uint16)
    return source.stem, images, first_ids


def clip_warp_errors(images: list[np.ndarray], ids_folder: Path, specs: list[str]) -> dict[str, float]:
    """Mean warp error per method over people and frame pairs; every method runs in step, one flow per pair."""
    all_ids = [read_id_mask(mask_path(ids_folder, index)) for index in range(len(images))]
    instance_ids = sorted({int(i) for ids in all_ids for i in np.unique(ids) if i > 0})
    inputs = [
        MethodInput(index, image, masks_of_ids(ids, instance_ids), instance_ids)
        for index, (image, ids) in enumerate(zip(images, all_ids))
    ]
    streams = {spec: method_factory(spec)()(iter(inputs)) for spec in specs}
    values: dict[str, list[float]] = {spec: [] for spec in specs}
    previous = None
    for index, image in enumerate(images):
        alphas = {spec: np.asarray(next(stream).alpha) for spec, stream in streams.items()}
        if previous is not None:
            flows = source_flows(image, images[index - 1])
            for spec in specs:
                for k in range(len(instance_ids)):
                    if alphas[spec][k].any() or previous[spec][k].any():
                        values[spec].append(frame_warp_error(alphas[spec][k], previous[spec][k], flows))
        previous = alphas
    return {spec: float(np.mean(v)) if v else float("nan") for spec, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--max-side", type=int, default=480)
    parser.add_argument("--method", action="append", dest="methods")
    parser.add_argument("--propagator", default="prior")
    args = parser.parse_args()
    specs = args.methods or list(DEFAULT_METHODS)
    rows = {}
    for source in args.sources:
        name, images, first_ids = clip_frames(source, args.frames, args.max_side)
        with tempfile.TemporaryDirectory() as folder:
            ids_folder = Path(folder) / "ids"
            if first_ids is not None:
                ids_folder.mkdir()
                propagate_ids(images, first_ids, args.propagator, ids_folder)
            else:
                mask_clip(lambda images=images: iter(images), ids_folder, config=MaskingConfig(propagator=args.propagator))
            rows[name] = clip_warp_errors(images, ids_folder, specs)
        print(f"{name}: " + ", ".join(f"{spec} {value:.3f}" for spec, value in rows[name].items()), flush=True)
    print("\n| clip | " + " | ".join("mask" if s == "gt-hard" else s for s in specs) + " |")
    print("|---|" + "---|" * len(specs))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[s]:.3f}" for s in specs) + " |")
    print("| mean | " + " | ".join(f"{np.nanmean([row[s] for row in rows.values()]):.3f}" for s in specs) + " |")


if __name__ == "__main__":
    main()
