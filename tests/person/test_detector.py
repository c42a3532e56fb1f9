"""The BlazePose detector: anchors, decoding, weighted NMS, letterbox, and parity with LiteRT on real frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vmat.person.anchors import DecodeConfig, decode_boxes, logits_to_scores, ssd_anchors, weighted_nms
from vmat.person.detector import (
    InputTransform,
    PoseDetector,
    TileConfig,
    Window,
    decode_detections,
    depth_to_space,
    detect_people,
    frames_to_input,
    letterbox_window,
    merge_candidates,
    pose_detector_state_from_tflite,
    tile_windows,
)
from vmat.person.tflite_reader import read_tflite

f32 = torch.float32


def test_anchors_count_order_and_values():
    anchors = ssd_anchors()
    assert anchors.shape == (2254, 2) and anchors.dtype == f32
    # 28x28 cells x 2, then 14x14 x 2, then 7x7 x 6 (three stride-32 layers share one map); x runs fastest.
    expected = {
        0: (0.5 / 28, 0.5 / 28),
        1: (0.5 / 28, 0.5 / 28),
        2: (1.5 / 28, 0.5 / 28),
        2 * 28: (0.5 / 28, 1.5 / 28),
        1567: (27.5 / 28, 27.5 / 28),
        1568: (0.5 / 14, 0.5 / 14),
        1568 + 391: (13.5 / 14, 13.5 / 14),
        1960: (0.5 / 7, 0.5 / 7),
        1965: (0.5 / 7, 0.5 / 7),
        1966: (1.5 / 7, 0.5 / 7),
        2253: (6.5 / 7, 6.5 / 7),
    }
    for index, (x, y) in expected.items():
        assert anchors[index].tolist() == torch.tensor([x, y], dtype=f32).tolist(), index


def test_decode_hand_made_regressors():
    anchors = torch.tensor([[0.25, 0.5], [0.75, 0.125]])
    # (x, y, w, h, 4 keypoints) in input pixels relative to the anchor; scale 224 (reverse_output_order).
    raw = torch.tensor(
        [
            [22.4, -11.2, 44.8, 89.6, 0.0, 0.0, 224.0, -112.0, -56.0, 28.0, 11.2, 0.0],
            [0.0, 0.0, 0.0, 0.0, -22.4, 22.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    boxes, keypoints = decode_boxes(raw[None], anchors)
    # centre (0.35, 0.45), size (0.2, 0.4)
    torch.testing.assert_close(boxes[0, 0], torch.tensor([0.25, 0.25, 0.45, 0.65]), rtol=0, atol=1e-7)
    torch.testing.assert_close(
        keypoints[0, 0], torch.tensor([[0.25, 0.5], [1.25, 0.0], [0.0, 0.625], [0.3, 0.5]]), rtol=0, atol=1e-7
    )
    torch.testing.assert_close(boxes[0, 1], torch.tensor([0.75, 0.125, 0.75, 0.125]), rtol=0, atol=0)
    torch.testing.assert_close(keypoints[0, 1, 0], torch.tensor([0.65, 0.225]), rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="do not fit"):
        decode_boxes(raw[:, :10], anchors, DecodeConfig())


def test_scores_are_clipped_sigmoids():
    scores = logits_to_scores(torch.tensor([-1e4, -100.0, 0.0, 2.0, 1e4]))
    assert scores.tolist() == torch.sigmoid(torch.tensor([-100.0, -100.0, 0.0, 2.0, 100.0])).tolist()


def test_decode_detections_threshold_size_and_frame_pixels():
    regressors = torch.zeros(1, 2254, 12)
    logits = torch.full((1, 2254), -5.0)
    logits[0, 0] = 3.0  # kept: box centred on anchor 0, size 22.4 x 11.2 input pixels
    regressors[0, 0, 2:4] = torch.tensor([22.4, 11.2])
    regressors[0, 0, 4:6] = torch.tensor([4.0, -2.0])
    logits[0, 5] = 3.0  # dropped: negative width
    regressors[0, 5, 2] = -1.0
    logits[0, 7] = 0.1  # dropped: score 0.52 < 0.6
    transform = InputTransform(scale_x=0.5, scale_y=0.25, offset_x=2.0, offset_y=-1.0)
    (boxes, keypoints, scores), = decode_detections(regressors, logits, transform, min_score=0.6)
    centre = 224 / 56  # anchor 0's centre in input pixels
    expected_box = [
        (centre - 11.2 - 2.0) / 0.5,
        (centre - 5.6 + 1.0) / 0.25,
        (centre + 11.2 - 2.0) / 0.5,
        (centre + 5.6 + 1.0) / 0.25,
    ]
    torch.testing.assert_close(boxes, torch.tensor([expected_box]), rtol=0, atol=1e-4)
    torch.testing.assert_close(
        keypoints[0, 0], torch.tensor([(centre + 4 - 2.0) / 0.5, (centre - 2 + 1.0) / 0.25]), rtol=0, atol=1e-4
    )
    torch.testing.assert_close(scores, torch.sigmoid(torch.tensor([3.0])))


def test_weighted_nms_merges_around_the_best_only():
    boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # A 0.9
            [1.0, 0.0, 11.0, 10.0],  # B 0.6: IoU(A, B) = 0.82 -> merged into A
            [20.0, 20.0, 30.0, 30.0],  # C 0.8: alone
            [6.0, 0.0, 16.0, 10.0],  # E 0.7: IoU(A, E) = 0.25, IoU(B, E) = 0.33, but B went with A
        ]
    )
    scores = torch.tensor([0.9, 0.6, 0.8, 0.7])
    keypoints = boxes[:, None, :2].repeat(1, 2, 1) + torch.tensor([[0.0, 0.0], [0.0, 5.0]])
    out_boxes, out_keypoints, out_scores = weighted_nms(boxes, keypoints, scores, 0.3)
    torch.testing.assert_close(out_scores, torch.tensor([0.9, 0.8, 0.7]))
    torch.testing.assert_close(out_boxes[0], torch.tensor([0.4, 0.0, 10.4, 10.0]))  # (0.9 A + 0.6 B) / 1.5
    torch.testing.assert_close(out_boxes[1:], boxes[[2, 3]])
    torch.testing.assert_close(out_keypoints[0], torch.tensor([[0.4, 0.0], [0.4, 5.0]]))
    # Clusters may be decided by other boxes than the ones averaged.
    apart = boxes + torch.arange(4.0)[:, None] * 100
    out_boxes, _, out_scores = weighted_nms(boxes, keypoints, scores, 0.3, overlap_boxes=apart)
    assert out_scores.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6])
    # With groups, only the best one's group is blended; the others are still suppressed.
    out_boxes, _, out_scores = weighted_nms(boxes, keypoints, scores, 0.3, groups=torch.tensor([0, 1, 0, 0]))
    torch.testing.assert_close(out_scores, torch.tensor([0.9, 0.8, 0.7]))
    torch.testing.assert_close(out_boxes, boxes[[0, 2, 3]])
    empty = weighted_nms(boxes[:0], keypoints[:0], scores[:0])
    assert [t.shape[0] for t in empty] == [0, 0, 0]


def test_depth_to_space_is_tensorflows_order():
    block, c, h, w = 2, 3, 2, 4
    nhwc = np.arange(h * w * block * block * c, dtype=np.float32).reshape(1, h, w, block * block * c)
    expected = np.zeros((1, h * block, w * block, c), np.float32)
    for y in range(h):
        for x in range(w):
            for i in range(block):
                for j in range(block):
                    expected[0, y * block + i, x * block + j] = nhwc[0, y, x, (i * block + j) * c : (i * block + j + 1) * c]
    out = depth_to_space(torch.from_numpy(nhwc).permute(0, 3, 1, 2), block)
    np.testing.assert_array_equal(out.permute(0, 2, 3, 1).numpy(), expected)


@pytest.mark.parametrize("height,width", [(720, 1280), (480, 854), (1280, 720), (224, 224)])
def test_letterbox_places_the_frame_where_the_transform_says(height, width):
    window = letterbox_window(height, width)
    frames = torch.zeros(1, 3, height, width, dtype=torch.uint8)
    x0, y0, x1, y1 = width // 4, height // 3, width // 4 + width // 5, height // 3 + height // 4
    frames[..., y0:y1, x0:x1] = 255
    inputs, transform = frames_to_input(frames, window)
    assert inputs.shape == (1, 3, 224, 224) and inputs.dtype == f32
    # Frame corners land on the edges of the content; everything outside it is the black border (-1).
    top_left, bottom_right = transform.to_input(torch.tensor([[0.0, 0.0], [width, height]], dtype=torch.float64))
    for value in (*top_left.tolist(), *bottom_right.tolist()):
        assert value == pytest.approx(round(value), abs=1e-9) and 0 <= value <= 224
    (left, top), (right, bottom) = top_left.round().int().tolist(), bottom_right.round().int().tolist()
    assert min(right - left, bottom - top) < 224 or height == width
    assert max(right - left, bottom - top) == 224
    border = torch.ones(224, 224, dtype=torch.bool)
    border[top:bottom, left:right] = False
    assert bool((inputs[0][:, border] == -1).all())
    # The white square's centroid moves as the transform says (antialiasing spreads, never shifts it).
    weight = (inputs[0, 0] + 1) / 2
    ys, xs = torch.meshgrid(torch.arange(224.0) + 0.5, torch.arange(224.0) + 0.5, indexing="ij")
    centroid = torch.stack(((weight * xs).sum(), (weight * ys).sum())) / weight.sum()
    expected = transform.to_input(torch.tensor([(x0 + x1) / 2, (y0 + y1) / 2]))
    torch.testing.assert_close(centroid, expected, rtol=0, atol=0.05)
    # And back: frame -> input -> frame is the identity.
    points = torch.tensor([[0.0, 0.0], [width, height], [17.25, 3.5]], dtype=torch.float64)
    torch.testing.assert_close(transform.to_frame(transform.to_input(points)), points, rtol=0, atol=1e-9)


def test_float_and_uint8_frames_give_the_same_input():
    frames = torch.randint(0, 256, (2, 3, 90, 160), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    window = letterbox_window(90, 160)
    from_uint8, transform_a = frames_to_input(frames, window)
    from_float, transform_b = frames_to_input(frames.float() / 255, window)
    assert transform_a == transform_b
    # The CPU uint8 resampler works in fixed point and rounds to whole levels: within one level (2/255 in
    # [-1, 1]; measured 0.86 of a level).
    assert float((from_uint8 - from_float).abs().max()) <= 2 / 255


def test_tile_windows_cover_with_overlap():
    windows = tile_windows(480, 854, TileConfig(fraction=0.75, overlap=0.3))
    assert {w.side for w in windows} == {360}
    xs, ys = sorted({w.x0 for w in windows}), sorted({w.y0 for w in windows})
    assert xs[0] == 0 and xs[-1] + 360 == 854 and ys[0] == 0 and ys[-1] + 360 == 480
    assert all(b - a <= 360 * 0.7 for a, b in zip(xs, xs[1:])) and len(windows) == len(xs) * len(ys)
    assert tile_windows(100, 100, TileConfig(fraction=1.0)) == [Window(0, 0, 100)]
    # 432 - 180 is exactly two steps of 0.7 * 180: three columns, not four.
    assert sorted({w.x0 for w in tile_windows(240, 432, TileConfig(fraction=0.75, overlap=0.3))}) == [0, 126, 252]
    with pytest.raises(ValueError, match="overlap"):
        TileConfig(overlap=1.0)


# ---- the real network ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector_path(mediapipe_models):
    return mediapipe_models / "pose_detection.tflite"


@pytest.fixture(scope="module")
def detector(detector_path):
    model = PoseDetector().eval()
    model.load_state_dict(pose_detector_state_from_tflite(read_tflite(detector_path)))
    return model


def _video_frames(path, indices) -> torch.Tensor:
    capture = cv2.VideoCapture(str(path))
    frames = []
    for index in indices:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        assert ok, (path, index)
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()


def _litert_outputs(litert, path, inputs: torch.Tensor, delegate: bool) -> tuple[torch.Tensor, torch.Tensor]:
    resolver = litert.OpResolverType.AUTO if delegate else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    runtime = litert.Interpreter(model_path=str(path), experimental_op_resolver_type=resolver)
    runtime.allocate_tensors()
    outputs = {d["name"]: d["index"] for d in runtime.get_output_details()}
    regressors, logits = [], []
    for image in inputs:
        runtime.set_tensor(runtime.get_input_details()[0]["index"], image.permute(1, 2, 0)[None].contiguous().numpy())
        runtime.invoke()
        regressors.append(torch.from_numpy(runtime.get_tensor(outputs["Identity"])[0].copy()))
        logits.append(torch.from_numpy(runtime.get_tensor(outputs["Identity_1"])[0, :, 0].copy()))
    return torch.stack(regressors), torch.stack(logits)


def test_state_conversion_refuses_another_graph(mediapipe_models):
    with pytest.raises(ValueError, match="not the BlazePose detector"):
        pose_detector_state_from_tflite(read_tflite(mediapipe_models / "selfie_segmentation.tflite"))


@pytest.mark.parametrize("delegate", [False, True], ids=["reference-kernels", "xnnpack"])
def test_raw_outputs_match_litert_on_real_frames(detector, detector_path, litert, shared_dir, delegate):
    clips = [
        _video_frames(shared_dir / "data/clips/juggle_static_720p.mp4", [0, 120]),
        _video_frames(shared_dir / "data/davis/hike/hike.mp4", [0]),
    ]
    inputs = torch.cat([frames_to_input(frames, letterbox_window(*frames.shape[-2:]))[0] for frames in clips])
    with torch.no_grad():
        regressors, logits = detector(inputs)
    expected_regressors, expected_logits = _litert_outputs(litert, detector_path, inputs, delegate)
    # Measured max |diff| on these frames: regressors 9.2e-4 (reference kernels) / 1.8e-3 (XNNPACK) input
    # pixels on values up to 835, logits 3.7e-4 / 7.9e-4. That is float32 rounding through 73 layers: this
    # float32 model is 1.2e-3 / 5.7e-4 from itself in float64, and LiteRT is as far (1.9e-3 / 8.0e-4). A
    # 200th of an input pixel and 2e-3 of a logit are far below anything the post-processing can see, and
    # any wrong weight or layout is far above.
    torch.testing.assert_close(regressors, expected_regressors, rtol=0, atol=5e-3)
    torch.testing.assert_close(logits, expected_logits, rtol=0, atol=2e-3)


def test_juggler_is_found_as_with_litert(detector, detector_path, litert, shared_dir):
    frame = _video_frames(shared_dir / "data/clips/juggle_static_720p.mp4", [0])
    found = detect_people(detector, frame)
    assert len(found) == 1 and len(found[0]) == 1
    people = found[0]
    assert float(people.scores[0]) > 0.9
    # He stands in x 620..820, head top near y 50, feet near y 660 (looked at); the body box holds him.
    x0, y0, x1, y1 = people.body_boxes()[0].tolist()
    assert x0 < 620 and x1 > 820 and y0 < 60 and y1 > 650 and x1 - x0 < 800
    hx, hy = ((people.boxes[0, :2] + people.boxes[0, 2:]) / 2).tolist()
    assert 660 < hx < 760 and 40 < hy < 180  # the detection box is on his head
    # The same post-processing on LiteRT's outputs gives the same person within a pixel.
    inputs, transform = frames_to_input(frame, letterbox_window(720, 1280))
    regressors, logits = _litert_outputs(litert, detector_path, inputs, delegate=True)
    reference = merge_candidates(decode_detections(regressors, logits, transform))
    assert len(reference) == 1
    torch.testing.assert_close(people.boxes, reference.boxes, rtol=0, atol=1.0)
    torch.testing.assert_close(people.keypoints, reference.keypoints, rtol=0, atol=1.0)
    torch.testing.assert_close(people.scores, reference.scores, rtol=0, atol=1e-3)
    # Tiles add no duplicate of him, and their views of parts of him do not move his keypoints.
    tiled = detect_people(detector, frame, tiles=TileConfig())[0]
    assert len(tiled) == 1
    torch.testing.assert_close(tiled.keypoints, people.keypoints, rtol=0, atol=1e-3)  # same mean, other sum order


def test_batched_frames_and_float_input_give_the_same_people(detector, shared_dir):
    frames = _video_frames(shared_dir / "data/clips/juggle_static_720p.mp4", [0, 200])
    together = detect_people(detector, frames)
    alone = [detect_people(detector, frames[i : i + 1])[0] for i in range(2)]
    floats = detect_people(detector, frames.float() / 255)
    for a, b, c in zip(together, alone, floats):
        torch.testing.assert_close(a.keypoints, b.keypoints, rtol=0, atol=1e-3)
        torch.testing.assert_close(a.keypoints, c.keypoints, rtol=0, atol=2.0)
    blank = detect_people(detector, torch.zeros(1, 3, 360, 640, dtype=torch.uint8))[0]
    assert len(blank) == 0 and blank.keypoints.shape == (0, 4, 2) and blank.body_boxes().shape == (0, 4)


def test_tiles_find_a_spectator_the_full_frame_misses(detector, shared_dir):
    # judo frame 5 annotates one spectator, 159 px tall at 480p: x 626..696, y 80..238.
    frame = torch.from_numpy(cv2.cvtColor(cv2.imread(str(shared_dir / "data/judo/frames/00005.jpg")), cv2.COLOR_BGR2RGB))
    frame = frame.permute(2, 0, 1)[None].contiguous()

    def spectator_found(people) -> bool:
        heads = (people.boxes[:, :2] + people.boxes[:, 2:]) / 2
        hips = people.keypoints[:, 0]
        inside = lambda p: (p[:, 0] > 610) & (p[:, 0] < 712) & (p[:, 1] > 64) & (p[:, 1] < 254)  # noqa: E731
        return bool((inside(heads) & inside(hips)).any())

    assert not spectator_found(detect_people(detector, frame)[0])
    with_tiles = detect_people(detector, frame, tiles=TileConfig())[0]
    assert spectator_found(with_tiles)
    assert 3 <= len(with_tiles) <= 7  # the clinched fighters and four to six spectators, no pile of duplicates
