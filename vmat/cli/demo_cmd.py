"""``vmat demo``: the quick start's main job on a clip vmat makes itself."""

from __future__ import annotations

import argparse
from pathlib import Path

from vmat.cli.options import add_overwrite_option
from vmat.demo import run_demo


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="make a clip and run the main job on it (the quick start)",
        description="Generate a clip with audio and run vmat's main job on it, writing the results to a folder.",
    )
    parser.add_argument("output", nargs="?", default="demo_out", help="folder for the results (default: demo_out)")
    add_overwrite_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    written = run_demo(Path(args.output), overwrite=args.overwrite)
    if not args.quiet:
        for line in written:
            print(line)
    return 0
