"""``vmat remove``, ``vmat reorder``, ``vmat drag``, ``vmat replace-bg``: one edit of a clip through its layers.

Each takes the clip and either its saved layers (``--layers``, from ``vmat run`` or an earlier edit: the
models do not run again) or the options to make them (``--prompt`` / ``--masks``; the layers are then
saved beside the output for the next edit).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from vmat.cli.options import (
    add_backend_option,
    add_fast_encode_option,
    add_old_spelling,
    add_output_option,
    add_overwrite_option,
    add_range_options,
    is_folder_output,
)
from vmat.cli.people import check_edit_people
from vmat.editing import Placement
from vmat.errors import ConfigError
from vmat.io import open_video
from vmat.io.atomic import atomic_outputs, check_new_output
from vmat.layers import LayersReader
from vmat.pipeline.edits import DragSpec, EditSpec
from vmat.pipeline.run import RunConfig, edit_clip, make_layers


def register(subparsers: argparse._SubParsersAction) -> None:
    remove = _edit_parser(subparsers, "remove", "remove people (what was behind them is recovered from other frames)")
    people = remove.add_mutually_exclusive_group(required=True)
    people.add_argument("--remove", type=int, nargs="+", metavar="ID", help="the people to remove (as in vmat run --remove)")
    add_old_spelling(people, "--id", "--remove", "remove", type=int, nargs="+", metavar="ID")
    remove.add_argument("--keep-shadow", action="store_true", help="leave their shadows on the ground")
    _add_keep_hidden(remove)
    remove.set_defaults(
        make_edit=lambda args: EditSpec(remove=tuple(args.remove), keep_shadow=args.keep_shadow, keep_hidden=args.keep_hidden)
    )

    reorder = _edit_parser(subparsers, "reorder", "swap who is in front: two people exchange their places in depth")
    reorder.add_argument(
        "--swap", type=int, nargs=2, required=True, metavar=("P", "Q"), help="the two people (as in vmat run --swap)"
    )
    _add_keep_hidden(reorder)
    reorder.set_defaults(make_edit=lambda args: EditSpec(reorder=tuple(args.swap), keep_hidden=args.keep_hidden))

    drag = _edit_parser(subparsers, "drag", "move a person: shift, scale and rotate them in every frame")
    mover = drag.add_mutually_exclusive_group(required=True)
    mover.add_argument("--drag", type=int, metavar="ID", help="the person to move")
    add_old_spelling(mover, "--id", "--drag", "drag", type=int, metavar="ID")
    drag.add_argument(
        "--by",
        type=_offset,
        default=(0.0, 0.0),
        metavar="DX,DY",
        help="shift in pixels (default 0,0); write --by=-40,10 when it starts with a minus",
    )
    drag.add_argument("--scale", type=float, default=1.0, help="scale about the person's centre (default 1)")
    drag.add_argument("--angle", type=float, default=0.0, help="rotation in degrees, counter-clockwise (default 0)")
    drag.add_argument("--keep-depth", action="store_true", help="stay at their depth instead of coming to the front")
    drag.add_argument("--keep-shadow", action="store_true", help="leave their shadow where they stood")
    _add_keep_hidden(drag)
    drag.set_defaults(make_edit=_drag_edit)

    background = _edit_parser(subparsers, "replace-bg", "replace the background behind everyone")
    background.add_argument(
        "--background",
        required=True,
        metavar="SPEC",
        help="#rrggbb or r,g,b colour, blur:SIGMA, an image file or a video file (looped)",
    )
    background.set_defaults(make_edit=lambda args: EditSpec(background=args.background))


def _edit_parser(subparsers: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=f"{summary[0].upper()}{summary[1:]}. Writes the edited video (-o, one file) with the clip's audio; "
        "when the layers are made here, they (OUTPUT.vlayers) and the masks (OUTPUT.masks) are kept beside it for the next "
        "edit. Person ids are shown in CLIP.ids.png (vmat run) or by vmat masks --preview.",
    )
    parser.add_argument("clip", help="input video file")
    add_output_option(parser, "the edited video, one file (.mp4/.mov/.mkv)", required=True)
    layers = parser.add_argument_group("layers (one of; default: make them, people found by the person detector)")
    given = layers.add_mutually_exclusive_group()
    given.add_argument(
        "--layers",
        metavar="PATH",
        help="the clip's saved layers (CLIP.vlayers): nothing is recomputed, and the frames edited are those they "
        "were made from (--start/--end need not be given again)",
    )
    given.add_argument(
        "--prompt",
        metavar="FILE",
        help="make the layers from a JSON prompt file or an id-mask PNG of --prompt-frame (see vmat run --help)",
    )
    given.add_argument("--masks", metavar="FOLDER", help="make the layers from per-frame id-mask PNGs")
    layers.add_argument(
        "--prompt-frame", type=int, default=0, metavar="N", help="the frame an id-mask PNG --prompt belongs to (default 0)"
    )
    parser.add_argument("--no-completion", action="store_true", help="do not recover what people hid (background, people behind)")
    parser.add_argument(
        "--crf", type=int, default=RunConfig.crf, help=f"H.264 quality, lower is better (default {RunConfig.crf})"
    )
    parser.add_argument("--preset", default=RunConfig.preset, help=f"x264 preset (default {RunConfig.preset})")
    add_fast_encode_option(parser)
    add_backend_option(parser)
    add_range_options(parser)
    add_overwrite_option(parser)
    # No --start: with --layers, the frames they were made from; without, frame 0.
    parser.set_defaults(handler=run, start=None)
    return parser


def _offset(text: str) -> tuple[float, float]:
    try:
        dx, dy = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"an offset looks like 40,-10, not {text!r}") from None
    return dx, dy


def _drag_edit(args: argparse.Namespace) -> EditSpec:
    if args.scale <= 0:
        raise ConfigError(f"--scale must be positive, not {args.scale}")
    dx, dy = args.by
    return EditSpec(
        drag=DragSpec(args.drag, Placement(dx=dx, dy=dy, scale=args.scale, angle=args.angle), args.keep_depth),
        keep_shadow=args.keep_shadow,
        keep_hidden=args.keep_hidden,
    )


def _add_keep_hidden(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-hidden",
        action="store_true",
        help="leave the people behind them cut where they hid them (by default completed from nearby frames)",
    )


def _check_found(edit: EditSpec, layers: Path, clip: str) -> None:
    """The people an edit names, against those in the layers just made for it (the staged file's name means
    nothing to the user; nobody found means the detector saw no one)."""
    found = LayersReader(layers).info.instance_ids
    missing = sorted(set(edit.instance_ids) - set(found))
    if missing:
        people = f"only people {list(found)} were" if found else "nobody was"
        raise ConfigError(
            f"person id(s) {missing} are not in {clip!r}: {people} found there; name people with --prompt or --masks"
        )


def run(args: argparse.Namespace) -> int:
    make_edit: Callable[[argparse.Namespace], EditSpec] = args.make_edit
    edit = make_edit(args)
    output = Path(args.output)
    # Without --layers the edit makes them, and the masks unless given, beside the output for the next edit.
    made = (
        []
        if args.layers is not None
        else [output.with_suffix(".vlayers")] + ([output.with_suffix(".masks")] if args.masks is None else [])
    )
    check_edit_people(edit.instance_ids, prompt=args.prompt, prompt_frame=args.prompt_frame, masks=args.masks)
    with open_video(args.clip, backend=args.backend, start=args.start or 0, end=args.end):
        pass  # the clip opens, and the frame range lies inside it
    inputs = [args.clip, args.layers, args.prompt, args.masks, getattr(args, "background", None)]
    check_new_output(output, overwrite=args.overwrite, inputs=inputs, is_dir=is_folder_output(args.output))
    for path in made:
        check_new_output(path, overwrite=args.overwrite, inputs=inputs, is_dir=True)
    lines = []
    # The edited video and the layers it was made from appear together, or not at all.
    with atomic_outputs(output.parent) as staging:
        layers = args.layers
        if layers is None:
            layers = staging.folder / made[0].name
            config = RunConfig(
                masks_folder=args.masks,
                prompt=args.prompt,
                prompt_frame=args.prompt_frame,
                backend=args.backend,
                start=args.start or 0,
                end=args.end,
            )
            lines += make_layers(args.clip, layers, config)
            _check_found(edit, layers, args.clip)
        summary = edit_clip(
            args.clip, layers, staging.folder / output.name, edit, complete=not args.no_completion, crf=args.crf,
            preset=args.preset, backend=args.backend, deterministic=not args.fast_encode, start=args.start, end=args.end,
        )
    if not args.quiet:
        print(staging.shown("\n".join([*lines, summary.describe()])))
    return 0
