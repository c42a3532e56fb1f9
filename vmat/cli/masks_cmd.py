"""``vmat masks``: per-frame instance id masks for a clip, from prompts or people found automatically."""

from __future__ import annotations

import argparse
from pathlib import Path

from vmat.cli.options import add_overwrite_option
from vmat.errors import InputNotFoundError
from vmat.io import open_video
from vmat.io.atomic import check_new_output
from vmat.propagation.clip import mask_clip, video_frames, write_preview
from vmat.propagation.prompts import prompt_rounds
from vmat.propagation.prior import PriorPropagator, PriorPropagatorConfig
from vmat.propagation.propagator import FlowPropagator, FlowPropagatorConfig


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "masks",
        help="instance id masks for every frame, propagated from prompts (or found automatically)",
        description=(
            "Write one id-mask PNG per frame (0 = background, k = person k for the whole clip) into OUT. "
            "Prompts (a JSON prompt file, or an id-mask PNG for one frame) name the people; without any, the "
            "person detector finds them on frame 0 (and people who enter later). Masks are propagated forwards "
            "and backwards from the first prompted frame by optical flow fused with the person prior "
            "(BlazePose segmentation; --propagator flow for the weight-free flow alone)."
        ),
    )
    parser.add_argument("input", help="a media file or a folder of PNG/JPG images")
    parser.add_argument("--out", required=True, type=Path, help="folder for the per-frame id-mask PNGs")
    prompts = parser.add_mutually_exclusive_group()
    prompts.add_argument("--prompt", type=Path, help="a JSON prompt file (boxes, clicks, scribbles, id masks)")
    prompts.add_argument("--id-mask", type=Path, help="an id-mask PNG (grey or DAVIS palette) for --frame")
    parser.add_argument("--frame", type=int, default=0, help="the frame --id-mask belongs to (default 0)")
    parser.add_argument("--preview", type=Path, help="also write a video with the coloured, numbered masks")
    parser.add_argument(
        "--propagator",
        choices=("prior", "flow"),
        default="prior",
        help="prior: flow fused with the person prior (default); flow: weight-free optical flow and colour models",
    )
    parser.add_argument(
        "--work-size",
        type=int,
        default=FlowPropagatorConfig.work_short_side,
        help="shorter side in pixels the optical flow works at (default %(default)s; larger is slower and finer)",
    )
    add_overwrite_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if not Path(args.input).exists():
        raise InputNotFoundError(f"the input {str(args.input)!r} does not exist.")
    inputs = [args.input, args.prompt, args.id_mask]
    check_new_output(args.out, overwrite=args.overwrite, inputs=inputs, is_dir=True)
    if args.preview is not None:
        check_new_output(args.preview, overwrite=args.overwrite, inputs=inputs, is_dir=False)
    source = video_frames(args.input)
    rounds = prompt_rounds(args.prompt or args.id_mask, args.frame)
    flow = FlowPropagatorConfig(work_short_side=args.work_size)
    if args.propagator == "prior":
        propagator = PriorPropagator(PriorPropagatorConfig(flow=flow, pick_up_new=rounds is None))
    else:
        propagator = FlowPropagator(flow)
    summary = mask_clip(source, args.out, rounds, propagator)
    if args.preview is not None:
        with open_video(args.input) as reader:
            fps = reader.info.frame_rate
        write_preview(source, args.out, args.preview, fps=fps)
    if not args.quiet:
        how = "people found automatically on frame 0" if summary.automatic else f"prompts from frame {summary.start_frame}"
        print(
            f"{summary.frames} id masks in {args.out} ({how}); ids {summary.ids}; "
            f"propagation {summary.propagation_fps:.1f} frames/s"
        )
    return 0
