"""``vmat info``: what a clip holds."""

from __future__ import annotations

import argparse
import json

from vmat.io import probe


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info",
        help="show a clip's video and audio streams",
        description="Show a clip's size, frame rate (and whether it varies), frame count, duration, rotation, colour and audio.",
    )
    parser.add_argument("clip", help="a media file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    info = probe(args.clip)
    print(json.dumps(info.to_dict(), indent=2) if args.json else info.describe())
    return 0
