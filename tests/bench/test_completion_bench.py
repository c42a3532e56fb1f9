"""``vmat bench completion``: the scores on hand-made images, and a run on a smoke-suite clip."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from vmat.bench.completion import CAMERA_CLIPS, _Scores, camera_agreement, ssim_map
from vmat.cli.main import main


def texture(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (40, 40, 3)).astype(np.uint8)


def test_ssim_is_one_for_the_same_image_and_lower_for_a_blur():
    image = texture()
    assert np.allclose(ssim_map(image, image), 1.0)
    assert ssim_map(cv2.GaussianBlur(image, (0, 0), 2.0), image)[5:-5, 5:-5].mean() < 0.5


def test_scores_of_a_blurred_fill():
    truth = texture(1)
    region = np.zeros((40, 40), bool)
    region[10:30, 10:30] = True
    blurred = truth.copy()
    blurred[region] = cv2.GaussianBlur(truth, (0, 0), 3.0)[region]
    scores = _Scores()
    flow = np.zeros((40, 40, 2), np.float32)
    scores.add("g", "m", blurred, truth, {"never seen": region}, None)
    scores.add("g", "m", blurred, truth, {"never seen": region}, (truth, truth, flow))
    psnr, ssim, sharpness, warp, true_warp = scores.cells["g", "m", "never seen"].row()
    error = np.mean(((blurred[region].astype(float) - truth[region]) / 255) ** 2)
    assert psnr == pytest.approx(-10 * math.log10(error))
    # A blur keeps a fraction of the texture's gradient; it differs from the (still) truth, which does not.
    assert sharpness < 0.5
    assert warp == pytest.approx(np.abs(blurred.astype(float) - truth).mean(axis=2)[region].mean(), rel=1e-5)
    assert true_warp == 0.0


def test_bench_completion_runs_on_a_smoke_clip(capsys):
    assert main(["bench", "completion", "--suite", "smoke", "--clip", "easy-static-0-160x96x6"]) == 0
    table = capsys.readouterr().out
    for method in ("previous", "current", "streamed"):
        assert f"| synthetic static | seen | {method} |" in table


DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.skipif(not (DATA / "davis" / "lucia").is_dir(), reason="needs ../shared/data")
def test_camera_agreement_table_has_a_row_per_clip():
    table = camera_agreement(DATA, frames=3).splitlines()
    assert len(table) == 2 + len(CAMERA_CLIPS)
    juggle = next(line for line in table if line.startswith("| juggle"))
    # Two pairs; the tracker and the full-size estimator agree within a pixel on a tripod shot.
    cells = [cell.strip() for cell in juggle.split("|")[1:-1]]
    assert cells[2] == "2" and float(cells[3].split(" / ")[0]) < 1.0
