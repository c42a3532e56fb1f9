"""What encoding one frame's layer stack costs at each place a run does it (milliseconds, one thread).

    python benchmarks/layer_encoding.py OUT/CLIP.vlayers ../shared/data/clips/CLIP.mp4 [--frame 3] \
        [--size 1280x720] [--repeats 30]

A run quantises every stack to the layers file's precision (:func:`vmat.pipeline.stream.stored`), the
streaming completion encodes it again to hold its pending frames compactly (:func:`vmat.layers.store.encode_stack`)
and decodes it once, and a layers file encodes and packs it once more (``encode_stack`` then ``pack_frame``).
The stack is frame ``--frame`` of a layers file (``vmat run --keep-layers``) brought to ``--size`` against
the clip's frame, as the decomposer would give it at that size; the calls run in turn ``--repeats`` times.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from vmat.decomposition.resolution import upsample_layers
from vmat.layers.store import LayersReader, decode_stack, encode_stack, pack_frame
from vmat.pipeline.stream import stored
from vmat.propagation import video_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("layers")
    parser.add_argument("clip")
    parser.add_argument("--frame", type=int, default=3)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    width, height = (int(side) for side in args.size.split("x"))
    image = list(video_frames(args.clip, start=args.frame, end=args.frame + 1)())[0]
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    raw = upsample_layers(LayersReader(args.layers).read(args.frame), image)
    quantised = stored(raw)
    arrays = encode_stack(quantised)
    calls = {
        "quantise: stored(stack)": lambda: stored(raw),
        "encode_stack(quantised stack) (completion's pending frame; layers file)": lambda: encode_stack(quantised),
        "pack_frame(arrays) (layers file)": lambda: pack_frame(arrays),
        "decode_stack(arrays) (completion, once a frame)": lambda: decode_stack(arrays, width, height),
        "encode_stack(stack) (unquantised)": lambda: encode_stack(raw),
    }
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - started)
    boxes = ", ".join(f"{float((raw.alpha[p] > 0).float().mean()):.3f}" for p in range(1, len(raw.ids)))
    print(f"{width}x{height}, {len(raw.ids)} planes (each person's share of the frame: {boxes})")
    print("| call | median ms | min ms |\n| --- | --- | --- |")
    for name, values in seconds.items():
        print(f"| {name} | {1000 * np.median(values):.1f} | {1000 * min(values):.1f} |")


if __name__ == "__main__":
    main()
