"""``vmat train``: train the MP-Mat decomposition network or the temporal refiner on synthetic data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vmat.cli.parsing import parse_size
from vmat.io.atomic import created_folder
from vmat.training import TASKS, TrainConfig, parse_crop, train
from vmat.training.config import GUIDANCE, OPTIMIZERS, SCHEDULES
from vmat.training.trainer import SUMMARY

DEFAULTS = TrainConfig()


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a learned stage on synthetic training clips",
        description=(
            "Train the decomposition network (frames) or the temporal refiner (5-frame sequences) on train-namespace "
            "synthetic clips, rendered into a cache on first use. Checkpoints are resumable with --resume; the final "
            "weights, a JSONL loss log and train.json land in --out."
        ),
    )
    parser.add_argument("task", choices=sorted(TASKS), help="what to train")
    parser.add_argument("--model", default=DEFAULTS.model, help=f"model size name (default {DEFAULTS.model})")
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps, help=f"optimiser steps (default {DEFAULTS.steps})")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULTS.batch_size, help=f"samples per step (default {DEFAULTS.batch_size})"
    )
    parser.add_argument(
        "--crop", default="x".join(map(str, DEFAULTS.crop)), help="training crop HEIGHTxWIDTH (default %(default)s)"
    )
    parser.add_argument(
        "--optimizer", choices=OPTIMIZERS, default=DEFAULTS.optimizer, help="adamw (default) or sgd (the MP-Mat paper's)"
    )
    parser.add_argument("--lr", type=float, help="learning rate (default: the task's AdamW rate, 0.01 for sgd)")
    parser.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default: cosine for adamw, poly for sgd)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the model and the batches (default 0)")
    parser.add_argument("--threads", type=int, default=DEFAULTS.threads, help=f"CPU threads (default {DEFAULTS.threads})")
    parser.add_argument("--device", default=DEFAULTS.device, help="torch device to train on, e.g. cuda (default cpu)")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULTS.cache, help=f"training-clip cache folder (default {DEFAULTS.cache})"
    )
    parser.add_argument(
        "--cache-clips", type=int, default=DEFAULTS.cache_clips, help=f"clips in the cache (default {DEFAULTS.cache_clips})"
    )
    parser.add_argument(
        "--cache-frames",
        type=int,
        default=DEFAULTS.cache_frames,
        help=f"frames per cached clip (default {DEFAULTS.cache_frames})",
    )
    parser.add_argument(
        "--cache-size", type=parse_size, default=DEFAULTS.cache_size, help="WIDTHxHEIGHT of the cached frames (default 160x96)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULTS.out, help=f"output folder (default {DEFAULTS.out})")
    parser.add_argument(
        "--log-every", type=int, default=DEFAULTS.log_every, help=f"steps per log line (default {DEFAULTS.log_every})"
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=DEFAULTS.checkpoint_every,
        help=f"steps per checkpoint (default {DEFAULTS.checkpoint_every})",
    )
    parser.add_argument("--stop-after", type=int, help="end this run after this step; continue later with --resume")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument(
        "--init",
        type=Path,
        help="start from these weights (a .safetensors of the same task): every tensor whose name and shape "
        "fit --model is copied, the rest start fresh and are listed (how an ablation starts from the full network)",
    )
    parser.add_argument(
        "--guidance",
        choices=GUIDANCE,
        default=DEFAULTS.guidance,
        help="guidance faults: default (threshold, dilation/erosion, drops, merges, jitter) "
        "or realistic (also holes and coarse polygons)",
    )
    parser.add_argument(
        "--zoom",
        type=float,
        default=DEFAULTS.zoom,
        help="scale crops up by a random factor up to this (larger people; default 1: none)",
    )
    parser.add_argument(
        "--validate",
        type=Path,
        metavar="DIR",
        help="a real-alpha folder (image/, alpha/, optional trimap1/) scored at every checkpoint; "
        "the best weights are kept as best-<task>-<model>.safetensors",
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    config = TrainConfig(
        model=args.model,
        steps=args.steps,
        batch_size=args.batch_size,
        crop=parse_crop(args.crop),
        optimizer=args.optimizer,
        lr=args.lr,
        schedule=args.schedule,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
        out=args.out,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        cache=args.cache,
        cache_clips=args.cache_clips,
        cache_frames=args.cache_frames,
        cache_size=args.cache_size,
        init=args.init,
        stop_after=args.stop_after,
        guidance=args.guidance,
        zoom=args.zoom,
        validate_on=args.validate,
    )
    # A run that fails before its first checkpoint (a bad --init, say) leaves no empty --out behind.
    with created_folder(args.out):
        result = train(args.task, config, resume=args.resume)
    if not args.quiet:
        summary = json.loads((args.out / SUMMARY).read_text())
        losses = ", ".join(f"{name} {value:.4g}" for name, value in summary["final_losses"].items())
        state = "weights" if summary["finished"] else "checkpoint (resume with --resume)"
        print(f"{args.task}: {summary['steps_done']} of {config.steps} steps in {summary['wall_seconds']:.1f} s; {losses}")
        print(f"{state}: {result}")
    return 0
