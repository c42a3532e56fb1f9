"""``vmat run``: the whole pipeline on one clip."""

from __future__ import annotations

import argparse

from vmat.cli.options import add_backend_option
from vmat.depth.build import DEPTH_ESTIMATORS
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig, run_clip


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "run",
        help="run the pipeline on a clip: layers per person, edits, video out",
        description=(
            "Decode a clip, find each person's mask on every frame (propagated from a prompt), estimate depth, decompose every frame into "
            "layers (background + one alpha/colour plane per person), complete the background from other "
            "frames, apply the edits and encode the result with the source audio. Writes CLIP.vmat.mp4, "
            "CLIP.masks (per-frame id masks), CLIP.vlayers (the layers, reusable by later edits) and CLIP.ids.png (the first frame with each "
            "person's id) into the output folder."
        ),
    )
    parser.add_argument("clip", help="input video file")
    parser.add_argument("-o", "--output", default="vmat_out", help="output folder (default: vmat_out)")
    masks = parser.add_argument_group("people (default: the FALLBACK finder of moving people, weak: prompt when you can)")
    given = masks.add_mutually_exclusive_group()
    given.add_argument(
        "--prompt",
        metavar="FILE",
        help="a JSON prompt file (boxes, clicks, scribbles; see vmat masks --help) or an id-mask PNG of --prompt-frame",
    )
    given.add_argument("--masks", metavar="FOLDER", help="per-frame id-mask PNGs made earlier (00000.png, ...): no propagation")
    masks.add_argument("--prompt-frame", type=int, default=0, help="the frame an id-mask --prompt belongs to (default 0)")
    edit = parser.add_argument_group("edits")
    edit.add_argument("--remove", type=int, nargs="+", default=[], metavar="ID", help="remove these people")
    edit.add_argument("--reorder", type=int, nargs=2, metavar=("P", "Q"), help="swap who is in front: person P and person Q")
    edit.add_argument(
        "--background",
        metavar="SPEC",
        help="new background: #rrggbb or r,g,b colour, blur:SIGMA, an image file or a video file (looped)",
    )
    stages = parser.add_argument_group("stages")
    stages.add_argument("--depth", choices=DEPTH_ESTIMATORS, default="ground-plane", help="depth stage (default: ground-plane, weight-free)")
    stages.add_argument("--depth-checkpoint", metavar="PATH", help="weights for --depth dav2-small (depth_anything_v2_vits.pth)")
    stages.add_argument(
        "--temporal", action="store_true", help="steadier mattes: forward-backward fusion where the frame does not change"
    )
    stages.add_argument("--no-completion", action="store_true", help="do not recover the background hidden behind people")
    stages.add_argument("--batch-size", type=int, default=4, help="frames per batch in the model stages (default 4)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--no-layers", action="store_true", help="do not keep the layers file")
    out.add_argument("--no-preview", action="store_true", help="do not write the labelled first frame")
    out.add_argument(
        "--people", action="store_true", help="also write each person as CLIP.personID.matte.mp4 (grey alpha) and CLIP.personID.webm (RGBA)"
    )
    out.add_argument("--crf", type=int, help="H.264 quality of the video (default 18)")
    out.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
    add_backend_option(stages)
    parser.set_defaults(handler=run)
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        masks_folder=args.masks,
        prompt=args.prompt,
        prompt_frame=args.prompt_frame,
        depth=args.depth,
        depth_checkpoint=args.depth_checkpoint,
        temporal=args.temporal,
        complete_background=not args.no_completion,
        edit=EditSpec(remove=tuple(args.remove), reorder=tuple(args.reorder) if args.reorder else None, background=args.background),
        write_layers=not args.no_layers,
        write_preview=not args.no_preview,
        write_people=args.people,
        crf=args.crf,
        preset=args.preset,
        batch_size=args.batch_size,
        backend=args.backend,
    )


def run(args: argparse.Namespace) -> int:
    summary = run_clip(args.clip, args.output, config_from_args(args))
    if not args.quiet:
        print(summary.describe())
    return 0
