"""Command-line options that several subcommands share, defined once."""

from __future__ import annotations

import argparse
import sys

from vmat.errors import ConfigError
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


class _DeprecatedSpelling(argparse.Action):
    """An old spelling of an option: does what the new one does, after a one-line note on stderr."""

    def __init__(self, option_strings: list[str], dest: str, replacement: str, **kwargs) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.replacement = replacement

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{parser.prog}: note: {option_string} is an old spelling of {self.replacement}; it will go away", file=sys.stderr)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def add_old_spelling(group: argparse._ActionsContainer, old: str, replacement: str, dest: str, **kwargs) -> None:
    """Keep ``old`` working as ``replacement`` (same ``dest``, ``nargs``, ``type``; a flag with ``nargs=0`` stores
    ``const``), hidden from ``--help``, so that scripts written for it keep running; using it prints a one-line
    note (see docs/cli.md)."""
    group.add_argument(old, action=_DeprecatedSpelling, replacement=replacement, dest=dest, help=argparse.SUPPRESS, **kwargs)


def add_range_options(parser: argparse.ArgumentParser) -> None:
    """``--start`` / ``--end``: work on frames START to END-1 only (see :func:`vmat.io.open_video`)."""
    group = parser.add_argument_group("frame range (the part is then a clip of its own: its frames count from 0)")
    group.add_argument("--start", type=_frame_number, default=0, metavar="N", help="first frame to use (default 0)")
    group.add_argument(
        "--end", type=_frame_number, metavar="N", help="the frame to stop before (default: to the last; past it reads to it)"
    )


def _frame_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a frame number is a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"frame numbers start at 0, not {value}")
    return value


def add_device_option(group: argparse._ActionsContainer, what: str, default: str = "cpu") -> None:
    """``--device``: where ``what`` (``"the networks run"``); checked by :func:`vmat.cli.parsing.check_device` before any work."""
    group.add_argument("--device", metavar="DEVICE", help=f"where {what}: cpu, cuda or cuda:N (default {default})")


def add_output_option(
    parser: argparse.ArgumentParser,
    what: str,
    *,
    required: bool = False,
    default: str | None = None,
    old_positional: bool = False,
) -> None:
    """``-o/--output``: one file where the command writes one file, a folder where it writes several; ``what``
    says which, in the help. ``old_positional`` keeps the output's old spelling, a second positional argument,
    working (hidden); read the value with :func:`output_of`."""
    shown = f" (default: {default})" if default is not None else ""
    if old_positional:
        parser.add_argument("old_output", nargs="?", help=argparse.SUPPRESS)
        parser.set_defaults(output_default=default, output_required=required)
        required, default = False, None
    parser.add_argument("-o", "--output", required=required, default=default, metavar="PATH", help=f"{what}{shown}")


def output_of(args: argparse.Namespace) -> str:
    """The output path of a command registered with ``add_output_option(..., old_positional=True)``."""
    if args.old_output is None:
        if args.output is None and args.output_required:
            raise ConfigError("name the output with -o PATH")
        return args.output if args.output is not None else args.output_default
    if args.output is not None:
        raise ConfigError(f"two outputs: -o {args.output!r} and {args.old_output!r}; give one, with -o")
    print(
        f"vmat {args.command}: note: an OUTPUT after the input is the old spelling of -o OUTPUT; it will go away", file=sys.stderr
    )
    return args.old_output


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that text written on several lines (the prompt format in an epilog) is
    printed as written; one-line descriptions are wrapped as usual."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)
