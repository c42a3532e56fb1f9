"""``vmat bench completion``: the scores on hand-made images, and a run on a smoke-suite clip."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

import torch

from vmat.bench.completion import (
    CAMERA_CLIPS,
    Method,
    _render,
    _Scores,
    camera_agreement,
    camera_flow,
    camera_reference,
    default_pastes,
    others_layers,
    real_paste,
    ssim_map,
)
from vmat.cli.main import main
from vmat.editing.completion import PREVIOUS_DEFAULT, CompletionConfig
from vmat.editing.removal import remove
from vmat.layers import LayerStack


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
    scores.add("g", "m", blurred, truth, {"never seen": region}, (truth, truth, flow, np.ones((40, 40), bool)))
    psnr, ssim, sharpness, warp, true_warp = scores.cells["g", "m", "never seen"].row()
    error = np.mean(((blurred[region].astype(float) - truth[region]) / 255) ** 2)
    assert psnr == pytest.approx(-10 * math.log10(error))
    # A blur keeps a fraction of the texture's gradient; it differs from the (still) truth, which does not.
    assert sharpness < 0.5
    assert warp == pytest.approx(np.abs(blurred.astype(float) - truth).mean(axis=2)[region].mean(), rel=1e-5)
    assert true_warp == 0.0


def _two_people(background: np.ndarray, edge: int) -> LayerStack:
    """Person 1 (removed, already filled with the true background) over columns 10-29, and person 2 in front
    of it, whose decomposed layer reaches from column 20 to ``edge`` (their true outline ends at 24)."""
    height, width = background.shape[:2]
    colour = torch.from_numpy(background).permute(2, 0, 1).float().div(255).expand(3, 3, height, width).clone()
    colour[2] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
    alpha = torch.zeros(3, height, width)
    alpha[0] = 1.0
    alpha[1, :, 10:30] = 1.0
    alpha[2, :, 20:edge] = 1.0
    return LayerStack(colour, alpha, torch.tensor([float("inf"), 2.0, 1.0]), (0, 1, 2))


def test_a_remaining_persons_jittering_layer_is_not_scored():
    background = texture(2)
    truth_others = np.zeros((40, 40), bool)
    truth_others[:, 20:24] = True
    truth = background.copy()
    truth[truth_others] = (255, 0, 0)
    scores = _Scores()
    last = None
    for edge in (27, 29, 26):  # the other person's mask edge jitters from frame to frame
        stack = _two_people(background, edge)
        occupied = truth_others | others_layers(stack, 1)
        region = (stack.alpha[1] > 0).numpy() & ~occupied
        result = _render(remove(stack, 1))
        previous = None if last is None else (*last[:2], *camera_flow(np.eye(3), last[2]))
        scores.add("g", "m", result, truth, {"never seen": region}, previous)
        last = (result, truth, occupied)
        # Left out: the whole of the other person's layer, not only their true outline.
        assert not region[:, 20:edge].any() and region[:, 10:20].all() and region[:, edge:30].all()
    psnr, _, _, warp, true_warp = scores.cells["g", "m", "never seen"].row()
    # The fill is the true background: the red edge moving in and out of the region would score otherwise.
    assert psnr == math.inf and warp == 0.0 and true_warp == 0.0
    assert scores.cells["g", "m", "never seen"].warped > 0


def test_the_camera_reference_follows_a_pan_over_stripes():
    # Vertical stripes over most of the frame (no vertical motion visible there), texture along the top.
    rng = np.random.default_rng(3)
    scene = np.repeat(np.repeat(rng.integers(0, 256, (1, 100, 3)), 4, axis=1), 400, axis=0).astype(np.uint8)
    scene[:60] = cv2.resize(rng.integers(0, 256, (15, 100, 3)).astype(np.uint8), (400, 60), interpolation=cv2.INTER_NEAREST)
    frames = [scene[40 + 3 * t : 200 + 3 * t, 20 + 5 * t : 260 + 5 * t] for t in range(3)]  # the camera pans
    motions = camera_reference(frames)
    scores = _Scores()
    stripes = np.zeros(frames[0].shape[:2], bool)
    stripes[60:] = True
    assert motions[0] is None
    for t in (1, 2):
        motion = motions[t]
        assert motion is not None
        flow, trusted = motion
        assert not trusted[-2:].any() and trusted[:-4, :-6].all()  # the bottom and right came into view
        scores.add("g", "m", frames[t], frames[t], {"seen": stripes}, (frames[t - 1], frames[t - 1], flow, trusted))
    *_, warp, true_warp = scores.cells["g", "m", "seen"].row()
    assert true_warp == warp and true_warp < 1.0


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


@pytest.mark.skipif(not (DATA / "davis" / "lucia").is_dir(), reason="needs ../shared/data")
def test_a_paste_scores_any_methods_on_the_current_ones_split():
    """``real_paste`` takes any methods (benchmarks/never_seen_fill.py passes its own); the one named
    "current" runs first and its codes split every method's pixels, so both score the same pixels."""
    order = []

    class Logged(Method):
        def complete(self, stacks, removing):
            order.append(self)
            return super().complete(stacks, removing)

    methods = {"other": Logged(PREVIOUS_DEFAULT, lifts_shadows=False), "current": Logged(CompletionConfig(), lifts_shadows=True)}
    scores = _Scores()
    real_paste(scores, "g", DATA / "davis" / "lucia", default_pastes(DATA)[1], 3, 160, methods)
    assert order == [methods["current"], methods["other"]]
    for split in ("seen", "never seen"):
        assert scores.cells["g", "other", split].pixels == scores.cells["g", "current", split].pixels > 0
