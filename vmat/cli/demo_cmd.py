"""``vmat demo``: the quick start's main job on a clip vmat makes itself."""

from __future__ import annotations

import argparse
from pathlib import Path

from vmat.cli.options import add_output_option, add_overwrite_option, output_of
from vmat.demo import run_demo


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="make a clip and run the main job on it (the quick start)",
        description="Generate a clip with audio and run vmat's main job on it, writing the results to a folder.",
    )
    add_output_option(
        parser, "folder for the results (the clip, the edited video and more)", default="demo_out", old_positional=True
    )
    add_overwrite_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    written = run_demo(Path(output_of(args)), overwrite=args.overwrite)
    if not args.quiet:
        for line in written:
            print(line)
    return 0
