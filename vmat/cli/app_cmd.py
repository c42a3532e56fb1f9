"""``vmat app``: the local web page for prompts, propagation, edits and downloads (see docs/app.md)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from pathlib import Path

from vmat.errors import ConfigError, InputNotFoundError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "app",
        help="a local web page: click people, propagate, edit, download",
        description=(
            "Serve a web page on this machine where you open a clip, click, box or scribble the people on any "
            "frame and see their masks at once, propagate them through the clip, choose edits and outputs, run "
            "them and download the results. The page's prompt is the JSON file `vmat run --prompt` reads."
        ),
    )
    parser.add_argument(
        "clip", nargs="?", type=Path, help="a clip to open in every new tab (optional: the page can open or upload one)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument(
        "--work", type=Path, default=Path("vmat_app"), help="folder for uploads, masks and outputs (default ./vmat_app)"
    )
    parser.add_argument(
        "--root", type=Path, action="append", default=None, metavar="DIR",
        help="a folder whose files the page may open by path (repeatable; default: the current folder and the clip's)",
    )
    parser.add_argument("--max-upload", type=int, default=2048, metavar="MIB", help="largest upload in MiB (default 2048)")
    parser.add_argument("--max-jobs", type=int, default=2, help="background jobs at once, over all tabs (default 2)")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from vmat.app.server import AppConfig, create_app
    except ImportError as error:
        raise ConfigError(f"vmat app needs {error.name}: pip install 'vmat[app]' (starlette and uvicorn).") from None
    clip = None
    if args.clip is not None:
        if not args.clip.is_file():
            raise InputNotFoundError(f"the clip {str(args.clip)!r} does not exist.")
        clip = args.clip.resolve()
    roots = args.root or [Path.cwd()] + ([clip.parent] if clip is not None else [])
    missing = [root for root in roots if not root.is_dir()]
    if missing:
        raise InputNotFoundError(f"the root folder {str(missing[0])!r} does not exist.")
    if args.max_upload < 1 or args.max_jobs < 1:
        raise ConfigError("--max-upload and --max-jobs are at least 1.")
    loopback = _is_loopback(args.host)
    port = _free_port(args.host, args.port)
    config = AppConfig(
        work=args.work.resolve(), roots=roots, clip=clip, max_upload_bytes=args.max_upload << 20, max_jobs=args.max_jobs,
        allowed_hosts=["127.0.0.1", "localhost", "::1"] if loopback else ["*"],
    )
    if not loopback:
        print(
            f"vmat app: warning: listening on {args.host}: the page has no login, so anyone who can reach this port "
            f"can open clips under {', '.join(map(str, roots))}, upload files and run jobs on this machine.",
            file=sys.stderr,
        )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"vmat app: open http://{shown}:{port}/ (work folder {config.work}; Ctrl-C to stop)", flush=True)
    uvicorn.run(create_app(config), host=args.host, port=port, log_level="warning")
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _free_port(host: str, port: int) -> int:
    """``port`` when it can be bound on ``host`` (a free one for 0), else a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}.") from None
        return probe.getsockname()[1]
