"""``vmat convert``: re-encode a clip through vmat's I/O (formats, alpha, audio kept)."""

from __future__ import annotations

import argparse

from vmat.cli.options import add_decoding_options, add_encoding_options, add_overwrite_option, is_folder_output
from vmat.io.atomic import check_new_output
from vmat.io.transcode import transcode


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "convert",
        help="re-encode a clip (any format to H.264, ProRes 4444, VP9 alpha, PNG sequence or matte)",
        description=(
            "Decode a clip (media file or image folder) and encode it again, keeping every frame's timestamp and "
            "copying the audio unchanged. With an alpha format the source's alpha is kept; --format matte writes "
            "the alpha as grey video."
        ),
    )
    parser.add_argument("input", help="a media file or a folder of PNG/JPG images")
    parser.add_argument("output", help="output file (.mp4 .mov .mkv .webm) or folder (png-rgba)")
    add_encoding_options(parser)
    add_decoding_options(parser)
    add_overwrite_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    check_new_output(args.output, overwrite=args.overwrite, inputs=[args.input], is_dir=is_folder_output(args.output, args.format))
    summary = transcode(
        args.input,
        args.output,
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
    )
    if not args.quiet:
        print(summary.describe())
    return 0
