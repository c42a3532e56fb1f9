"""``vmat eval``: run methods over a synthetic suite and print one comparison table.

See :mod:`vmat.evaluation.methods` for the method interface and the baselines, and
:mod:`vmat.evaluation.harness` for what is scored and how it is averaged.
"""

from vmat.evaluation.harness import LevelTotals, evaluate, id_map_from_alphas, score_frame
from vmat.evaluation.methods import (
    METHODS,
    Method,
    MethodInput,
    MethodOutput,
    inpaint_removal,
    lowest_row_depth,
    method_factory,
    parse_method_spec,
    register_method,
)
from vmat.evaluation.table import format_table

from vmat.evaluation import stage_methods  # noqa: E402,F401  (registers the pipeline's methods)

__all__ = [
    "METHODS",
    "LevelTotals",
    "Method",
    "MethodInput",
    "MethodOutput",
    "evaluate",
    "format_table",
    "id_map_from_alphas",
    "inpaint_removal",
    "lowest_row_depth",
    "method_factory",
    "parse_method_spec",
    "register_method",
    "score_frame",
]
