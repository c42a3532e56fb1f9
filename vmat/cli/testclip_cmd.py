"""``vmat testclip``: make a test-pattern clip with a tone, for trying vmat without footage."""

from __future__ import annotations

import argparse

from vmat.cli.parsing import parse_size
from vmat.cli.options import add_output_option, add_overwrite_option, output_of
from vmat.io import probe, write_test_pattern_clip
from vmat.io.atomic import check_new_output


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "testclip",
        help="write a test-pattern H.264 clip with audio",
        description="Write a test-pattern clip (moving shapes, stereo tone) with chosen size, length and timing.",
    )
    add_output_option(parser, "the clip, one file (.mp4/.mov/.mkv)", required=True, old_positional=True)
    parser.add_argument("--size", type=parse_size, default=(320, 240), help="WIDTHxHEIGHT, even (default 320x240)")
    parser.add_argument("--frames", type=int, default=60, help="number of frames (default 60)")
    parser.add_argument("--fps", type=int, default=30, help="frame rate (default 30)")
    parser.add_argument("--vfr", action="store_true", help="irregular frame times (variable frame rate)")
    parser.add_argument("--rotation", type=int, choices=(0, 90, 180, 270), default=0, help="display rotation tag")
    parser.add_argument("--no-audio", action="store_true", help="no audio stream")
    add_overwrite_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    output = output_of(args)
    check_new_output(output, overwrite=args.overwrite, is_dir=False)
    width, height = args.size
    path = write_test_pattern_clip(
        output,
        width=width,
        height=height,
        num_frames=args.frames,
        fps=args.fps,
        audio=not args.no_audio,
        variable_frame_rate=args.vfr,
        rotation=args.rotation,
    )
    if not args.quiet:
        print(probe(path).describe())
    return 0
