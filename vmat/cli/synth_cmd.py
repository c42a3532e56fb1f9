"""``vmat synth``: generate a synthetic clip with exact ground truth, or a whole benchmark suite."""

from __future__ import annotations

import argparse
from pathlib import Path

from vmat.cli.options import add_overwrite_option
from vmat.cli.parsing import parse_size
from vmat.io.atomic import check_new_output
from vmat.synthetic import LEVELS, SUITES, SceneConfig, SyntheticScene, describe_occlusion, ensure_suite, write_clip


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "synth",
        help="generate synthetic multi-person clips with exact layers",
        description=(
            "Generate a seeded multi-person clip (composite, per-instance alpha and colour, background, depth, "
            "ids, removal and occlusion-swap ground truth) into a folder, or a named benchmark suite."
        ),
    )
    parser.add_argument(
        "output",
        type=Path,
        help="clip folder to write (with --suite: the folder holding the suite's clips, reused: missing or stale clips are made)",
    )
    parser.add_argument("--suite", choices=sorted(SUITES), help="generate this named suite instead of one clip")
    parser.add_argument("--level", choices=sorted(LEVELS), default="medium", help="V-HIM difficulty (default medium)")
    parser.add_argument("--camera", choices=("static", "pan"), default="static", help="static or panning camera")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (training namespace; default 0)")
    parser.add_argument("--size", type=parse_size, default=(320, 192), help="WIDTHxHEIGHT (default 320x192)")
    parser.add_argument("--frames", type=int, default=24, help="number of frames (default 24)")
    parser.add_argument("--fps", type=float, default=24.0, help="frame rate (default 24)")
    parser.add_argument("--people", type=int, help="number of people (default: drawn within the level's range)")
    parser.add_argument("--background", type=Path, help="an image/video file, or a folder of them, to use as backgrounds")
    parser.add_argument("--blur-samples", type=int, default=3, help="motion-blur samples per frame; 1 disables blur (default 3)")
    parser.add_argument("--no-hair", action="store_true", help="draw no semi-transparent hair strands")
    parser.add_argument(
        "--detailed",
        action="store_true",
        help="detailed people: thick soft hair strands with a stray-hair halo, coats and skirts (some sheer), cuffs",
    )
    parser.add_argument("--no-edits", action="store_true", help="do not store removal / swap ground-truth images")
    parser.add_argument("--preview", action="store_true", help="also write preview.mp4 (lossy; for looking, not scoring)")
    add_overwrite_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.suite:
        clips = ensure_suite(args.suite, args.output, edits=not args.no_edits, preview=args.preview)
        if not args.quiet:
            for clip in clips:
                occlusion = clip.manifest["occlusion"]
                print(
                    f"{clip.folder}: {clip.level}, {clip.camera}, {len(clip.instance_ids)} people, {clip.num_frames} frames, "
                    f"occlusion {occlusion['min']:.2f}-{occlusion['max']:.2f}"
                )
            print(describe_occlusion(clips))
        return 0
    check_new_output(args.output, overwrite=args.overwrite, inputs=[args.background], is_dir=True)
    width, height = args.size
    config = SceneConfig(
        level=args.level,
        camera=args.camera,
        width=width,
        height=height,
        num_frames=args.frames,
        fps=args.fps,
        seed=args.seed,
        num_people=args.people,
        motion_blur_samples=args.blur_samples,
        hair=not args.no_hair,
        detailed=args.detailed,
        background=args.background,
    )
    manifest = write_clip(SyntheticScene(config), args.output, edits=not args.no_edits, preview=args.preview)
    if not args.quiet:
        occlusion = manifest["occlusion"]
        print(
            f"wrote {args.output}: {args.level}, {args.camera}, {len(manifest['instance_ids'])} people, "
            f"{manifest['num_frames']} frames, occlusion {occlusion['min']:.2f}-{occlusion['max']:.2f}"
        )
    return 0
