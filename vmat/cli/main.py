"""Entry point of the ``vmat`` program.

Each subcommand (or family of closely related ones, like the edits) lives in its own module under
:mod:`vmat.cli` and exposes ``register(subparsers)``; each parser's ``handler`` default is called with the
parsed arguments and returns the process exit code. Errors a user can cause are
:class:`~vmat.errors.VmatError` and are printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from vmat import __version__
from vmat.errors import VmatError
from vmat.progress import set_progress

# Module names under vmat.cli, in the order `vmat --help` lists them.
COMMAND_MODULES = (
    "run_cmd",
    "edit_cmd",
    "masks_cmd",
    "depth_cmd",
    "batch_cmd",
    "demo_cmd",
    "info_cmd",
    "convert_cmd",
    "testclip_cmd",
    "synth_cmd",
    "eval_cmd",
    "bench_cmd",
    "train_cmd",
    "app_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vmat",
        description="Multi-person video matting and layer editing.",
        epilog="The global options work before or after the command: vmat -q run clip.mp4 = vmat run clip.mp4 -q. "
        "vmat COMMAND --help shows a command's options; docs/cli.md has them all.",
    )
    parser.add_argument("--version", action="version", version=f"vmat {__version__}")
    _add_global_options(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"vmat.cli.{name}").register(subparsers)
    for command in {id(p): p for p in subparsers.choices.values()}.values():
        # The same flags after the command; absent there, they leave what was given before it.
        _add_global_options(command.add_argument_group("global options"), default=argparse.SUPPRESS)
    return parser


def _add_global_options(group: argparse._ActionsContainer, default: object) -> None:
    group.add_argument("-q", "--quiet", action="store_true", default=default, help="no progress bars and no summary")
    group.add_argument("--progress", action="store_true", default=default, help="show progress bars even when not on a terminal")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.quiet and args.progress:
        parser.error("-q/--quiet and --progress contradict each other: give one")
    set_progress(False if args.quiet else (True if args.progress else None))
    # A terminated run must unwind like an interrupted one, so that temporary outputs are removed.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.handler(args) or 0)
    except VmatError as error:
        print(f"vmat {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"vmat {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:
        # A full disk is the user's environment, not a bug: one line, like any VmatError. Outputs being written
        # were removed on the way out (vmat.io.atomic).
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" while writing {error.filename!r}" if error.filename else ""
        print(
            f"vmat {args.command}: error: {os.strerror(error.errno).lower()}{where}; unfinished outputs were removed",
            file=sys.stderr,
        )
        return 2


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
