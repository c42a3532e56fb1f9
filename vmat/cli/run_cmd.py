"""``vmat run``: the whole pipeline on one clip."""

from __future__ import annotations

import argparse
from dataclasses import replace

from vmat.cli.options import add_backend_option, add_fast_encode_option, add_overwrite_option
from vmat.decomposition.build import DECOMPOSERS
from vmat.depth.build import DEPTH_ESTIMATORS
from vmat.pipeline.config_file import config_to_toml, read_run_config, run_config_from_mapping
from vmat.pipeline.run import RunConfig, run_clip
from vmat.pipeline.stages import TEMPORAL_MODES


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "run",
        help="run the pipeline on a clip: layers per person, edits, video out",
        description=(
            "Decode a clip, find each person's mask on every frame (propagated from a prompt), estimate depth, decompose every frame into "
            "layers (background + one alpha/colour plane per person), complete the background from other "
            "frames, apply the edits and encode the result with the source audio. Writes CLIP.vmat.mp4, "
            "CLIP.masks (per-frame id masks), CLIP.vlayers (the layers, reusable by later edits) and CLIP.ids.png (the first frame with each "
            "person's id) into the output folder."
        ),
    )
    parser.add_argument("clip", help="input video file")
    parser.add_argument("-o", "--output", default="vmat_out", help="output folder (default: vmat_out)")
    masks = parser.add_argument_group("people (default: found by the person detector on frame 0; prompt to choose who)")
    given = masks.add_mutually_exclusive_group()
    given.add_argument(
        "--prompt",
        metavar="FILE",
        help="a JSON prompt file (boxes, clicks, scribbles; see vmat masks --help) or an id-mask PNG of --prompt-frame",
    )
    given.add_argument("--masks", metavar="FOLDER", help="per-frame id-mask PNGs made earlier (00000.png, ...): no propagation")
    masks.add_argument("--prompt-frame", type=int, help="the frame an id-mask --prompt belongs to (default 0)")
    edit = parser.add_argument_group("edits")
    edit.add_argument("--remove", type=int, nargs="+", metavar="ID", help="remove these people")
    edit.add_argument("--keep-shadow", action="store_true", help="with --remove: leave the removed people's shadows on the ground")
    edit.add_argument("--reorder", type=int, nargs=2, metavar=("P", "Q"), help="swap who is in front: person P and person Q")
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
        help="decomposition into layers: mask-matting (weight-free, default) or mpmat (the network, shipped weights)",
    )
    stages.add_argument("--decomposer-checkpoint", metavar="PATH", help="MP-Mat weights (.safetensors) for --decomposer mpmat")
    stages.add_argument(
        "--temporal",
        choices=TEMPORAL_MODES,
        help="temporal consistency: fusion (default, weight-free: each matte holds where the camera-aligned frame is "
        "still; MaGGIe's forward fusion), refiner (the learned Conv-GRU refiner with the shipped weights, then the "
        "same fusion; slower) or off",
    )
    stages.add_argument("--temporal-checkpoint", metavar="PATH", help="temporal refiner weights (.safetensors) for --temporal refiner")
    stages.add_argument(
        "--process-size",
        type=int,
        metavar="PIXELS",
        help="run depth, decomposition and completion with the frame's longer side at most PIXELS (faster; the output "
        "keeps the source size and its detail wherever the source is shown); default: the source size",
    )
    stages.add_argument("--no-completion", action="store_true", help="do not recover the background hidden behind people")
    stages.add_argument("--batch-size", type=int, help="frames per batch in the model stages (default 4)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--no-layers", action="store_true", help="do not keep the layers file")
    out.add_argument("--no-preview", action="store_true", help="do not write the labelled first frame")
    out.add_argument(
        "--people", action="store_true", help="also write each person as CLIP.personID.matte.mp4 (grey alpha) and CLIP.personID.webm (RGBA)"
    )
    out.add_argument("--crf", type=int, help="H.264 quality of the video (default 18)")
    out.add_argument("--preset", help="x264 preset (default veryfast)")
    add_fast_encode_option(out)
    add_overwrite_option(out)
    add_backend_option(stages)
    parser.add_argument("--config", metavar="FILE", help="a TOML run configuration (see --print-config); flags override it")
    parser.add_argument("--print-config", action="store_true", help="print the configuration this command would use, as TOML, and stop")
    # No flag has a default of its own: an absent flag leaves the config file's value (or RunConfig's default).
    parser.set_defaults(handler=run, backend=None, people=None)
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
        "write_layers": False if args.no_layers else None,
        "write_preview": False if args.no_preview else None,
        "write_people": args.people,
        "crf": args.crf,
        "preset": args.preset,
        "fast_encode": True if args.fast_encode else None,
        "batch_size": args.batch_size,
        "backend": args.backend,
    }
    edits = {
        "remove": tuple(args.remove) if args.remove else None,
        "reorder": tuple(args.reorder) if args.reorder else None,
        "background": args.background,
        "keep_shadow": True if args.keep_shadow else None,
    }
    edit = replace(config.edit, **{name: value for name, value in edits.items() if value is not None})
    return replace(config, edit=edit, **{name: value for name, value in flags.items() if value is not None})


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.print_config:
        print(config_to_toml(config), end="")
        return 0
    summary = run_clip(args.clip, args.output, config, overwrite=args.overwrite)
    if not args.quiet:
        print(summary.describe())
    return 0
