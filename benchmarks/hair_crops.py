"""Side-by-side head crops for docs/matting.md: the previous guided-filter mattes against the closed-form
default, on real footage without true alpha (what hair looks like, not a score).

    python benchmarks/hair_crops.py OUT.jpg CLIP[@FRAME] [CLIP[@FRAME] ...]

A DAVIS folder (``NAME/NAME.mp4`` with ``NAME/masks/NNNNN.png``) uses its annotated mask of that frame; a
plain clip uses vmat's person model (probability > 0.5, the first person found). Each row: the frame's
head crop, the guided-filter alpha, the closed-form alpha before the colour term (``PLAIN_CLOSED_FORM``), the
default's alpha, then each composited on flat green with its own foreground
colour. Decomposed at the source size, as `vmat run` does by default.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from vmat.decomposition import MaskMattingConfig, MaskMattingDecomposer
from vmat.propagation import read_id_mask, video_frames
from vmat.propagation.idmask import mask_path

GREEN = np.array([0.1, 0.7, 0.2], np.float32)
SIDE = 160  # each tile's side in the output, px


def frame_and_ids(spec: str) -> tuple[np.ndarray, np.ndarray]:
    path, _, index = spec.partition("@")
    index = int(index or 0)
    source = Path(path)
    clip = source / f"{source.name}.mp4" if source.is_dir() else source
    # The frame at index (or the last one) stays in image after the loop.
    for k, image in enumerate(video_frames(clip)()):  # noqa: B007
        if k == index:
            break
    if source.is_dir():
        return image, read_id_mask(mask_path(source / "masks", index)).astype(np.uint16)
    from benchmarks.matting_speed import person_ids
    from vmat.person.model import default_person_model

    ids = person_ids(default_person_model(), image)
    return image, np.where(ids == 1, 1, 0).astype(np.uint16)


def head_box(mask: np.ndarray) -> tuple[slice, slice]:
    """A square around the top of the mask: its side is a quarter of the mask's height (at least 48 px)."""
    rows = np.flatnonzero(mask.any(axis=1))
    side = max(48, (rows[-1] - rows[0]) // 4)
    top_cols = np.flatnonzero(mask[rows[0] : rows[0] + side // 2].any(axis=0))
    centre = (top_cols[0] + top_cols[-1]) // 2
    y0 = max(0, rows[0] - side // 4)
    x0 = int(np.clip(centre - side // 2, 0, mask.shape[1] - side))
    return slice(y0, y0 + side), slice(x0, x0 + side)


def row(spec: str) -> np.ndarray:
    image, ids = frame_and_ids(spec)
    rows, cols = head_box(ids == 1)
    tiles = [image[rows, cols].astype(np.float32) / 255]
    composites = []
    from benchmarks.matting_speed import PLAIN_CLOSED_FORM

    for config in (MaskMattingConfig(solver="guided-filter"), PLAIN_CLOSED_FORM, MaskMattingConfig()):
        stack = MaskMattingDecomposer(config).decompose(image, ids)
        alpha = stack.alpha[1].numpy()[rows, cols]
        colour = stack.colour[1].permute(1, 2, 0).numpy()[rows, cols]
        tiles.append(np.repeat(alpha[..., None], 3, axis=2))
        composites.append(alpha[..., None] * colour + (1 - alpha[..., None]) * GREEN)
    tiles += composites
    return np.concatenate([cv2.resize(t, (SIDE, SIDE), interpolation=cv2.INTER_AREA) for t in tiles], axis=1)


def main() -> None:
    out, specs = sys.argv[1], sys.argv[2:]
    picture = np.concatenate([row(spec) for spec in specs], axis=0)
    cv2.imwrite(out, cv2.cvtColor((picture * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


if __name__ == "__main__":
    main()
