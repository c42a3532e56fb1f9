"""The real-alpha track of ``vmat eval`` on tiny generated folders, and on three alphamatting.com images."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vmat.cli.main import main
from vmat.evaluation.real_alpha import (
    METRICS,
    CoarseMaskConfig,
    alpha_band,
    coarse_mask,
    evaluate_real_alpha,
    load_real_alpha,
    score_alpha,
)
from vmat.geometry import morph

NO_PERTURBATION = CoarseMaskConfig(max_radius=0.0, max_shift=0.0)


def _square_alpha(size: int = 40, lo: int = 10, hi: int = 30) -> np.ndarray:
    alpha = np.zeros((size, size), np.uint8)
    alpha[lo:hi, lo:hi] = 255
    return alpha


def _write_folder(root: Path, alphas: dict[str, np.ndarray], trimaps: dict[str, np.ndarray] | None = None) -> Path:
    """``root/image``, ``root/alpha`` (grey saved as 3 equal channels, like alphamatting) and optional ``root/trimap1``."""
    rng = np.random.default_rng(0)
    for sub in ("image", "alpha") + (("trimap1",) if trimaps is not None else ()):
        (root / sub).mkdir(parents=True)
    for name, alpha in alphas.items():
        cv2.imwrite(str(root / "image" / f"{name}.png"), rng.integers(0, 256, (*alpha.shape, 3), dtype=np.uint8))
        cv2.imwrite(str(root / "alpha" / f"{name}.png"), np.dstack([alpha] * 3))
        if trimaps is not None:
            cv2.imwrite(str(root / "trimap1" / f"{name}.png"), trimaps[name])
    return root


def test_the_coarse_mask_of_a_binary_alpha_without_perturbation_scores_zero(tmp_path):
    folder = _write_folder(tmp_path / "d", {"a": _square_alpha(), "b": _square_alpha(48, 5, 20)})
    results = evaluate_real_alpha(folder, ["guided-filter"], NO_PERTURBATION)
    for key in METRICS:
        assert results.methods["coarse-mask"][key] == 0.0, key
        assert results.methods["coarse-mask"]["images"]["a"][key] == 0.0, key
    # The guided filter does change a perfect mask on a noise image: the score can tell methods apart.
    assert results.methods["guided-filter"]["sad"] > 0


def test_the_coarse_mask_scores_exactly_its_wrong_pixels(tmp_path):
    alpha = _square_alpha()
    folder = _write_folder(tmp_path / "d", {"a": alpha})
    config = CoarseMaskConfig(max_radius=0.1, max_shift=0.05)  # up to 4 px and 2 px on a 40 px image
    mask = coarse_mask(alpha / 255.0, "a", config)
    wrong = int((mask != (alpha > 0)).sum())
    assert wrong > 0
    results = evaluate_real_alpha(folder, [], config)
    assert results.methods["coarse-mask"]["sad"] == pytest.approx(wrong / 1000)
    assert results.methods["coarse-mask"]["mse"] == pytest.approx(wrong / alpha.size * 1000)


def test_the_coarse_mask_is_seeded_by_seed_and_name_and_stays_within_its_radius():
    alpha = _square_alpha(100, 20, 80) / 255.0
    config = CoarseMaskConfig(max_radius=0.05, max_shift=0.02)  # 5 px and 2 px on a 100 px image
    first = coarse_mask(alpha, "x", config)
    assert np.array_equal(first, coarse_mask(alpha, "x", config))
    masks = {coarse_mask(alpha, "x", CoarseMaskConfig(max_radius=0.05, max_shift=0.02, seed=s)).tobytes() for s in range(12)}
    assert len(masks) > 1
    names = {coarse_mask(alpha, n, config).tobytes() for n in "abcdefghijkl"}
    assert len(names) > 1
    # Within a dilation by radius + the diagonal shift, and holding the erosion by as much.
    reach = 5 + 3
    hard = alpha > 0.5
    for seed in range(12):
        mask = coarse_mask(alpha, "x", CoarseMaskConfig(max_radius=0.05, max_shift=0.02, seed=seed))
        assert not (mask & ~morph(hard, reach)).any()
        assert not (morph(hard, -reach) & ~mask).any()


def test_band_without_trimap_is_one_px_around_the_edge_of_a_binary_alpha():
    band = alpha_band(_square_alpha() / 255.0)  # longer side 40: 1% rounds to 0, so the 1 px minimum
    # The square's inner ring (rows/cols 10 and 29) grown by the 3x3 cross: rows/cols 9..30 minus the four
    # corners, minus the interior rows/cols 12..27 -> 22*22 - 4 - 16*16 pixels.
    assert band.sum() == 22 * 22 - 4 - 16 * 16
    assert band[9, 20] and band[11, 20] and not band[12, 20] and not band[9, 9] and band[10, 10]


def test_band_metrics_use_the_trimaps_unknown_region(tmp_path):
    alpha = _square_alpha()
    trimap = np.zeros((40, 40), np.uint8)
    trimap[10:30, 10:30] = 255
    trimap[8:12, 8:32] = 128  # the unknown band: 4 x 24 = 96 px
    folder = _write_folder(tmp_path / "d", {"a": alpha}, {"a": trimap})
    item = load_real_alpha(folder, "a")
    assert item.band_source == "trimap1" and item.band.sum() == 96
    pred = alpha / 255.0
    pred[9, 8:32] = 0.5  # 24 px off by 0.5 inside the band
    pred[35, 0:10] = 0.5  # 10 px off by 0.5 outside it
    scores = score_alpha(pred, alpha / 255.0, item.band)
    assert scores["sad"] == pytest.approx(34 * 0.5 / 1000)
    assert scores["sad_band"] == pytest.approx(24 * 0.5 / 1000)
    assert scores["mse"] == pytest.approx(34 * 0.25 / 1600 * 1000)
    assert scores["mse_band"] == pytest.approx(24 * 0.25 / 96 * 1000)


def test_cli_json_has_one_entry_per_method_and_default_is_mask_matting(tmp_path, capsys):
    soft = _square_alpha()
    soft[9, 10:30] = 128  # a soft row, so that the band has soft pixels too
    folder = _write_folder(tmp_path / "d", {"a": soft, "b": _square_alpha(48, 8, 36)})
    out = tmp_path / "r.json"
    code = main(
        ["eval", "--real-alpha", str(folder), "--json", str(out), "--verbose"]
        + ["--method", "mask-matting", "--method", "guided-filter:radius=4"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| coarse-mask | mean |" in printed and "| guided-filter:radius=4 | b |" in printed
    report = json.loads(out.read_text())
    results = report["results"]
    assert list(results) == ["coarse-mask", "default", "mask-matting", "guided-filter:radius=4"]
    for entry in results.values():
        assert set(METRICS) <= set(entry)
        assert set(entry["images"]) == {"a", "b"}
        assert entry["sad"] == pytest.approx(np.mean([row["sad"] for row in entry["images"].values()]))
    assert results["default"]["spec"] == "mask-matting"
    assert {k: results["default"][k] for k in METRICS} == {k: results["mask-matting"][k] for k in METRICS}
    assert report["band_source"] == {"a": "alpha", "b": "alpha"}
    assert report["coarse_mask"]["seed"] == 0


def test_pymatting_rows_solve_the_default_decomposers_trimap(tmp_path, capsys):
    pytest.importorskip("pymatting")
    from vmat.decomposition import MaskMattingConfig
    from vmat.evaluation.methods import method_factory
    from vmat.evaluation.real_alpha import run_on_image
    from vmat.matting import SolverConfig, solve_band, trimap_from_mask

    rng = np.random.default_rng(4)
    image = cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (0, 0), 2)
    mask = np.zeros((48, 64), bool)
    mask[12:40, 16:44] = True
    trimap = trimap_from_mask(mask, MaskMattingConfig().trimap)
    expected = solve_band(image.astype(np.float64) / 255, trimap, SolverConfig(iterations=5000, tolerance=1e-10, levels=1))
    np.testing.assert_allclose(run_on_image(method_factory("pymatting")(), image, mask), expected, atol=1e-3)
    assert run_on_image(method_factory("pymatting:solver=knn")(), image, mask).shape == mask.shape
    _fails_cleanly(
        capsys,
        ["eval", "--real-alpha", str(_write_folder(tmp_path / "d", {"a": _square_alpha()})), "--method", "pymatting:solver=x"],
        "pymatting's solver is one of",
    )


def _fails_cleanly(capsys, argv, expected: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("vmat eval: error: ") and expected in lines[0], err


def test_cli_errors_are_one_line(tmp_path, capsys):
    _fails_cleanly(capsys, ["eval", "--real-alpha", str(tmp_path / "nope")], "does not exist")
    (tmp_path / "flat" / "image").mkdir(parents=True)
    _fails_cleanly(capsys, ["eval", "--real-alpha", str(tmp_path / "flat")], "has no alpha/ folder")
    (tmp_path / "flat" / "alpha").mkdir()
    _fails_cleanly(capsys, ["eval", "--real-alpha", str(tmp_path / "flat")], "holds no .png images")

    folder = _write_folder(tmp_path / "d", {"a": _square_alpha()})
    _fails_cleanly(capsys, ["eval", "--real-alpha", str(folder), "--method", "no-such"], "unknown method 'no-such'")
    cv2.imwrite(str(folder / "image" / "b.png"), np.zeros((40, 40, 3), np.uint8))
    _fails_cleanly(capsys, ["eval", "--real-alpha", str(folder)], "alpha/b.png is missing")
    cv2.imwrite(str(folder / "alpha" / "b.png"), np.zeros((30, 40), np.uint8))
    _fails_cleanly(capsys, ["eval", "--real-alpha", str(folder)], "alpha/b.png is 40x30 but its image is 40x40")
    cv2.imwrite(str(folder / "alpha" / "b.png"), np.dstack([np.zeros((40, 40), np.uint8)] * 2 + [np.full((40, 40), 9, np.uint8)]))
    _fails_cleanly(capsys, ["eval", "--real-alpha", str(folder)], "is not a grey alpha")
    (folder / "alpha" / "b.png").write_text("not a png")
    out = tmp_path / "r.json"
    _fails_cleanly(capsys, ["eval", "--real-alpha", str(folder), "--json", str(out)], "cannot be read as an image")
    assert not out.exists()


def test_three_alphamatting_images(shared_dir, tmp_path):
    source = shared_dir / "data" / "alpha" / "alphamatting"
    if not (source / "image").is_dir():
        pytest.skip("../shared/data/alpha/alphamatting is not present")
    folder = tmp_path / "three"  # links, not copies: the benchmark's files stay out of everything we write
    for sub in ("image", "alpha", "trimap1"):
        (folder / sub).mkdir(parents=True)
        for name in ("GT01", "GT02", "GT03"):
            (folder / sub / f"{name}.png").symlink_to(source / sub / f"{name}.png")
    results = evaluate_real_alpha(folder, ["mask-matting", "guided-filter"])
    assert results.band_source == dict.fromkeys(["GT01", "GT02", "GT03"], "trimap1")
    coarse = results.methods["coarse-mask"]
    assert all(np.isfinite(coarse[key]) and coarse[key] > 0 for key in METRICS)
    # The weight-free matting softens the mask towards the true edge: better than the mask it was given in the band.
    assert results.methods["mask-matting"]["sad_band"] < coarse["sad_band"]
    assert results.methods["mask-matting"]["mse_band"] < coarse["mse_band"]
    # Issue 19's goal for the default (closed-form in a trimap band): at most 0.7x the coarse mask's band SAD
    # (measured 0.45x on these three, 0.59x on all 27).
    assert results.methods["default"]["sad_band"] <= 0.7 * coarse["sad_band"]


def test_default_methods_include_the_previous_mattes_and_pymatting_when_installed():
    from vmat.cli.eval_cmd import real_alpha_default_methods

    methods = real_alpha_default_methods()
    assert methods[:3] == ["mask-matting", "mask-matting:solver=guided-filter", "guided-filter"]
    assert ("pymatting" in methods) == (importlib.util.find_spec("pymatting") is not None)
