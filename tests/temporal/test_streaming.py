import cv2
import numpy as np
import pytest
import torch

from vmat.errors import ConfigError
from vmat.temporal.fusion import ForwardBackwardFusion, FusionConfig, frame_change_map
from vmat.temporal.refiner import TemporalRefiner, TemporalRefinerConfig
from vmat.temporal.streaming import StreamConfig, TemporalRefinerStream

HEIGHT, WIDTH = 9, 11
# Person 1 is in every frame; person 2 comes, goes and comes back (a new start each time).
STEPS = 40
PERSON_2 = set(range(10, 20)) | set(range(30, 35))


def _model(process_size=384):
    torch.manual_seed(0)
    model = TemporalRefiner(TemporalRefinerConfig(features=8, hidden=8, decoder=8, band=1, process_size=process_size))
    torch.nn.init.normal_(model.residual.weight, std=0.3)  # a refiner that edits
    return model.eval()


def _frames(steps=STEPS, height=HEIGHT, width=WIDTH):
    rng = np.random.default_rng(0)
    for t in range(steps):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        alphas = {1: np.clip(rng.random((height, width)) * 3 - 1, 0, 1).astype(np.float32)}
        if t in PERSON_2:
            alphas[2] = np.clip(rng.random((height, width)) * 3 - 1, 0, 1).astype(np.float32)
        yield image, alphas


def _stream(model, config, frames):
    stream = TemporalRefinerStream(model, config)
    out, held = [], []
    for image, alphas in frames:
        result = stream.push(image, alphas)
        held.append(stream.held_frames)
        if result is not None:
            out.append(result)
    out += stream.flush()
    assert stream.held_frames == 0
    return out, held


def _offline(model, frames, lookahead):
    """The same rule run on whole runs of each person, as a clip at once: {(t, id): (alpha, change logits)}."""
    frames = list(frames)
    results = {}
    for instance in (1, 2):
        present = [t for t, (_, alphas) in enumerate(frames) if instance in alphas]
        runs = np.split(present, np.flatnonzero(np.diff(present) > 1) + 1)
        for run in runs:
            images = torch.stack([torch.from_numpy(frames[t][0]).permute(2, 0, 1).float() / 255 for t in run])[None]
            coarse = torch.stack([torch.from_numpy(frames[t][1][instance])[None] for t in run])[None]
            with torch.no_grad():
                output = model(images, coarse, lookahead=lookahead)
            for k, t in enumerate(run):
                results[int(t), instance] = (output.alpha[0, k, 0].numpy(), output.change_logits[0, k, 0], k == 0)
    return results


def test_the_stream_equals_the_offline_rule_exactly_with_bounded_memory():
    model = _model()
    lookahead = 4
    out, held = _stream(model, StreamConfig(gru_lookahead=lookahead, fusion="none", flow_blend=0.0), _frames())
    assert len(out) == STEPS
    assert max(held) <= lookahead + 1
    assert held == [min(t + 1, lookahead) for t in range(STEPS)]
    reference = _offline(model, _frames(), lookahead)
    for t, fused in enumerate(out):
        assert set(fused) == ({1, 2} if t in PERSON_2 else {1})
        for instance, alpha in fused.items():
            assert np.array_equal(alpha, reference[t, instance][0]), (t, instance)
    coarse = [alphas for _, alphas in _frames()]
    assert any(not np.array_equal(out[t][1], coarse[t][1]) for t in range(STEPS))


def test_fusion_with_the_predicted_change_map_is_eq_12_to_14_on_the_refined_mattes():
    model = _model()
    config = StreamConfig(gru_lookahead=2, fusion="both", fusion_lookahead=3, tolerance=0.05, flow_blend=0.0)
    out, held = _stream(model, config, _frames())
    assert max(held) <= 2 + 3 + 1
    reference = _offline(model, _frames(), 2)
    fusion = ForwardBackwardFusion(FusionConfig(lookahead=3, tolerance=0.05))
    expected = []
    for t, (_, alphas) in enumerate(_frames()):
        entries = [reference[t, i] for i in alphas]
        if any(first for _, _, first in entries):
            change = np.ones((HEIGHT, WIDTH), bool)
        else:
            change = (torch.stack([torch.sigmoid(logits) for _, logits, _ in entries]).amax(0) > 0.5).numpy()
        fused = fusion.push({i: reference[t, i][0] for i in alphas}, change)
        expected += [fused] if fused is not None else []
    expected += fusion.flush()
    assert len(out) == len(expected) == STEPS
    for got, want in zip(out, expected):
        assert got.keys() == want.keys()
        for instance in got:
            assert np.array_equal(got[instance], want[instance])


def test_the_weight_free_path_is_the_existing_fusion_with_frame_differences():
    frames = list(_frames(steps=12))
    out, held = _stream(None, StreamConfig(change="frames", fusion="both", fusion_lookahead=3, flow_blend=0.0), frames)
    fusion = ForwardBackwardFusion(FusionConfig(lookahead=3))
    expected, previous = [], None
    for image, alphas in frames:
        change = np.ones(image.shape[:2], bool) if previous is None else frame_change_map(previous, image)
        previous = image
        fused = fusion.push(alphas, change)
        expected += [fused] if fused is not None else []
    expected += fusion.flush()
    assert held[:5] == [1, 2, 3, 3, 3]
    for got, want in zip(out, expected, strict=True):
        assert all(np.array_equal(got[i], want[i]) for i in want)


def test_forward_and_backward_fusion_alone():
    # one still pixel: the matte drifts, the picture does not change, so both passes hold a value
    image = np.zeros((1, 1, 3), np.uint8)
    frames = [(image, {1: np.full((1, 1), a, np.float32)}) for a in (0.5, 0.52, 0.49)]
    forward, _ = _stream(None, StreamConfig(change="frames", fusion="forward", flow_blend=0.0), frames)
    backward, _ = _stream(None, StreamConfig(change="frames", fusion="backward", fusion_lookahead=4, flow_blend=0.0), frames)
    assert [float(f[1][0, 0]) for f in forward] == pytest.approx([0.5, 0.5, 0.5])
    assert [float(f[1][0, 0]) for f in backward] == pytest.approx([0.49, 0.49, 0.49])


def test_large_frames_are_refined_at_the_processing_size_and_interiors_kept():
    model = _model(process_size=40)  # 60x100 is refined at 24x40
    height, width = 60, 100
    image = np.full((height, width, 3), 120, np.uint8)
    alpha = np.zeros((height, width), np.float32)
    alpha[10:50, 15:75] = 1.0
    alpha[10:50, 75] = 0.5
    (fused,), _ = _stream(model, StreamConfig(gru_lookahead=1, fusion="none", flow_blend=0.0), [(image, {1: alpha})])
    assert fused[1].shape == (height, width)
    # At 0.4 scale every edge of the mask is fractional: the band (1 px there) plus the upsampling reach
    # 2 x 2.5 px; beyond 6 px from an edge the full-size coarse matte is kept exactly.
    edges = cv2.morphologyEx((alpha > 0).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    far = cv2.dilate(edges, np.ones((13, 13), np.uint8)) == 0
    assert far.sum() > 2000
    assert np.array_equal(fused[1][far], alpha[far])
    assert not np.array_equal(fused[1], alpha)


def test_predicted_change_maps_need_a_model():
    with pytest.raises(ConfigError):
        TemporalRefinerStream(None, StreamConfig(change="predicted"))
    with pytest.raises(ConfigError):
        StreamConfig(fusion="sideways")
