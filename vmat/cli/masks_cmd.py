"""``vmat masks``: per-frame instance id masks for a clip, from prompts or people found automatically."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmat.cli.options import (
    HelpFormatter,
    add_backend_option,
    add_device_option,
    add_old_spelling,
    add_output_option,
    add_overwrite_option,
    add_range_options,
)
from vmat.cli.parsing import check_device
from vmat.cli.people import nobody_found
from vmat.errors import InputNotFoundError
from vmat.io import open_video
from vmat.io.atomic import check_new_output
from vmat.propagation.clip import mask_clip, video_frames, write_preview
from vmat.propagation.prior import PriorPropagator, PriorPropagatorConfig
from vmat.propagation.prompts import PROMPT_HELP, prompt_rounds
from vmat.propagation.propagator import FlowPropagator, FlowPropagatorConfig


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "masks",
        help="instance id masks for every frame, propagated from prompts (or found automatically)",
        description=(
            "Write one id-mask PNG per frame (000000.png, ...; 0 = background, k = person k for the whole clip) into "
            "the -o folder. A prompt (a JSON prompt file, or an id-mask PNG of one frame) names the people; without "
            "one, the person detector finds them on frame 0 (and people who enter later). Masks are propagated "
            "forwards and backwards from the first prompted frame by optical flow fused with the person prior "
            "(BlazePose segmentation; --propagator flow for the weight-free flow alone)."
        ),
        epilog=PROMPT_HELP,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("input", help="a media file or a folder of PNG/JPG images")
    output = parser.add_mutually_exclusive_group(required=True)
    add_output_option(output, "folder for the per-frame id-mask PNGs (one per frame)")
    add_old_spelling(output, "--out", "-o/--output", "output")
    prompts = parser.add_mutually_exclusive_group()
    prompts.add_argument("--prompt", metavar="FILE", help="a JSON prompt file or an id-mask PNG of --prompt-frame (format below)")
    add_old_spelling(prompts, "--id-mask", "--prompt", "prompt")
    parser.add_argument(
        "--prompt-frame", type=int, default=0, metavar="N", help="the frame an id-mask PNG --prompt belongs to (default 0)"
    )
    add_old_spelling(parser, "--frame", "--prompt-frame", "prompt_frame", type=int)
    parser.add_argument("--preview", metavar="VIDEO", help="also write a video (.mp4) with the coloured, numbered masks")
    parser.add_argument(
        "--propagator",
        choices=("prior", "flow"),
        default="prior",
        help="prior: flow fused with the person prior (default); flow: weight-free optical flow and colour models",
    )
    parser.add_argument(
        "--flow-size",
        type=int,
        default=FlowPropagatorConfig.work_short_side,
        metavar="PIXELS",
        help="shorter side the optical flow works at (default %(default)s; larger is slower and finer)",
    )
    add_old_spelling(parser, "--work-size", "--flow-size", "flow_size", type=int)
    add_device_option(parser, "the person prior's networks run")
    add_backend_option(parser)
    add_range_options(parser)
    add_overwrite_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if not Path(args.input).exists():
        raise InputNotFoundError(f"the input {str(args.input)!r} does not exist.")
    device = check_device(args.device) or "cpu"
    inputs = [args.input, args.prompt]
    check_new_output(args.output, overwrite=args.overwrite, inputs=inputs, is_dir=True)
    if args.preview is not None:
        check_new_output(args.preview, overwrite=args.overwrite, inputs=inputs, is_dir=False)
    options = {"backend": args.backend, "start": args.start, "end": args.end}
    with open_video(args.input, **options) as reader:  # a range past the clip fails here, before any work
        fps = reader.info.frame_rate
    source = video_frames(args.input, **options)
    rounds = prompt_rounds(args.prompt, args.prompt_frame)
    flow = FlowPropagatorConfig(work_short_side=args.flow_size)
    propagator: PriorPropagator | FlowPropagator
    if args.propagator == "prior":
        propagator = PriorPropagator(PriorPropagatorConfig(flow=flow, pick_up_new=rounds is None, device=device))
    else:
        propagator = FlowPropagator(flow)
    summary = mask_clip(source, args.output, rounds, propagator)
    if args.preview is not None:
        write_preview(source, args.output, args.preview, fps=fps)
    if not args.quiet:
        how = "people found automatically on frame 0" if summary.automatic else f"prompts from frame {summary.start_frame}"
        print(
            f"{summary.frames} id masks in {args.output} ({how}); ids {summary.ids}; "
            f"propagation {summary.propagation_fps:.1f} frames/s"
        )
    if not summary.ids:
        print(f"vmat masks: warning: {nobody_found(args.input, args.prompt, 'every mask is empty')}", file=sys.stderr)
    return 0
