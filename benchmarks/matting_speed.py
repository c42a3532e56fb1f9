"""Milliseconds per frame of the weight-free decomposer's mattes on a real clip: the closed-form band solve
(the default) against its first version and the guided-filter mattes, at the source size and at a processing size.

    python benchmarks/matting_speed.py ../shared/data/clips/juggle_static_720p.mp4 [--frames 8] [--process-size 640]

People's masks come from vmat's person model on each frame (untimed), as hard masks (probability > 0.5).
Each configuration decomposes the same frames; at the processing size the frame and ids are shrunk first
and the layers brought back up (`upsample_layers`), as `vmat run --process-size` does; that step is timed
apart. One thread (OMP_NUM_THREADS=1, torch.set_num_threads(1)); times are CPU seconds of this process,
so other jobs on the machine inflate them less than wall time.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from vmat.decomposition import MaskMattingConfig, MaskMattingDecomposer
from vmat.decomposition.resolution import upsample_layers
from vmat.geometry import shrink_ids, shrink_image
from vmat.geometry import processing_size
from vmat.matting import SolverConfig, TrimapConfig
from vmat.person.model import default_person_model, image_to_frames, rois_from_detections
from vmat.propagation import video_frames

# The closed-form default as issue 19 first shipped it: matted where the band is 6 px, started from 0.5,
# three levels of 40 steps, no prior.
FIRST_CLOSED_FORM = MaskMattingConfig(
    band_pixels=6.0, guided_prior=False, matting=SolverConfig(levels=3, iterations=40, prior_weight=0.0)
)
# The closed-form default before the colour term (commit e2348c1): band 3 px, one level of 20 steps pulled
# towards the guided filter's matte, and a head zone twice as wide as the band.
PLAIN_CLOSED_FORM = MaskMattingConfig(
    trimap=TrimapConfig(hair_band=0.03, hair_band_of_height=0.04),
    matting=SolverConfig(levels=1, iterations=20, prior_weight=0.02),
)


def person_ids(model, image: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint16 ids 1.. of the people the person model finds in ``image`` (probability > 0.5)."""
    frames = image_to_frames(image)
    detections = model.detect(frames)
    ids = np.zeros(image.shape[:2], np.uint16)
    if len(detections[0]) == 0:
        return ids
    masks = model.segment(frames, rois_from_detections(detections)).masks.cpu().numpy()
    for k, probability in enumerate(masks):
        ids[(probability > 0.5) & (ids == 0)] = k + 1
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--process-size", type=int, default=640)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = default_person_model()
    frames = []
    for index, image in enumerate(video_frames(args.clip)()):
        if index >= args.frames:
            break
        frames.append((image, person_ids(model, image)))
    configs = {
        "guided-filter (before issue 19)": MaskMattingConfig(solver="guided-filter"),
        "closed-form, first version (band 6 px, 3 levels x 40 steps)": FIRST_CLOSED_FORM,
        "closed-form without the colour term (before)": PLAIN_CLOSED_FORM,
        "closed-form (default)": MaskMattingConfig(),
    }
    height, width = frames[0][0].shape[:2]
    small = processing_size(width, height, args.process_size)
    print(
        f"{args.clip}: {len(frames)} frames {width}x{height}, people per frame {np.mean([ids.max() for _, ids in frames]):.1f}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, load {os.getloadavg()[0]:.1f}"
    )
    print("| mattes | ms/frame at source size | ms/frame at --process-size "
          f"{args.process_size} ({small[0]}x{small[1]}) | + upsample_layers ms/frame |")
    print("|---|---|---|---|")
    for name, config in configs.items():
        decomposer = MaskMattingDecomposer(config)
        start = time.process_time()
        for image, ids in frames:
            decomposer.decompose(image, ids)
        full = (time.process_time() - start) / len(frames)
        shrink, up = 0.0, 0.0
        for image, ids in frames:
            start = time.process_time()
            stack = decomposer.decompose(shrink_image(image, small), shrink_ids(ids, small))
            middle = time.process_time()
            upsample_layers(stack, image)
            shrink += middle - start
            up += time.process_time() - middle
        print(f"| {name} | {1000 * full:.0f} | {1000 * shrink / len(frames):.0f} | {1000 * up / len(frames):.0f} |")


if __name__ == "__main__":
    main()
