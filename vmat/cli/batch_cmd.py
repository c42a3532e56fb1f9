"""``vmat batch``: the pipeline over a folder, glob or manifest of clips, on Ray or in process."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from vmat.errors import ConfigError
from vmat.pipeline.config_file import load_run_config, run_config_from_mapping
from vmat.pipeline.run import RunConfig
from vmat.pipelines.batch import BatchConfig, run_batch
from vmat.pipelines.cluster import ClusterConfig
from vmat.pipelines.job import REPORT_FILE, STATE_FILE
from vmat.pipelines.runner import RayRunnerConfig
from vmat.pipelines.signals import BatchInterrupted


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "batch",
        help="process an archive of clips (resumable; on an embedded local Ray or a Ray cluster)",
        description=(
            "Run the pipeline on every clip of a folder (searched recursively), a glob pattern or a manifest "
            "(CSV/JSONL: a 'clip' column plus per-clip options such as background, remove, masks_folder, output). "
            "Each clip's outputs go to a folder named like the clip, mirroring the input tree (in/a/walk.mp4 -> "
            "OUTPUT_DIR/a/walk.mp4/). A clip's id masks are taken from "
            "a masks_folder column or <clip>.masks/ next to it; without any, the run finds its people "
            f"itself (a prompt column, or automatically). The job is recorded in OUTPUT_DIR/{STATE_FILE}: "
            "running the same command again skips finished clips and redoes the rest. "
            f"The final report is OUTPUT_DIR/{REPORT_FILE}. Exits 1 when a clip failed; SIGINT (130) and SIGTERM (143) "
            "stop the job within seconds, recording the unfinished clips as interrupted. A local Ray listens on "
            "127.0.0.1 only; joining a cluster on another machine needs Ray's token authentication "
            "(RAY_AUTH_MODE=token and the cluster's token)."
        ),
    )
    parser.add_argument("input", help="a folder of clips, a glob pattern (quote it), or a .csv/.jsonl manifest")
    parser.add_argument("output", help="output folder (created; its tree mirrors the input's)")
    parser.add_argument("--manifest", help="per-clip options (.csv/.jsonl) with clip paths relative to INPUT, a folder")
    parser.add_argument("--retries", type=int, default=2, help="extra attempts after a transient failure (default 2)")
    parser.add_argument("--clips-in-flight", type=int, help="clips processed at once (default: --workers with Ray, else 1)")

    ray = parser.add_argument_group("runner")
    ray.add_argument("--runner", choices=("ray", "inprocess"), default="ray", help="where the stages run (default: ray)")
    ray.add_argument("--workers", type=int, default=1, help="Ray actors per stage (default 1)")
    ray.add_argument("--num-gpus", type=float, default=0.0, help="GPU share per actor, e.g. 0.25 (default 0: CPU only)")
    ray.add_argument("--num-cpus", type=float, default=0.25, help="CPU share reserved per actor (default 0.25)")
    ray.add_argument("--max-in-flight", type=int, help="batches of a clip inside the actors at once (default 2*workers+1)")
    ray.add_argument("--address", help="join this Ray cluster (host:port or 'auto') instead of starting a local one")
    ray.add_argument(
        "--connect-timeout", type=float, default=ClusterConfig.connect_timeout,
        help=f"seconds the --address cluster has to answer in (default {ClusterConfig.connect_timeout:g})",
    )

    run = parser.add_argument_group(
        "pipeline (defaults for every clip: --config's, with these flags over it; a manifest overrides them per clip)"
    )
    run.add_argument("--config", metavar="FILE", help="a TOML run configuration, as for vmat run (see vmat run --print-config)")
    run.add_argument("--depth", help=f"depth stage (default {RunConfig.depth})")
    run.add_argument("--depth-checkpoint", help="weights of a learned depth stage")
    run.add_argument("--background", help="replace the background: #rrggbb, r,g,b, blur:SIGMA, an image or a video")
    run.add_argument("--batch-size", type=int, help=f"frames per batch (default {RunConfig.batch_size})")
    run.add_argument("--crf", type=int, help=f"output video quality, lower is better (default {RunConfig.crf})")
    run.add_argument("--preset", help=f"x264 speed preset (default {RunConfig.preset})")
    parser.set_defaults(handler=run_command)
    return parser


def run_config(args: argparse.Namespace) -> RunConfig:
    """Every clip's default configuration: the ``--config`` file's (or the defaults), flags given over it."""
    base = load_run_config(args.config) if args.config else RunConfig()
    flags = {
        "depth": args.depth,
        "depth_checkpoint": args.depth_checkpoint,
        "background": args.background,
        "batch_size": args.batch_size,
        "crf": args.crf,
        "preset": args.preset,
    }
    return run_config_from_mapping({name: value for name, value in flags.items() if value is not None}, "command line", base)


def run_command(args: argparse.Namespace) -> int:
    if args.runner == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError("vmat batch --runner ray needs Ray: pip install 'vmat[ray]' (or run with --runner inprocess)")
    config = BatchConfig(
        runner=args.runner,
        retries=args.retries,
        clips_in_flight=args.clips_in_flight,
        run=run_config(args),
        ray=RayRunnerConfig(
            workers=args.workers, num_cpus=args.num_cpus, num_gpus=args.num_gpus, max_in_flight=args.max_in_flight
        ),
        cluster=ClusterConfig(address=args.address, log_to_driver=not args.quiet, connect_timeout=args.connect_timeout),
        verbose=not args.quiet,
    )
    try:
        report = run_batch(args.input, args.output, config, manifest=args.manifest)
    except BatchInterrupted as stop:
        print(f"vmat batch: {_stopped(stop, Path(args.output))}", file=sys.stderr)
        return stop.exit_code
    if not args.quiet:
        print(report.describe())
    return 1 if report.failed else 0


def _stopped(stop: BatchInterrupted, output: Path) -> str:
    report = stop.report
    if report is None:  # stopped before the job started
        return f"stopped by {stop.name}"
    return (
        f"stopped by {stop.name}: {report.done} done, {report.failed} failed, {report.interrupted} interrupted, "
        f"{report.skipped} skipped (report: {output / REPORT_FILE}); run the same command again to go on"
    )
