"""The results table of ``vmat eval``: one row per method and level, as Markdown."""

from __future__ import annotations

import math

# (key in the results, column title, format); arrows say which way is better.
COLUMNS = (
    ("sad", "SAD↓", "{:.2f}"),
    ("mse", "MSE↓", "{:.2f}"),
    ("mad", "MAD↓", "{:.2f}"),
    ("grad", "Grad↓", "{:.2f}"),
    ("conn", "Conn↓", "{:.2f}"),
    ("sad_occluded", "SAD-O↓", "{:.2f}"),
    ("sad_non_occluded", "SAD-NO↓", "{:.2f}"),
    ("imq_mad", "IMQmad↑", "{:.1f}"),
    ("imq_mse", "IMQmse↑", "{:.1f}"),
    ("imq_grad", "IMQgrad↑", "{:.1f}"),
    ("imq_conn", "IMQconn↑", "{:.1f}"),
    ("dtssd", "dtSSD↓", "{:.2f}"),
    ("messddt", "MESSDdt↓", "{:.2f}"),
    ("warp", "warp↓", "{:.3f}"),
    ("warp_gt", "warp(gt)", "{:.3f}"),
    ("j", "J↑", "{:.3f}"),
    ("f", "F↑", "{:.3f}"),
    ("j_and_f", "J&F↑", "{:.3f}"),
    ("removal_l1", "rmL1%↓", "{:.2f}"),
    ("removal_l2", "rmL2%↓", "{:.3f}"),
    ("removal_psnr", "rmPSNR↑", "{:.2f}"),
    ("swap_l1", "swL1%↓", "{:.2f}"),
    ("swap_psnr", "swPSNR↑", "{:.2f}"),
    ("depth_order_accuracy", "depth↑", "{:.3f}"),
    ("fps", "frames/s", "{:.1f}"),
)

UNITS = (
    "SAD, Grad, Conn, SAD-O, SAD-NO: /1000 per instance pair; MSE, MAD: x1e-3; "
    "IMQ: x100 (w=10, IoU 0.5 of alpha >= 1/255 masks); "
    "dtSSD x1e2; MESSDdt x1e3; warp: flow-warping error x1e3 (mean squared alpha change along the frames' flow over "
    "pixels seen in both frames), warp(gt) the true alpha's; "
    "rm/sw: instance removal / occlusion swap against the exact edited frame "
    "(L1, L2 in % of full scale, PSNR dB); depth: pairwise instance order accuracy; frames/s inside the method."
)


def _cell(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def format_table(
    results: dict[str, dict[str, dict[str, float]]], levels: list[str], *, guidance: str | None = None, header: bool = True
) -> str:
    """Markdown table: one row per (method, level) for ``levels`` in that order, then each method's ``all`` row.

    With ``guidance`` (a label such as ``propagated (flow)``) a guidance column follows the method; with
    ``header=False`` only the rows are returned, to append one guidance setting's rows under another's.
    """
    titles = ["method", *(["guidance"] if guidance is not None else []), "level"] + [title for _, title, _ in COLUMNS]
    lines = ["| " + " | ".join(titles) + " |", "|" + "|".join("---" for _ in titles) + "|"] if header else []
    for method, per_level in results.items():
        for level in [*levels, "all"]:
            if level not in per_level or (level == "all" and len(levels) == 1):
                continue
            row = per_level[level]
            labels = [method, *([guidance] if guidance is not None else []), level]
            cells = labels + [_cell(row.get(key), fmt) for key, _, fmt in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
