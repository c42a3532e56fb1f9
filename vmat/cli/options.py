"""Command-line options that several subcommands share, defined once."""

from __future__ import annotations

import argparse

from vmat.io.writer import FORMATS, guess_format


def add_encoding_options(parser: argparse.ArgumentParser) -> None:
    """Output format and quality options, as :class:`vmat.io.VideoWriter` takes them."""
    group = parser.add_argument_group("encoding")
    group.add_argument(
        "--format",
        choices=sorted(FORMATS),
        help="output format (default: from the output name: .webm -> vp9-alpha, no suffix -> png-rgba, else h264)",
    )
    group.add_argument("--crf", type=int, help="quality, lower is better (h264 default 18, matte 10, vp9 24)")
    group.add_argument("--preset", default="veryfast", help="x264 speed preset (default: veryfast)")
    group.add_argument("--lossless", action="store_true", help="exact pictures (h264/matte qp 0, vp9 lossless)")
    group.add_argument(
        "--odd-size",
        choices=("pad", "crop"),
        default="pad",
        help="4:2:0 formats need even sizes: pad repeats the last row/column (default), crop drops it",
    )
    group.add_argument("--no-audio", action="store_true", help="do not copy the source's audio")
    add_fast_encode_option(group)


def add_fast_encode_option(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--fast-encode",
        action="store_true",
        help="let the encoder use every CPU (faster on large machines; the output then differs from machine to machine)",
    )


def add_backend_option(group: argparse._ActionsContainer) -> None:
    group.add_argument("--backend", choices=("pyav", "decord"), default="pyav", help="decoder for media files (default: pyav)")


def add_decoding_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    add_backend_option(group)
    group.add_argument("--fps", type=float, help="frame rate of an image-folder input (default 30)")
    group.add_argument(
        "--salvage",
        action="store_true",
        help="on a damaged input, keep the frames decoded before the damage instead of failing",
    )


def add_overwrite_option(group: argparse._ActionsContainer) -> None:
    """``--overwrite``: the one way to let a command replace an output that exists (see :mod:`vmat.io.atomic`)."""
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs that exist (a folder only when vmat wrote it and it holds nothing else)",
    )


def is_folder_output(output: str, format: str | None = None) -> bool:
    """Whether a video output named ``output`` in ``format`` (from the name when ``None``) is a folder of images."""
    return FORMATS[format or guess_format(output)].codec is None
