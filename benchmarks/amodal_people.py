"""Completing the person behind a removed one (vmat.editing.amodal), on real footage with exact truth.

A DAVIS person (A, the "cut" sequence) is pasted nearly still (vmat.bench.completion.pasted_clip) in front of
the annotated DAVIS person of another sequence (B, the target), overlapping them; layers come from the exact
masks (MaskMattingDecomposer, A in front); A is removed with and without completing B, the background
completed as `vmat remove` does; the result is compared with the untouched clip.

    python benchmarks/amodal_people.py ../shared/data/davis [--frames 48] [--width 640]

Prints, per pair, over every frame: PSNR where A hid B (B's true mask under A's), the IoU there of B's
completed alpha (> 0.5) with B's true mask, PSNR on the ground A hid away from B (B's mask grown 2 px: a
fill must not spill onto it), PSNR over all A hid, and the completion's time per frame. Then the same pair
swapped (`--swap`: B brought in front of A, no background shows) scored where A hid B, against the untouched
clip there (B in front shows what the camera saw of B).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import cv2
import numpy as np

from vmat.bench.completion import Paste, pasted_clip
from vmat.decomposition import MaskMattingDecomposer
from vmat.editing.amodal import complete_people
from vmat.editing.completion import complete_background
from vmat.editing.removal import remove
from vmat.editing.reordering import reorder
from vmat.layers import tensor_to_image

PAIRS = [
    ("lucia", "dance-jump"),
    *((target, "lucia") for target in ("hike", "stroller", "kite-walk", "swing", "dance-jump", "hockey", "scooter-gray")),
]


def masks_of(folder: Path, size: tuple[int, int], count: int) -> list[np.ndarray]:
    masks = []
    for index in range(count):
        mask = cv2.imread(str(folder / "masks" / f"{index:05d}.png"), cv2.IMREAD_GRAYSCALE)
        masks.append(cv2.resize((mask > 0).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0)
    return masks


def placement(folder: Path) -> Paste:
    """A stands a little left of B's middle on frame 24 and a little lower (so in front), 0.6 of B's height + 0.1."""
    mask = cv2.imread(str(folder / "masks" / "00024.png"), cv2.IMREAD_GRAYSCALE) > 0
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    foot = (float(xs.mean() / width) - 0.05, min(float(ys.max() / height) + 0.03, 0.99))
    return Paste(str(folder / f"{folder.name}.mp4"), foot, 0.6 * (ys.max() - ys.min()) / height + 0.1)


def psnr(errors: float, count: int) -> float:
    return 10 * math.log10(255**2 / (errors / max(count, 1)))


def score(davis: Path, target: str, cut: str, frames: int, width: int) -> str:
    clean, pasted, cover = pasted_clip(davis / cut, placement(davis / target), frames, width)
    size = (clean[0].shape[1], clean[0].shape[0])
    behind = masks_of(davis / target, size, len(clean))
    decomposer = MaskMattingDecomposer()
    stacks = [
        decomposer.decompose(image, np.where(a, 1, np.where(b, 2, 0)).astype(np.uint8), np.where(a, 1.0, 2.0), [1, 2])
        for image, a, b in zip(pasted, cover, behind)
    ]
    started = time.perf_counter()
    completed = list(complete_people(stacks, {1}))
    per_frame = 1000 * (time.perf_counter() - started) / len(stacks)
    cells = []
    for layers in (stacks, completed):
        sums = np.zeros(8)  # hid-B squared error, count; IoU numerator, denominator; ground, all A hid: error, count
        for t, done in enumerate(complete_background(layers, removing=(1,))):
            result = tensor_to_image(remove(done.stack, 1).render()).astype(np.float64)
            hid = cover[t] & behind[t]
            ground = cover[t] & ~(cv2.dilate(behind[t].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
            got = (done.stack.alpha[2].numpy() > 0.5) & cover[t]
            sums += [
                ((result[hid] - clean[t][hid]) ** 2).sum(), 3 * hid.sum(), (got & hid).sum(), (got | hid).sum(),
                ((result[ground] - clean[t][ground]) ** 2).sum(), 3 * ground.sum(),
                ((result[cover[t]] - clean[t][cover[t]]) ** 2).sum(), 3 * cover[t].sum(),
            ]
        iou = sums[2] / max(sums[3], 1)
        cells.append((psnr(sums[0], int(sums[1])), iou, psnr(sums[4], int(sums[5])), psnr(sums[6], int(sums[7]))))
    (before, iou_before, ground_before, all_before), (after, iou_after, ground_after, all_after) = cells
    swaps = []
    for layers in (stacks, completed):  # B completed for a swap as for A's removal: A is all that hides B
        errors = count = 0
        for t, stack in enumerate(layers):
            hid = cover[t] & behind[t]
            result = tensor_to_image(reorder(stack, 1, 2).render()).astype(np.float64)
            errors, count = errors + ((result[hid] - clean[t][hid]) ** 2).sum(), count + 3 * hid.sum()
        swaps.append(psnr(errors, count))
    return (
        f"| {cut} over {target} | {before:.2f} / {after:.2f} | {iou_before:.2f} / {iou_after:.2f} | "
        f"{ground_before:.2f} / {ground_after:.2f} | {all_before:.2f} / {all_after:.2f} | {swaps[0]:.2f} / {swaps[1]:.2f} | "
        f"{per_frame:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("davis", type=Path)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    print("| A over B | PSNR where A hid B, without / with | IoU there | ground A hid | all A hid | swap | ms/frame |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for target, cut in PAIRS:
        print(score(args.davis, target, cut, args.frames, args.width), flush=True)


if __name__ == "__main__":
    main()
