"""``vmat depth``: relative depth for every frame of a clip, as 16-bit PNGs (and a colour preview)."""

from __future__ import annotations

import argparse

from vmat.cli.options import add_backend_option, add_device_option, add_output_option, add_overwrite_option, output_of
from vmat.cli.parsing import check_device
from vmat.depth import DepthStabilizer, build_depth_estimator, write_clip_depth
from vmat.depth.build import DEPTH_ESTIMATORS
from vmat.io.atomic import check_new_output


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "depth",
        help="relative depth per frame (smaller = nearer) as 16-bit PNGs",
        description=(
            "Estimate relative depth for every frame (a map in [0, 1], smaller = nearer, stored as round(depth * "
            "65535) in 16-bit PNGs 000000.png, ... in the -o folder), stabilised over time unless --no-stabilize."
        ),
    )
    parser.add_argument("input", help="a media file or a folder of PNG/JPG images")
    add_output_option(parser, "folder for the depth PNGs (one per frame)", required=True, old_positional=True)
    parser.add_argument(
        "--model", choices=DEPTH_ESTIMATORS, default="ground-plane", help="depth stage (default ground-plane, weight-free)"
    )
    parser.add_argument(
        "--checkpoint", metavar="PATH", help="weights for --model dav2-small (depth_anything_v2_vits.pth or .safetensors)"
    )
    parser.add_argument(
        "--masks",
        metavar="FOLDER",
        help="per-frame id masks: the ground plane places people with them, the stabiliser ignores them",
    )
    parser.add_argument(
        "--horizon", type=float, default=0.4, help="ground plane: horizon row as a fraction of the height (default 0.4)"
    )
    parser.add_argument(
        "--input-size",
        type=int,
        default=518,
        metavar="PIXELS",
        help="dav2-small: short side fed to the network (default 518, as Depth Anything's own)",
    )
    parser.add_argument("--batch-size", type=int, default=4, metavar="N", help="frames per batch (default 4)")
    parser.add_argument("--no-stabilize", action="store_true", help="keep each frame's own scale and shift")
    parser.add_argument("--preview", metavar="VIDEO", help="also write a colour preview video (warm = near)")
    add_device_option(parser, "the depth network runs", "cuda when present for dav2-small, else cpu")
    add_backend_option(parser)
    add_overwrite_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    output = output_of(args)
    device = check_device(args.device)
    inputs = [args.input, args.masks, args.checkpoint]
    check_new_output(output, overwrite=args.overwrite, inputs=inputs, is_dir=True)
    if args.preview is not None:
        check_new_output(args.preview, overwrite=args.overwrite, inputs=inputs, is_dir=False)
    options = {"horizon": args.horizon} if args.model == "ground-plane" else {"input_size": args.input_size}
    estimator = build_depth_estimator(args.model, checkpoint=args.checkpoint, device=device, **options)
    summary = write_clip_depth(
        args.input,
        output,
        estimator,
        masks_dir=args.masks,
        stabilizer=None if args.no_stabilize else DepthStabilizer(),
        batch_size=args.batch_size,
        preview=args.preview,
        backend=args.backend,
    )
    if not args.quiet:
        print(summary.describe())
    return 0
