"""``vmat run``: the whole pipeline on one clip."""

from __future__ import annotations

import argparse
import sys

from vmat.cli.options import (
    HelpFormatter,
    add_backend_option,
    add_device_option,
    add_fast_encode_option,
    add_old_spelling,
    add_output_option,
    add_overwrite_option,
    add_range_options,
)
from vmat.cli.parsing import check_device
from vmat.cli.people import check_edit_people, nobody_found
from vmat.decomposition.build import DECOMPOSERS
from vmat.depth.build import DEPTH_ESTIMATORS
from vmat.io import open_video
from vmat.io.atomic import check_output_folder
from vmat.pipeline.config_file import config_to_toml, read_run_config, run_config_from_mapping
from vmat.pipeline.run import RunConfig, run_clip
from vmat.pipeline.stages import TEMPORAL_MODES
from vmat.propagation.prompts import PROMPT_HELP

_NO_PEOPLE = "the outputs hold no people (the video is the clip re-encoded)"


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "run",
        help="run the pipeline on a clip: layers per person, edits, video out",
        description=(
            "Decode a clip, find each person's mask on every frame (propagated from a prompt), estimate depth, "
            "decompose every frame into layers (background + one alpha/colour plane per person), complete the background "
            "from other frames, apply the edits and encode the result with the source audio. Writes several files into the "
            "-o folder: CLIP.vmat.mp4 (the edited video), CLIP.ids.png (the first frame with each person's id) and, "
            "as asked, CLIP.vlayers (--keep-layers: the layers, reusable by vmat remove/reorder/drag/replace-bg "
            "--layers), CLIP.masks (--keep-masks: per-frame id masks, reusable by --masks) and each person's videos "
            "(--person-videos)."
        ),
        epilog=PROMPT_HELP,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("clip", help="input video file")
    add_output_option(parser, "output folder (vmat run writes several files into it; not a video file name)", default="vmat_out")
    who = parser.add_argument_group("who is who (default: the person detector finds people on frame 0; a prompt chooses them)")
    given = who.add_mutually_exclusive_group()
    given.add_argument(
        "--prompt",
        metavar="FILE",
        help="a JSON prompt file (boxes, clicks, scribbles, id masks; format below) or an id-mask PNG of --prompt-frame",
    )
    given.add_argument("--masks", metavar="FOLDER", help="per-frame id-mask PNGs made earlier (000000.png, ...): no propagation")
    who.add_argument("--prompt-frame", type=int, metavar="N", help="the frame an id-mask PNG --prompt belongs to (default 0)")
    edit = parser.add_argument_group("edits (person ids as in the prompt, or as CLIP.ids.png shows them)")
    edit.add_argument("--remove", type=int, nargs="+", metavar="ID", help="remove these people")
    edit.add_argument(
        "--keep-shadow", action="store_true", help="with --remove: leave the removed people's shadows on the ground"
    )
    edit.add_argument("--swap", type=int, nargs=2, metavar=("P", "Q"), help="swap who is in front: person P and person Q")
    edit.add_argument(
        "--keep-hidden",
        action="store_true",
        help="with --remove or --swap: leave the people behind cut where the others hid them (default: completed)",
    )
    add_old_spelling(edit, "--reorder", "--swap", "swap", type=int, nargs=2, metavar=("P", "Q"))
    edit.add_argument(
        "--background",
        metavar="SPEC",
        help="new background: #rrggbb or r,g,b colour, blur:SIGMA, an image file or a video file (looped)",
    )
    stages = parser.add_argument_group("stages")
    stages.add_argument(
        "--propagator",
        choices=("prior", "flow"),
        help="mask propagation: prior (default: optical flow fused with the person prior) or flow (weight-free)",
    )
    stages.add_argument("--depth", choices=DEPTH_ESTIMATORS, help="depth stage (default: ground-plane, weight-free)")
    stages.add_argument("--depth-checkpoint", metavar="PATH", help="weights for --depth dav2-small (depth_anything_v2_vits.pth)")
    stages.add_argument(
        "--decomposer",
        choices=DECOMPOSERS,
        help="decomposition into layers: mask-matting (weight-free closed-form mattes, default), mask-matting-fast (the "
        "previous guided-filter mattes: cheaper, harder edges) or mpmat (the network, shipped weights)",
    )
    stages.add_argument("--decomposer-checkpoint", metavar="PATH", help="MP-Mat weights (.safetensors) for --decomposer mpmat")
    stages.add_argument(
        "--temporal",
        choices=TEMPORAL_MODES,
        help="temporal consistency: fusion (default, weight-free: each matte holds where the camera-aligned frame is "
        "still; MaGGIe's forward fusion), refiner (the learned Conv-GRU refiner with the shipped weights, then the "
        "same fusion; slower) or off",
    )
    stages.add_argument(
        "--temporal-checkpoint", metavar="PATH", help="temporal refiner weights (.safetensors) for --temporal refiner"
    )
    stages.add_argument(
        "--process-size",
        type=int,
        metavar="PIXELS",
        help="run depth, decomposition and completion with the frame's longer side at most PIXELS (faster; the output "
        "keeps the source size and its detail wherever the source is shown); default: the source size",
    )
    stages.add_argument("--no-completion", action="store_true", help="do not recover what people hid (background, people behind)")
    stages.add_argument(
        "--batch-size", type=int, metavar="N", help=f"frames per batch in the model stages (default {RunConfig.batch_size})"
    )
    stages.add_argument(
        "--no-pipelining",
        action="store_true",
        help="run every stage in this process (by default, when a CPU is to spare, the leading stages run in a second "
        "process alongside the rest, with the same outputs)",
    )
    add_device_option(stages, "the networks run", "cpu; --depth dav2-small: cuda when present")
    add_range_options(parser)
    out = parser.add_argument_group("outputs")
    out.add_argument(
        "--keep-layers",
        action="store_true",
        default=None,
        help="also write CLIP.vlayers, for later edits (vmat remove ... --layers)",
    )
    add_old_spelling(out, "--no-layers", "the default (no layers file unless --keep-layers)", "keep_layers", nargs=0, const=False)
    out.add_argument(
        "--keep-masks",
        action="store_true",
        default=None,
        help="also write CLIP.masks, the per-frame id masks (reusable by --masks)",
    )
    out.add_argument("--no-preview", action="store_true", help="do not write the labelled first frame")
    out.add_argument(
        "--person-videos",
        action="store_true",
        dest="people",
        help="also write each person as CLIP.personID.matte.mp4 (grey alpha) and CLIP.personID.webm (RGBA)",
    )
    add_old_spelling(out, "--people", "--person-videos", "people", nargs=0, const=True, default=None)
    out.add_argument("--crf", type=int, help=f"H.264 quality of the video, lower is better (default {RunConfig.crf})")
    out.add_argument("--preset", help=f"x264 preset (default {RunConfig.preset})")
    add_fast_encode_option(out)
    add_overwrite_option(out)
    add_backend_option(stages)
    parser.add_argument("--config", metavar="FILE", help="a TOML run configuration (see --print-config); flags override it")
    parser.add_argument(
        "--print-config", action="store_true", help="print the configuration this command would use, as TOML, and stop"
    )
    # No flag has a default of its own: an absent flag leaves the config file's value (or RunConfig's default).
    parser.set_defaults(handler=run, backend=None, people=None, start=None)
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run's configuration: the ``--config`` file's (or the defaults), with every flag given on the
    command line in place of the file's value."""
    config = run_config_from_mapping(read_run_config(args.config), args.config) if args.config else RunConfig()
    flags = {
        "masks_folder": args.masks,
        "prompt": args.prompt,
        "prompt_frame": args.prompt_frame,
        "propagator": args.propagator,
        "depth": args.depth,
        "depth_checkpoint": args.depth_checkpoint,
        "decomposer": args.decomposer,
        "decomposer_checkpoint": args.decomposer_checkpoint,
        "temporal": args.temporal,
        "temporal_checkpoint": args.temporal_checkpoint,
        "process_size": args.process_size,
        "complete_background": False if args.no_completion else None,
        "write_layers": args.keep_layers,
        "write_masks": args.keep_masks,
        "write_preview": False if args.no_preview else None,
        "write_people": True if args.people is not None else None,
        "crf": args.crf,
        "preset": args.preset,
        "fast_encode": True if args.fast_encode else None,
        "batch_size": args.batch_size,
        "pipelining": False if args.no_pipelining else None,
        "backend": args.backend,
        "device": args.device,
        "start": args.start,
        "end": args.end,
    }
    edits = {
        "remove": tuple(args.remove) if args.remove else None,
        "reorder": tuple(args.swap) if args.swap else None,
        "background": args.background,
        "keep_shadow": True if args.keep_shadow else None,
        "keep_hidden": True if args.keep_hidden else None,
    }
    given = {name: value for name, value in {**flags, **edits}.items() if value is not None}
    return run_config_from_mapping(given, "command line", config)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.print_config:
        print(config_to_toml(config), end="")
        return 0
    # Everything the user can get wrong is checked before the first frame is decoded.
    check_output_folder(args.output, "-o")
    check_device(config.device)
    with open_video(args.clip, backend=config.backend, start=config.start, end=config.end):
        pass  # the clip opens, and the frame range lies inside it
    check_edit_people(config.edit.instance_ids, prompt=config.prompt, prompt_frame=config.prompt_frame, masks=config.masks_folder)
    summary = run_clip(args.clip, args.output, config, overwrite=args.overwrite)
    if not args.quiet:
        print(summary.describe())
    if not summary.ids:
        print(f"vmat run: warning: {nobody_found(args.clip, config.prompt or config.masks_folder, _NO_PEOPLE)}", file=sys.stderr)
    return 0
