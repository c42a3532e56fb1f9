"""``vmat bench``: the benchmarks that ship with vmat."""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from vmat.bench.io import run_io_benchmark
from vmat.cli.options import add_overwrite_option
from vmat.cli.parsing import parse_size
from vmat.depth.build import DEPTH_ESTIMATORS
from vmat.io import atomic_output, write_test_pattern_clip
from vmat.io.atomic import check_new_output


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench", help="measure speed; score masks and edits", description="Measure vmat's speed; score its masks and edits."
    )
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    io = benchmarks.add_parser(
        "io",
        help="vmat's reader+writer against a plain PyAV decode+encode loop",
        description=(
            "Time a plain PyAV decode -> RGB -> encode loop and vmat's reader + writer doing the same passthrough "
            "of the same clip, alternating runs, and print frames/s for both and their ratio."
        ),
    )
    io.add_argument("clip", nargs="?", help="clip to use (default: a generated test-pattern clip of --size)")
    io.add_argument("--size", type=parse_size, default=(1280, 720), help="size of the generated clip (default 1280x720)")
    io.add_argument("--frames", type=int, default=240, help="length of the generated clip (default 240)")
    io.add_argument("--repeats", type=int, default=3, help="runs of each loop; the median is reported (default 3)")
    io.add_argument("--crf", type=int, default=18)
    io.add_argument("--preset", default="veryfast")
    _add_json_option(io, "also write the result as JSON to this file")
    io.set_defaults(handler=run_io)
    depth = benchmarks.add_parser(
        "depth",
        help="frames/s of a depth stage (and of the depth stabiliser) on synthetic frames",
        description=(
            "Time a depth stage on random frames with masks (DAv2-small with its untrained weights: the run time "
            "does not depend on their values, so no checkpoint is needed), and the stabiliser on its output."
        ),
    )
    depth.add_argument("--estimator", choices=DEPTH_ESTIMATORS, default="ground-plane")
    depth.add_argument("--size", type=parse_size, default=(1280, 720), help="frame size (default 1280x720)")
    depth.add_argument("--frames", type=int, default=8)
    depth.add_argument("--batch-size", type=int, default=4)
    depth.add_argument("--input-size", type=int, default=518, help="DAv2 short side (default 518)")
    depth.add_argument("--repeats", type=int, default=3)
    depth.add_argument("--device")
    depth.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    _add_json_option(depth, "also write the result as JSON to this file")
    depth.set_defaults(handler=run_depth)
    edits = benchmarks.add_parser(
        "edits",
        help="edit fidelity on the synthetic suite's exact ground truth, or time per edit at 720p",
        description="Score removal and reordering against exact edited frames (fidelity), or time each edit at 1280x720 (speed).",
    )
    kind = edits.add_subparsers(dest="measure", metavar="MEASURE", required=True)
    fidelity = kind.add_parser("fidelity", help="L1, L2, PSNR of each edit per level, with ground-truth, oracle and vmat layers")
    fidelity.add_argument("--suite", default="standard", help="synthetic suite (default standard)")
    fidelity.add_argument("--clip", action="append", help="only this clip of the suite (repeatable)")
    fidelity.set_defaults(handler=run_edits_fidelity)
    speed = kind.add_parser("speed", help="ms per edit at 1280x720, and whole-clip removal frames/s")
    speed.add_argument("--frames", type=int, default=24)
    speed.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    speed.set_defaults(handler=run_edits_speed)
    pipeline = benchmarks.add_parser(
        "pipeline",
        help="frames/s, per-stage ms and peak memory of vmat run, next to the raw decode+encode loop",
        description=(
            "Run the raw PyAV decode+encode loop, then vmat run (each configuration in a fresh process, for its peak "
            "memory) on the same clip, and print one table."
        ),
    )
    pipeline.add_argument("clip", help="clip to run on")
    pipeline.add_argument("--frames", type=int, help="loop the clip to this many frames first (to show memory flat in length)")
    pipeline.add_argument(
        "--process-size",
        type=int,
        action="append",
        default=[],
        metavar="PIXELS",
        help="also run at this processing size (repeatable)",
    )
    pipeline.add_argument(
        "--config", metavar="FILE", action="append", default=[],
        help="a TOML run configuration (see vmat run --print-config), run at every size; repeatable (default: the defaults)",
    )
    pipeline.add_argument("--no-full-size", action="store_true", help="skip the run at the source size")
    _add_json_option(pipeline, "also write the results as JSON here")
    pipeline.set_defaults(handler=run_pipeline)
    masks = benchmarks.add_parser(
        "masks",
        help="mask propagators side by side from frame 0's ground truth: DAVIS J, F, J&F and ms/frame",
        description=(
            "Propagate frame 0's ground-truth id mask through every sequence with each method (every registered "
            "propagator by default) and print DAVIS J, F and J&F (frames 1..N-2, per object, x100) and ms per frame. "
            "With --auto, start from the people vmat finds without a prompt and score J after matching ids to the "
            "ground truth once per clip."
        ),
    )
    source = masks.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        type=Path,
        help="folder of NAME/NAME.mp4 + NAME/masks/*.png (default: ../shared/data/davis beside the repository)",
    )
    source.add_argument("--synthetic", metavar="SUITE", help="use a synthetic suite's clips instead (exact ground truth)")
    masks.add_argument(
        "--method", action="append", metavar="NAME", help="a registered propagator (repeatable; default: all of them)"
    )
    masks.add_argument("--sequence", action="append", metavar="NAME", help="only this sequence of --data (repeatable)")
    masks.add_argument("--frames", type=int, help="only the first N frames of each sequence (at least 3)")
    masks.add_argument("--auto", action="store_true", help="start from the automatic people finder instead of the ground truth")
    _add_json_option(masks, "also write every score as JSON to this file")
    masks.set_defaults(handler=run_masks)
    completion = benchmarks.add_parser(
        "completion",
        help="background completion, previous and current side by side: PSNR, SSIM, sharpness, warping error",
        description=(
            "Remove people with realistic masks from the synthetic suite, and a DAVIS person pasted into real clips, "
            "with the previous and the current background completion; print PSNR, SSIM, sharpness and warping error "
            "where the background was seen by some frame and where no frame saw it (see vmat.bench.completion)."
        ),
    )
    completion.add_argument("--suite", default="standard", help="synthetic suite (default standard)")
    completion.add_argument("--clip", action="append", help="only this clip of the suite (repeatable)")
    completion.add_argument("--data", type=Path, help="../shared/data-like folder for the real-footage test (default: none)")
    completion.add_argument("--frames", type=int, default=40, help="frames of each real clip (default 40)")
    completion.add_argument(
        "--time-frames", type=int, default=0, help="also time completion on this many 1280x720 frames (needs --data)"
    )
    completion.set_defaults(handler=run_completion)
    return parser


def run_completion(args: argparse.Namespace) -> int:
    from vmat.bench.completion import completion_benchmark

    print(completion_benchmark(args.suite, args.clip, args.data, args.frames, time_frames=args.time_frames))
    return 0


def _add_json_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--json", type=Path, help=help)
    add_overwrite_option(parser)


def _check_json(args: argparse.Namespace) -> None:
    """Before any measuring: the --json output follows the output policy (:mod:`vmat.io.atomic`)."""
    if args.json is not None:
        check_new_output(args.json, overwrite=args.overwrite, inputs=[getattr(args, "clip", None)], is_dir=False)


def _write_json(path: Path, data: object) -> None:
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n")


def run_masks(args: argparse.Namespace) -> int:
    from vmat.bench.masks import DEFAULT_DATA, folder_sequences, markdown, run_benchmark, synthetic_sequences, to_json
    from vmat.errors import ConfigError

    if args.frames is not None and args.frames < 3:
        raise ConfigError(f"--frames must be at least 3 (DAVIS scores frames 1..N-2), not {args.frames}.")
    _check_json(args)
    if args.synthetic is not None:
        if args.sequence:
            raise ConfigError("--sequence picks sequences of --data, not of a synthetic suite.")
        sequences, data = synthetic_sequences(args.synthetic), f"synthetic suite {args.synthetic}"
    else:
        folder = args.data if args.data is not None else DEFAULT_DATA
        if args.data is None and not folder.is_dir():
            raise ConfigError("no ../shared/data/davis beside the repository: give the data folder with --data.")
        sequences, data = folder_sequences(folder, args.sequence), str(folder.resolve())
    results = run_benchmark(sequences, args.method, args.frames, args.auto)
    print(markdown(results, args.auto))
    if args.json is not None:
        _write_json(args.json, to_json(results, data, args.frames, args.auto))
    return 0


def run_pipeline(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from vmat.bench.pipeline import describe, loop_clip, raw_loop_fps, run_in_child
    from vmat.pipeline.config_file import read_run_config, run_config_from_mapping
    from vmat.pipeline.run import RunConfig

    _check_json(args)
    bases = [(Path(name).stem, run_config_from_mapping(read_run_config(name), name)) for name in args.config] or [
        ("", RunConfig())
    ]
    sizes = ([] if args.no_full_size else [None]) + args.process_size
    with tempfile.TemporaryDirectory(prefix="vmat-bench-") as folder:
        clip = loop_clip(args.clip, Path(folder) / "looped.mp4", args.frames) if args.frames else Path(args.clip)
        raw = raw_loop_fps(clip)
        runs = [
            run_in_child(
                f"{name}{', ' if name else ''}{'source size' if size is None else f'process size {size}'}",
                clip, Path(folder) / f"run{number}-{size}", replace(base, process_size=size),
            )
            for number, (name, base) in enumerate(bases)
            for size in sizes
        ]
    print(describe(args.clip, raw, runs))
    if args.json:
        results = {"clip": args.clip, "raw_fps": raw, "runs": [asdict(run) | {"fps": run.fps} for run in runs]}
        _write_json(args.json, results)
    return 0


def run_edits_fidelity(args: argparse.Namespace) -> int:
    from vmat.bench.edits import fidelity

    print(fidelity(args.suite, args.clip))
    return 0


def run_edits_speed(args: argparse.Namespace) -> int:
    import torch

    from vmat.bench.edits import speed

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(speed(args.frames))
    return 0


def run_depth(args: argparse.Namespace) -> int:
    import torch

    from vmat.depth.bench import bench_depth

    _check_json(args)
    if args.threads is not None:
        # On a shared machine fewer threads than cores can be much faster: idle OpenMP workers spin.
        torch.set_num_threads(args.threads)
    width, height = args.size
    result = bench_depth(
        args.estimator,
        width=width,
        height=height,
        frames=args.frames,
        batch_size=args.batch_size,
        input_size=args.input_size,
        repeats=args.repeats,
        device=args.device,
    )
    print(result.describe())
    if args.json:
        _write_json(args.json, asdict(result))
    return 0


def run_io(args: argparse.Namespace) -> int:
    _check_json(args)
    with tempfile.TemporaryDirectory(prefix="vmat-bench-") as folder:
        clip = args.clip
        if clip is None:
            width, height = args.size
            clip = write_test_pattern_clip(Path(folder) / "pattern.mp4", width=width, height=height, num_frames=args.frames)
        result = run_io_benchmark(clip, repeats=args.repeats, crf=args.crf, preset=args.preset)
        if args.clip is None:
            result.clip = "generated test pattern"
    print(result.describe())
    if args.json:
        _write_json(args.json, result.to_dict())
    return 0
