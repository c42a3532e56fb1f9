import json

import numpy as np
import pytest

from vmat.errors import ConfigError
from vmat.evaluation import METHODS, MethodOutput, evaluate, format_table, id_map_from_alphas
from vmat.evaluation.methods import lowest_row_depth
from vmat.synthetic import ensure_suite


@pytest.fixture(scope="module")
def smoke_clips(tmp_path_factory):
    return ensure_suite("smoke", tmp_path_factory.mktemp("suite"))


def _oracle_factory(clips, *, flicker: float = 0.0, bias: float = 0.0):
    """A method that reads the exact answer from the clip (test only), optionally damaged."""
    frames = {(c.name, f.index): f for c in clips for f in c}

    def factory():
        def run(inputs):
            for item in inputs:
                truth = next(
                    f for (name, index), f in frames.items() if index == item.index and np.array_equal(f.image, item.image)
                )
                alpha = truth.alpha.copy()
                inside = alpha > 0
                # flicker: an error that changes sign every frame; bias: the same error every frame
                alpha[inside] = np.clip(alpha[inside] - bias - flicker * (item.index % 2), 0, 1)
                yield MethodOutput(
                    alpha=alpha,
                    instance_depth=truth.instance_depth,
                    removed={i: truth.removed(i) for i in item.instance_ids},
                    swapped={pair: truth.swapped(*pair) for pair in item.swap_requests},
                )

        return run

    return factory


def test_the_exact_answer_scores_perfectly(smoke_clips):
    results = evaluate({"oracle": _oracle_factory(smoke_clips)}, smoke_clips, guidance="exact")["oracle"]
    for level in ("easy", "medium", "hard", "all"):
        row = results[level]
        for key in ("sad", "mse", "mad", "grad", "conn", "sad_occluded", "sad_non_occluded", "dtssd", "messddt", "removal_l1"):
            assert row[key] == pytest.approx(0.0, abs=1e-9), key
        for key in ("imq_mad", "imq_mse", "imq_grad", "imq_conn"):
            assert row[key] == pytest.approx(100.0), key
        assert row["j"] == pytest.approx(1.0) and row["f"] == pytest.approx(1.0)
        assert row["removal_psnr"] == 100.0
        assert row["depth_order_accuracy"] == 1.0
        # The warp error needs no truth: the exact answer scores what the truth itself scores.
        assert row["warp"] == row["warp_gt"] > 0
    assert results["hard"]["swap_psnr"] == 100.0
    assert results["all"]["frames"] == 18 and results["all"]["clips"] == 3


def test_worse_methods_score_worse(smoke_clips):
    results = evaluate(
        {
            "oracle": _oracle_factory(smoke_clips),
            "biased": _oracle_factory(smoke_clips, bias=0.05),
            "flickering": _oracle_factory(smoke_clips, flicker=0.1),
            "gt-hard": METHODS["gt-hard"].factory,
        },
        smoke_clips,
        guidance="exact",
    )
    oracle, biased, flickering = (results[m]["all"] for m in ("oracle", "biased", "flickering"))
    assert oracle["sad"] < biased["sad"] and oracle["imq_mad"] > biased["imq_mad"]
    # An error that moves with the people is little temporal incoherence; one that flickers is a lot.
    assert flickering["dtssd"] > 2 * biased["dtssd"]
    assert flickering["messddt"] > 2 * biased["messddt"]
    assert flickering["warp"] > max(oracle["warp"], biased["warp"])
    assert results["gt-hard"]["all"]["sad"] > oracle["sad"]


def test_method_output_shape_is_checked(smoke_clips):
    def factory():
        def run(inputs):
            for _item in inputs:
                yield MethodOutput(alpha=np.zeros((1, 2, 2)))

        return run

    with pytest.raises(ConfigError):
        evaluate({"broken": factory}, smoke_clips[:1])


def test_method_must_answer_every_frame(smoke_clips):
    def factory():
        def run(inputs):
            for item in list(inputs)[:-1]:
                yield MethodOutput(alpha=item.guidance.astype(np.float32))

        return run

    with pytest.raises(ConfigError):
        evaluate({"short": factory}, smoke_clips[:1])


def test_id_map_from_alphas_hand_computed():
    alpha = np.array([[[0.6, 0.2, 0.0]], [[0.3, 0.7, 0.4]]], np.float32)
    # pixel 0: bg 0.1 -> id 5; pixel 1: bg 0.1 -> id 9; pixel 2: bg 0.6 beats 0.4 -> 0
    assert id_map_from_alphas(alpha, [5, 9]).tolist() == [[5, 9, 0]]


def test_lowest_row_depth():
    alpha = np.zeros((3, 4, 2))
    alpha[0, 1, 0] = 1
    alpha[1, 3, 1] = 0.2
    depth = lowest_row_depth(alpha)
    assert depth[:2].tolist() == [-1.0, -3.0] and np.isnan(depth[2])


def test_table_marks_missing_values():
    results = {"m": {"easy": {"sad": 1.234, "fps": float("nan")}}}
    table = format_table(results, ["easy"])
    row = table.splitlines()[2]
    assert row.startswith("| m | easy | 1.23 |") and row.endswith("| - |")
    rows = format_table(results, ["easy"], guidance="exact (upper bound)", header=False).splitlines()
    assert len(rows) == 1 and rows[0].startswith("| m | exact (upper bound) | easy | 1.23 |")


def test_eval_command_prints_table_and_writes_json(smoke_clips, tmp_path, capsys):
    import argparse

    from vmat.cli import eval_cmd

    parser = argparse.ArgumentParser()
    parser.add_argument("--quiet", action="store_true")
    eval_cmd.register(parser.add_subparsers())
    data = smoke_clips[0].folder.parent
    args = parser.parse_args(
        ["eval", "--suite", "smoke", "--data", str(data), "--method", "blurred-mask", "--json", str(tmp_path / "r.json")]
    )
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    # The default guidance is the propagated one, and the JSON says which masks the methods were given.
    assert set(report["results"]) == {"propagated"} and report["guidance"] == {"propagated": "propagated (prior)"}
    assert set(report["results"]["propagated"]["blurred-mask"]) == {"easy", "medium", "hard", "all"}
    assert "| blurred-mask | propagated (prior) | hard |" in out
    bad = parser.parse_args(["eval", "--suite", "smoke", "--data", str(data), "--method", "nope"])
    with pytest.raises(ConfigError):
        bad.handler(bad)


def test_method_specs_carry_options():
    from vmat.evaluation import method_factory, parse_method_spec

    assert parse_method_spec("blurred-mask:sigma=3") == ("blurred-mask", {"sigma": 3})
    assert parse_method_spec("gt-hard") == ("gt-hard", {})
    with pytest.raises(ConfigError):
        parse_method_spec("blurred-mask:sigma")
    with pytest.raises(ConfigError):
        method_factory("gt-hard:sigma=2")
    with pytest.raises(ConfigError):
        method_factory("blurred-mask:sigma=-1")


def test_more_blur_moves_further_from_the_truth(smoke_clips):
    from vmat.evaluation import method_factory

    results = evaluate(
        {s: method_factory(s) for s in ("blurred-mask:sigma=1", "blurred-mask:sigma=4")}, smoke_clips, guidance="exact"
    )
    assert results["blurred-mask:sigma=1"]["all"]["sad"] < results["blurred-mask:sigma=4"]["all"]["sad"]
