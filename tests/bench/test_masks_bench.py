"""``vmat bench masks``: the DAVIS scores on hand-made masks, the run on generated and real sequences."""

from __future__ import annotations

import json
import statistics
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from vmat.bench.masks import _MatchedTally, folder_sequences, markdown, method_means, run_benchmark, to_json
from vmat.cli.main import main
from vmat.io import VideoWriter
from vmat.metrics.segmentation import boundary_f_measure, j_and_f, jaccard
from vmat.propagation import registry
from vmat.propagation.idmask import mask_path, write_id_mask

SIDE = 16
FRAMES = 8
# Sequence -> {id: (starting x, pixels moved per frame)}; every square spans rows 24..39.
MOTION = {"pair": {1: (8, 2), 3: (70, -2)}, "square": {1: (10, 2)}}


# -- the scores on hand-made masks ----------------------------------------------------------------------


def _square(x0: int, y0: int = 20, side: int = 10, shape: tuple[int, int] = (100, 100)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[y0 : y0 + side, x0 : x0 + side] = True
    return mask


def test_j_and_f_of_a_square_shifted_three_pixels():
    gt, pred = _square(20), _square(23)
    # Overlap 7 x 10 of a union 13 x 10.
    assert jaccard(pred, gt) == pytest.approx(7 / 13)
    # 100 x 100: tolerance ceil(0.008 * 141.4) = 2 px. Of either 36-pixel boundary, 22 lie within 2 px of
    # the other: 9 of each 10-pixel row (the last column is 3 px off), and of the 8 side pixels between
    # the rows only the 4 within 2 rows of the other square's top or bottom row, none of the far side.
    assert boundary_f_measure(pred, gt) == pytest.approx(22 / 36)
    # With 3 px every pixel is within reach.
    assert boundary_f_measure(pred, gt, tolerance=3) == 1.0


def test_j_and_f_per_object_with_an_object_absent_from_both_and_one_missed():
    gt = np.zeros((100, 100), np.uint16)
    gt[_square(20)] = 1
    gt[_square(60)] = 2
    pred = np.zeros_like(gt)
    pred[_square(23)] = 1
    scores = j_and_f(pred, gt, [1, 2, 5])
    assert scores[1] == (pytest.approx(7 / 13), pytest.approx(22 / 36))
    assert scores[2] == (0.0, 0.0)
    assert scores[5] == (1.0, 1.0)  # absent from both: DAVIS counts it as right


def test_matching_per_clip_pairs_ids_once_and_scores_missed_objects_by_absence():
    one, two = _square(10), _square(60)
    tally = _MatchedTally([1, 2, 3])
    for frame in range(4):
        gt = np.zeros((100, 100), np.uint16)
        gt[one] = 1
        gt[two] = 2
        if frame < 2:
            gt[_square(40, 70)] = 3  # object 3 is on the first two frames only, and never found
        pred = np.zeros_like(gt)
        pred[one] = 7  # the finder's id 7 is object 1
        if frame >= 1:
            pred[two] = 4  # id 4 appears on the second frame: object 2 is missed once
        tally.add(pred, gt)
    j, f, matched = tally.scores()
    assert f is None
    assert matched == {1: 7, 2: 4, 3: None}
    assert j == {1: pytest.approx(100.0), 2: pytest.approx(75.0), 3: pytest.approx(50.0)}


# -- a generated dataset: textured squares moving over a textured background ----------------------------


def _frame_and_ids(
    rng_background: np.ndarray, texture: np.ndarray, motion: dict[int, tuple[int, int]], t: int
) -> tuple[np.ndarray, np.ndarray]:
    image = rng_background.copy()
    ids = np.zeros(image.shape[:2], np.uint16)
    for k, (x0, dx) in motion.items():
        x = x0 + dx * t
        image[24 : 24 + SIDE, x : x + SIDE] = texture
        ids[24 : 24 + SIDE, x : x + SIDE] = k
    return image, ids


def _write_dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    background = np.kron(rng.integers(60, 140, (8, 12, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # 64 x 96
    texture = np.kron(rng.integers(0, 256, (SIDE // 2, SIDE // 2, 3)), np.ones((2, 2, 1))).astype(np.uint8)
    for name, motion in MOTION.items():
        (root / name / "masks").mkdir(parents=True)
        with VideoWriter(root / name / f"{name}.mp4", fps=24, lossless=True) as writer:
            for t in range(FRAMES):
                image, ids = _frame_and_ids(background, texture, motion, t)
                writer.write(image)
                write_id_mask(root / name / "masks" / f"{t:05d}.png", ids)
    return root


@pytest.fixture
def dataset(tmp_path) -> Path:
    return _write_dataset(tmp_path / "data")


def _copy_j(dx: int) -> float:
    """J x 100 of a square copied from frame 0, over frames 1 .. N-2 (the overlap shrinks by |dx| a frame)."""
    return 100 * statistics.fmean((SIDE - abs(dx) * t) / (SIDE + abs(dx) * t) for t in range(1, FRAMES - 1))


class ShiftPropagator:
    """Knows how each id moves: a propagator registered from outside the benchmark, scoring 100."""

    def start(self, image, ids, state=None):
        return ids.astype(np.uint16)

    def step(self, image, state):
        moved = np.zeros_like(state)
        for motion in MOTION.values():
            for k, (_, dx) in motion.items():
                moved[np.roll(state == k, dx, axis=1)] = k
        return moved, moved


def test_scores_on_generated_squares(dataset, monkeypatch):
    monkeypatch.setitem(registry._FACTORIES, "oracle", ShiftPropagator)
    results = run_benchmark(folder_sequences(dataset), ["copy", "flow", "farneback", "oracle"])
    assert [(r.sequence, r.objects, r.frames) for r in results] == [("pair", [1, 3], FRAMES), ("square", [1], FRAMES)]
    by = {(m.sequence, m.method): m for r in results for m in r.methods}
    for name, motion in MOTION.items():
        copied = by[(name, "copy")]
        assert copied.frames_scored == FRAMES - 2
        assert copied.j == {k: pytest.approx(_copy_j(dx)) for k, (_, dx) in motion.items()}
        oracle = by[(name, "oracle")]
        assert oracle.mean_j == pytest.approx(100) and oracle.mean_f == pytest.approx(100)
        # Real propagation follows the motion far better than doing nothing.
        for method in ("flow", "farneback"):
            assert by[(name, method)].mean_j > copied.mean_j + 10, method
        assert all(m.ms_per_frame >= 0 for m in (copied, oracle))
    means = method_means(results)
    assert means["copy"].jf == pytest.approx(statistics.fmean(by[(n, "copy")].mean_jf for n in MOTION))
    assert means["oracle"].jf == pytest.approx(100)


def test_command_prints_the_table_and_writes_json(dataset, tmp_path, capsys):
    report = tmp_path / "masks.json"
    assert main(["bench", "masks", "--data", str(dataset), "--method", "copy", "--method", "flow", "--json", str(report)]) == 0
    table = capsys.readouterr().out
    assert "| sequence | frames | objects | copy J&F | flow J&F |" in table
    assert "| pair | 8 | 2 |" in table and "| square | 8 | 1 |" in table
    assert "| **mean** |" in table
    # Both a one-object and a two-object sequence: their separate means are shown too.
    assert "mean, one object (1)" in table and "mean, several objects (1)" in table
    data = json.loads(report.read_text())
    assert data["methods"] == ["copy", "flow"]
    square = next(s for s in data["sequences"] if s["sequence"] == "square")
    copied = next(m for m in square["methods"] if m["method"] == "copy")
    assert copied["J"] == pytest.approx(_copy_j(2))
    assert copied["J&F"] == pytest.approx((copied["J"] + copied["F"]) / 2)
    # Each square moves 2 px a frame, so both sequences (and their mean) score the same.
    assert data["means"]["mean"]["copy"]["J"] == pytest.approx(_copy_j(2))


def test_frames_limit_scores_only_the_first_frames(dataset):
    (result,) = run_benchmark(folder_sequences(dataset, ["square"]), ["copy"], frames=4)
    assert result.frames == 4
    copied = result.methods[0]
    assert copied.frames_scored == 2
    assert copied.mean_j == pytest.approx(100 * statistics.fmean((SIDE - 2 * t) / (SIDE + 2 * t) for t in (1, 2)))


def test_automatic_mode_reports_people_found_and_matched_j(dataset, capsys):
    results = run_benchmark(folder_sequences(dataset), ["copy"], auto=True)
    assert all(r.found is not None and r.methods[0].matched is not None for r in results)
    assert set(results[0].methods[0].matched) == {1, 3}
    text = markdown(results, auto=True)
    assert "| sequence | frames | annotated | found | copy J |" in text
    assert "| sequence | method | J | ms/frame | object: matched id |" in text
    assert to_json(results, "x", None, True)["matching"] == "per clip"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--data", "/nonexistent/davis"], "does not exist"),
        (["--frames", "2"], "at least 3"),
        (["--method", "no-such-method"], "unknown propagator 'no-such-method'"),
        (["--sequence", "nobody"], "no sequence 'nobody'"),
    ],
)
def test_user_errors_are_one_line(dataset, capsys, arguments, message):
    if "--data" not in arguments:
        arguments = ["--data", str(dataset)] + arguments
    assert main(["bench", "masks"] + arguments) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_sequence_with_fewer_masks_than_frames_is_refused(dataset, capsys):
    (dataset / "square" / "masks" / f"{FRAMES - 1:05d}.png").unlink()
    (dataset / "pair").rename(dataset / ".pair")  # hidden folders are not sequences
    assert main(["bench", "masks", "--data", str(dataset), "--method", "copy"]) == 2
    assert "fewer masks than frames" in capsys.readouterr().err


# -- real ground truth ------------------------------------------------------------------------------------


@pytest.fixture
def davis(shared_dir) -> Path:
    folder = shared_dir / "data" / "davis"
    if not folder.is_dir():
        pytest.skip("../shared/data/davis is not available")
    return folder


def test_real_davis_sequences_and_flow_exactly_as_vmat_masks(davis, tmp_path):
    from vmat.propagation import MaskingConfig, mask_clip, read_id_mask, video_frames
    from vmat.propagation.prompts import prompt_rounds

    frames = 5
    results = run_benchmark(folder_sequences(davis, ["hike", "schoolgirls"]), None, frames=frames)
    assert [(r.sequence, len(r.objects)) for r in results] == [("hike", 1), ("schoolgirls", 7)]
    by = {(m.sequence, m.method): m for r in results for m in r.methods}
    assert {"copy", "flow", "farneback", "prior"} <= {method for _, method in by}
    for m in by.values():
        assert m.frames_scored == frames - 2
        assert 0 < m.mean_j <= 100 and 0 < m.mean_f <= 100
    # The person walks: following her beats copying the first mask.
    assert by[("hike", "flow")].mean_jf > by[("hike", "copy")].mean_jf
    # `prior` (the default) and `flow` are vmat's propagators run as `vmat masks --prompt masks/00000.png
    # [--propagator flow]` runs them.
    source = video_frames(davis / "hike" / "hike.mp4")
    rounds = prompt_rounds(davis / "hike" / "masks" / "00000.png")
    for method in ("prior", "flow"):
        out = tmp_path / method
        mask_clip(lambda: islice(source(), frames), out, rounds, config=MaskingConfig(propagator=method))
        scores = [
            j_and_f(read_id_mask(mask_path(out, t)), read_id_mask(davis / "hike" / "masks" / f"{t:05d}.png"))[1]
            for t in range(1, frames - 1)
        ]
        assert by[("hike", method)].mean_j == pytest.approx(100 * statistics.fmean(j for j, _ in scores), abs=1e-9)
        assert by[("hike", method)].mean_f == pytest.approx(100 * statistics.fmean(f for _, f in scores), abs=1e-9)


def test_a_synthetic_suite_is_a_data_source_too(capsys):
    assert main(["bench", "masks", "--synthetic", "smoke", "--method", "copy"]) == 0
    table = capsys.readouterr().out
    assert "| easy-static-0-160x96x6 | 6 |" in table and "| hard-static-0-160x96x6 | 6 |" in table
    assert main(["bench", "masks", "--synthetic", "smoke", "--sequence", "x"]) == 2
