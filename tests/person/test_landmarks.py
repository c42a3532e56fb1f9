"""The BlazePose landmark + segmentation network against the TFLite original on real person crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vmat.io.reader import open_video
from vmat.person.detector import Pointwise
from vmat.person.landmarks import (
    NUM_LANDMARKS,
    PoseLandmarker,
    SingleOutput,
    pose_landmarker_state_from_tflite,
    refine_from_heatmap,
)
from vmat.person.roi import crop_rois, rois_from_boxes
from vmat.person.tflite_reader import read_tflite

# People alone in their DAVIS mask (the other sequences' masks also hold a bike, a kite, a stroller...).
PEOPLE = ("hike", "lucia", "dance-jump")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def read_davis(shared_dir: Path, name: str, indices: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames ``(B, 3, H, W)`` uint8 RGB and ground-truth masks ``(B, H, W)`` bool of a DAVIS sequence."""
    cv2 = pytest.importorskip("cv2")
    folder = shared_dir / "data" / "davis" / name
    frames = {}
    with open_video(folder / f"{name}.mp4") as reader:
        for frame in reader:
            if frame.index in indices:
                frames[frame.index] = torch.from_numpy(frame.image).permute(2, 0, 1)
            if frame.index >= max(indices):
                break
    masks = [torch.from_numpy(cv2.imread(str(folder / "masks" / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) > 0) for i in indices]
    return torch.stack([frames[i] for i in indices]), torch.stack(masks)


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` bool -> ``(B, 4)`` boxes ``x0, y0, x1, y1`` (exclusive ends) around the true pixels."""
    boxes = []
    for mask in masks:
        ys, xs = torch.nonzero(mask, as_tuple=True)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return torch.tensor(boxes, dtype=torch.float32)


@pytest.fixture(scope="module")
def graph(mediapipe_models):
    return read_tflite(mediapipe_models / "pose_landmark_full.tflite")


@pytest.fixture(scope="module")
def landmarker(graph) -> PoseLandmarker:
    model = PoseLandmarker().eval()
    model.load_state_dict(pose_landmarker_state_from_tflite(graph), strict=True)
    return model


@pytest.fixture(scope="module")
def person_crops(shared_dir) -> torch.Tensor:
    """``(3, 3, 256, 256)`` crops of the first frame of each sequence of :data:`PEOPLE`, from its mask's box."""
    crops = []
    for name in PEOPLE:
        frames, masks = read_davis(shared_dir, name, (0,))
        crops.append(crop_rois(frames.float() / 255, rois_from_boxes(mask_boxes(masks)), 256))
    return torch.cat(crops)


def test_conversion_uses_every_weight_of_the_graph(graph):
    state = pose_landmarker_state_from_tflite(graph)
    assert state.keys() == PoseLandmarker().state_dict().keys()
    assert sum(v.numel() for v in state.values()) == pytest.approx(3.17e6, rel=0.01)


def test_another_graph_is_refused(mediapipe_models):
    with pytest.raises(ValueError, match="convolutions"):
        pose_landmarker_state_from_tflite(read_tflite(mediapipe_models / "pose_detection.tflite"))


@pytest.mark.parametrize("delegate", ["xnnpack", "builtin"])
def test_matches_litert_on_real_person_crops(mediapipe_models, litert, landmarker, person_crops, delegate):
    # Measured on these crops (worst of both runtimes): landmarks 1.4e-3 crop pixels, presence 6.5e-6,
    # world landmarks 4.2e-5, heatmap logits 2.8e-4, segmentation probabilities 1.1e-3 and logits
    # 5.5e-3 x max(1, |logit|) (the logits reach |1600|). Those are float32 rounding in another order:
    # the same network in float64 is as far from LiteRT as float32 torch is (segmentation logits below
    # |20|: LiteRT 0.006-0.017 from float64, torch 0.005-0.009). A wrong padding, resize alignment or
    # weight layout moves outputs by orders of magnitude more. Tolerances: 3-10x the measured.
    options = (
        {}
        if delegate == "xnnpack"
        else {"experimental_op_resolver_type": litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    )
    runtime = litert.Interpreter(model_path=str(mediapipe_models / "pose_landmark_full.tflite"), num_threads=1, **options)
    runtime.allocate_tensors()
    with torch.no_grad():
        ours = landmarker(person_crops)
    for i, crop in enumerate(person_crops):
        runtime.set_tensor(runtime.get_input_details()[0]["index"], crop.permute(1, 2, 0)[None].contiguous().numpy())
        runtime.invoke()
        theirs = {d["name"]: torch.from_numpy(runtime.get_tensor(d["index"]).copy()) for d in runtime.get_output_details()}
        assert theirs["Identity_1"].item() > 0.9  # a person is there
        assert (ours.landmarks[i].flatten() - theirs["Identity"][0]).abs().max() <= 1e-2
        assert (ours.presence[i] - theirs["Identity_1"][0, 0]).abs() <= 1e-4
        assert (ours.world_landmarks[i].flatten() - theirs["Identity_4"][0]).abs().max() <= 5e-4
        assert (ours.heatmap[i] - theirs["Identity_3"][0].permute(2, 0, 1)).abs().max() <= 3e-3
        logits = theirs["Identity_2"][0, :, :, 0]
        difference = (ours.segmentation[i, 0] - logits).abs()
        assert (difference / logits.abs().clamp_min(1)).max() <= 2e-2
        assert (torch.sigmoid(ours.segmentation[i, 0]) - torch.sigmoid(logits)).abs().max() <= 5e-3


def test_batched_like_one_by_one(landmarker):
    crops = torch.rand(3, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        together = landmarker(crops)
        alone = landmarker(crops[1:2])
    assert together.landmarks.shape == (3, NUM_LANDMARKS, 5) and together.segmentation.shape == (3, 1, 256, 256)
    assert together.heatmap.shape == (3, NUM_LANDMARKS, 64, 64) and together.world_landmarks.shape == (3, NUM_LANDMARKS, 3)
    torch.testing.assert_close(together.segmentation[1:2], alone.segmentation, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(together.landmarks[1:2], alone.landmarks, rtol=1e-4, atol=1e-4)


def test_landmarks_without_the_segmentation_branch(landmarker, person_crops):
    with torch.no_grad():
        full = landmarker(person_crops[:1])
        light = landmarker(person_crops[:1], segment=False)
    assert light.segmentation is None
    assert torch.equal(light.landmarks, full.landmarks) and torch.equal(light.heatmap, full.heatmap)


def test_wrong_input_size_is_refused():
    with pytest.raises(ValueError, match="256"):
        PoseLandmarker()(torch.zeros(1, 3, 224, 224))


def heatmap_with(cells: dict[tuple[int, int], float]) -> torch.Tensor:
    """A ``(1, 39, 64, 64)`` heatmap of logit -40 (probability ~0) but for ``cells`` (row, col) -> logit."""
    heatmap = torch.full((1, NUM_LANDMARKS, 64, 64), -40.0, dtype=torch.float64)
    for (row, col), logit in cells.items():
        heatmap[0, :, row, col] = logit
    return heatmap


def test_heatmap_refinement_moves_to_the_weighted_cells():
    landmarks = torch.zeros(1, NUM_LANDMARKS, 5, dtype=torch.float64)
    landmarks[0, :, :2] = torch.tensor([41.0, 83.0], dtype=torch.float64)  # cell (row 20, col 10)
    sure = refine_from_heatmap(landmarks, heatmap_with({(22, 12): 20.0}))  # 2 cells away: inside the 7x7 window
    # Cell c stands for crop pixel 4 c (MediaPipe's convention).
    assert sure[0, 0, :2].tolist() == pytest.approx([48.0, 88.0], abs=1e-6)
    # Two cells of probability 1 and 1/3: their weighted mean.
    third = float(np.log(0.5))  # sigmoid = 1/3
    mixed = refine_from_heatmap(landmarks, heatmap_with({(20, 10): 20.0, (20, 12): third}))
    assert mixed[0, 5, 0].item() == pytest.approx(4 * (10 * 1.0 + 12 / 3) / (4 / 3), abs=1e-6)
    assert torch.equal(mixed[..., 2:], landmarks[..., 2:])


def test_heatmap_refinement_keeps_unsure_and_off_map_landmarks():
    landmarks = torch.zeros(1, NUM_LANDMARKS, 5, dtype=torch.float64)
    landmarks[0, :, :2] = torch.tensor([41.0, 83.0], dtype=torch.float64)
    landmarks[0, 7, :2] = torch.tensor([-3.0, 100.0], dtype=torch.float64)  # left of the crop
    far = refine_from_heatmap(landmarks, heatmap_with({(24, 10): 20.0}))  # 4 rows away: outside the window
    assert torch.equal(far, landmarks)
    weak = refine_from_heatmap(landmarks, heatmap_with({(20, 10): -0.1}))  # below probability 0.5
    assert torch.equal(weak, landmarks)
    moved = refine_from_heatmap(landmarks, heatmap_with({(24, 0): 20.0}))
    assert torch.equal(moved[0, 7], landmarks[0, 7])


@pytest.mark.gpu
def test_runs_on_cuda_like_on_the_cpu(landmarker, person_crops):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    with torch.no_grad():
        on_cpu = landmarker(person_crops)
        on_gpu = landmarker.to("cuda")(person_crops.cuda())
    landmarker.to("cpu")
    # cuDNN may use TF32 or other algorithms: compare what a user sees.
    assert (on_cpu.landmarks[..., :2] - on_gpu.landmarks[..., :2].cpu()).abs().max() <= 0.5
    assert (torch.sigmoid(on_cpu.segmentation) - torch.sigmoid(on_gpu.segmentation.cpu())).abs().max() <= 0.02


@pytest.mark.parametrize(("cin", "cout", "width"), [(8, 8, 64), (16, 8, 32), (8, 5, 32), (8, 8, 31), (48, 39, 16)])
def test_pointwise_and_single_output_convolutions_are_plain_convolutions(cin, cout, width):
    # Few outputs (packed pixels), a width that does not pack, many outputs: all the plain 1x1 convolution.
    generator = torch.Generator().manual_seed(cin + width)
    x = torch.rand(2, cin, 24, width, generator=generator).contiguous(memory_format=torch.channels_last)
    pointwise = Pointwise(cin, cout)
    single = SingleOutput(cin, 3)
    with torch.no_grad():
        for conv in (pointwise, single):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator))
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator))
        expected = F.conv2d(x.contiguous(), pointwise.weight, pointwise.bias)
        torch.testing.assert_close(pointwise(x), expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(pointwise(x.contiguous()), expected, rtol=0, atol=1e-5)
        expected = F.conv2d(x.contiguous(), single.weight, single.bias, padding=1)
        # Depthwise then a channel sum adds the same cin * 9 products in another order than conv2d, whose own
        # order depends on the CPU's kernels: each float32 sum of n terms is within n * u * sum(|terms|) of
        # the exact one (u = 2^-24), so the two within twice that. A wrong weight or tap is off by O(1).
        terms = F.conv2d(x.contiguous(), single.weight.abs(), single.bias.abs(), padding=1)
        bound = 2 * (cin * 9 + 1) * 2.0**-24 * terms
        assert ((single(x) - expected).abs() <= bound).all()
