"""``vmat eval``: score methods on a synthetic suite, or on real photographs with true alpha
(``--real-alpha``), and print one comparison table."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

from vmat.evaluation import METHODS, evaluate, format_table, method_factory, parse_method_spec
from vmat.evaluation.guidance import DEFAULT_GUIDANCE, DEFAULT_PROPAGATOR, guidance_label
from vmat.evaluation.real_alpha import COARSE_MASK, DEFAULT, CoarseMaskConfig, evaluate_real_alpha, format_real_alpha_table
from vmat.evaluation.real_alpha import UNITS as REAL_ALPHA_UNITS
from vmat.evaluation.table import UNITS
from vmat.decomposition.build import shipped_mpmat_checkpoint
from vmat.cli.options import add_overwrite_option
from vmat.io.atomic import atomic_output, check_new_output
from vmat.synthetic import SUITES, describe_occlusion, ensure_suite, occlusion_by_level, suite_specs

DEFAULT_DATA = Path("out") / "synthetic"


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "eval",
        help="score methods on a synthetic benchmark suite",
        description=(
            "Run one or more methods over a synthetic suite (generated on first use) and print a Markdown table of "
            "matting, instance, temporal, mask, editing and depth-order metrics per level, plus frames/s. With "
            "--real-alpha DIR, score methods on real photographs with true alpha instead, each given the same seeded "
            "coarse mask made from the alpha (see docs/evaluation.md)."
        ),
    )
    parser.add_argument("--suite", choices=sorted(SUITES), default="standard", help="suite to run (default standard)")
    parser.add_argument(
        "--method",
        action="append",
        dest="methods",
        metavar="NAME[:k=v,...]",
        help="method to score, with options (e.g. blurred-mask:sigma=3); repeat for several (default: every registered method)",
    )
    parser.add_argument(
        "--guidance",
        action="append",
        metavar="SETTING",
        help=f"where the guidance masks come from: propagated[:PROPAGATOR] (frame 0's ground truth carried by vmat's mask "
        f"stage; default propagator {DEFAULT_PROPAGATOR}), perturbed (seeded mask faults: threshold, dilation/erosion, holes, "
        f"coarse polygons, jitter; --seed) or exact (ground-truth alpha > 0, an upper bound); repeat for several "
        f"(default {DEFAULT_GUIDANCE})",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"where suite clips are cached (default {DEFAULT_DATA})")
    parser.add_argument(
        "--real-alpha",
        type=Path,
        metavar="DIR",
        help="score on real images instead: DIR/image/NAME.png, DIR/alpha/NAME.png, optional DIR/trimap1/NAME.png "
        "(default methods: coarse-mask, default, mask-matting, mask-matting:solver=guided-filter, guided-filter, "
        "pymatting when installed, mpmat)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the perturbed guidance and of the --real-alpha coarse masks (default 0)"
    )
    parser.add_argument("--verbose", action="store_true", help="with --real-alpha, also print a row per image")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--list-methods", action="store_true", help="list the registered methods and exit")
    add_overwrite_option(parser)
    parser.set_defaults(handler=run)
    return parser


def _json_safe(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def run(args: argparse.Namespace) -> int:
    if args.list_methods:
        for entry in METHODS.values():
            print(f"{entry.name:16s} {entry.description}")
        return 0
    if args.json is not None:
        check_new_output(args.json, overwrite=args.overwrite, is_dir=False)
    if args.real_alpha is not None:
        return _run_real_alpha(args)
    names = list(dict.fromkeys(args.methods or METHODS))
    factories = {spec: method_factory(spec) for spec in names}
    settings = list(dict.fromkeys(args.guidance or [DEFAULT_GUIDANCE]))
    labels = {setting: guidance_label(setting) for setting in settings}  # bad settings fail before any work
    started = time.perf_counter()
    clips = ensure_suite(args.suite, args.data)
    generated = time.perf_counter()
    results = {setting: evaluate(factories, clips, guidance=setting, seed=args.seed) for setting in settings}
    finished = time.perf_counter()
    levels = list(dict.fromkeys(spec.config.level for spec in suite_specs(args.suite)))
    print("\n".join(format_table(results[s], levels, guidance=labels[s], header=i == 0) for i, s in enumerate(settings)))
    if not args.quiet:
        frames = sum(c.num_frames for c in clips)
        print(f"\nsuite {args.suite}: {len(clips)} clips, {frames} frames; {finished - generated:.1f} s scoring, "
              f"{generated - started:.1f} s generating/checking")
        print(describe_occlusion(clips))
        print(UNITS)
    if args.json:
        report = {
            "suite": args.suite,
            "methods": {spec: METHODS[parse_method_spec(spec)[0]].description for spec in names},
            "guidance": labels,
            "seed": args.seed,
            "clips": [
                {
                    "name": c.name,
                    "level": c.level,
                    "camera": c.camera,
                    "people": len(c.instance_ids),
                    "frames": c.num_frames,
                    "occlusion": c.manifest["occlusion"],
                }
                for c in clips
            ],
            "occlusion_by_level": occlusion_by_level(clips),
            "results": results,
            "units": UNITS,
        }
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(_json_safe(report), indent=1))
    return 0


def real_alpha_default_methods() -> list[str]:
    """What ``--real-alpha`` scores without ``--method``: the default decomposer, its previous guided-filter
    mattes, a plain guided filter, pymatting's closed-form on the same trimap (when pymatting is installed)
    and the MP-Mat network (when its weights ship)."""
    return [
        "mask-matting",
        "mask-matting:solver=guided-filter",
        "guided-filter",
        *(["pymatting"] if importlib.util.find_spec("pymatting") is not None else []),
        *(["mpmat"] if shipped_mpmat_checkpoint() else []),
    ]


def _run_real_alpha(args: argparse.Namespace) -> int:
    specs = args.methods or real_alpha_default_methods()
    config = CoarseMaskConfig(seed=args.seed)
    started = time.perf_counter()
    results = evaluate_real_alpha(args.real_alpha, specs, config)
    print(format_real_alpha_table(results, verbose=args.verbose))
    if not args.quiet:
        sources = sorted(set(results.band_source.values()))
        print(f"\n{len(results.band_source)} images of {args.real_alpha}, band from {' and '.join(sources)}; "
              f"{time.perf_counter() - started:.1f} s")
        print(REAL_ALPHA_UNITS)
    if args.json:
        report = {
            "track": "real-alpha",
            "folder": str(args.real_alpha),
            "coarse_mask": asdict(config),
            "methods": {
                COARSE_MASK: "the coarse mask itself as the alpha",
                DEFAULT: f"vmat's default configuration: the {results.methods[DEFAULT]['spec']} decomposer "
                "with its default options",
                **{name: METHODS[parse_method_spec(name)[0]].description for name in list(results.methods)[2:]},
            },
            "band_source": results.band_source,
            "results": results.methods,
            "units": REAL_ALPHA_UNITS,
        }
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(_json_safe(report), indent=1))
    return 0
