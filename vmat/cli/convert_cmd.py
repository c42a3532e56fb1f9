"""``vmat convert``: re-encode a clip through vmat's I/O (formats, alpha, audio kept)."""

from __future__ import annotations

import argparse

from vmat.cli.options import (
    add_decoding_options,
    add_encoding_options,
    add_output_option,
    add_overwrite_option,
    add_range_options,
    is_folder_output,
    output_of,
)
from vmat.io.atomic import check_new_output
from vmat.io.transcode import transcode


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "convert",
        help="re-encode a clip (any format to H.264, ProRes 4444, VP9 alpha, PNG sequence or matte)",
        description=(
            "Decode a clip (media file or image folder) and encode it again, keeping every frame's timestamp and "
            "copying the audio unchanged (with --start/--end: the frames asked for, with their timing and their stretch "
            "of the audio, starting where the clip starts). With an alpha format the source's alpha is kept; --format "
            "matte writes the alpha as grey video."
        ),
    )
    parser.add_argument("input", help="a media file or a folder of PNG/JPG images")
    add_output_option(
        parser,
        "one video file (.mp4 .mov .mkv .webm), or a folder of PNGs (000000.png, ...) for png-rgba",
        required=True,
        old_positional=True,
    )
    add_encoding_options(parser)
    add_decoding_options(parser)
    add_range_options(parser)
    add_overwrite_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    output = output_of(args)
    check_new_output(output, overwrite=args.overwrite, inputs=[args.input], is_dir=is_folder_output(output, args.format))
    summary = transcode(
        args.input,
        output,
        format=args.format,
        crf=args.crf,
        preset=args.preset,
        lossless=args.lossless,
        odd_size=args.odd_size,
        audio=not args.no_audio,
        backend=args.backend,
        salvage=args.salvage,
        fps=args.fps,
        deterministic=not args.fast_encode,
        start=args.start,
        end=args.end,
    )
    if not args.quiet:
        print(summary.describe())
    return 0
