"""The torch selfie segmenter against the TFLite originals run by LiteRT, on real frames.

Tolerances: the weights are the originals' float16 values exactly, so the only differences are float32
arithmetic in another order (LiteRT's XNNPACK kernels against PyTorch's). This network's logits reach
|1000| (a float32 step there is 6e-5), and the measured gap between float32 and float64 runs of the same
torch model is 6e-4 on the logits; through the sigmoid (slope <= 0.25) that bounds probability differences
near 1.5e-4. Measured against LiteRT: at most 5.5e-5 (over the four frames below and both variants), so
1e-4 is asserted.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vmat.io.reader import open_video
from vmat.person.selfie import (
    SELFIE_CONFIGS,
    SelfieSegmenter,
    load_selfie_segmenter,
    resample_to_input,
    segment_frames,
    selfie_segmenter_state_from_tflite,
)
from vmat.person.tflite_reader import read_tflite

PROBABILITY_TOLERANCE = 1e-4
VARIANTS = sorted(SELFIE_CONFIGS)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def read_frames(path, indices) -> list[np.ndarray]:
    """The ``(H, W, 3)`` uint8 RGB frames ``indices`` of a clip."""
    frames = []
    with open_video(path) as reader:
        for frame in reader:
            if frame.index in indices:
                frames.append(frame.image)
            if frame.index >= max(indices):
                break
    return frames


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def real_frames(shared_dir) -> list[np.ndarray]:
    """Two 720p juggling frames, a 854x480 DAVIS frame and a 432x240 one (smaller than the model input)."""
    data = shared_dir / "data"
    return (
        read_frames(data / "clips" / "juggle_static_720p.mp4", (0, 60))
        + read_frames(data / "davis" / "hike" / "hike.mp4", (0,))
        + read_frames(data / "davis" / "schoolgirls" / "schoolgirls.mp4", (0,))
    )


def run_litert(litert, model_path, tensor: np.ndarray) -> np.ndarray:
    """The original model on one ``(1, h, w, 3)`` input; its default XNNPACK delegate runs the custom op."""
    runtime = litert.Interpreter(model_path=str(model_path), num_threads=1)
    runtime.allocate_tensors()
    runtime.set_tensor(runtime.get_input_details()[0]["index"], np.ascontiguousarray(tensor, dtype=np.float32))
    runtime.invoke()
    return runtime.get_tensor(runtime.get_output_details()[0]["index"])[0, :, :, 0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_shipped_model_matches_litert_on_real_frames(mediapipe_models, litert, real_frames, variant):
    model = load_selfie_segmenter(variant)
    config = model.config
    inputs = torch.cat([resample_to_input(to_tensor(image), config.height, config.width) for image in real_frames])
    with torch.inference_mode():
        ours = torch.sigmoid(model(inputs))[:, 0].numpy()  # one batch: batching must not change a frame
    for index, tensor in enumerate(inputs.permute(0, 2, 3, 1).numpy()):
        theirs = run_litert(litert, mediapipe_models / f"{variant}.tflite", tensor[None])
        assert theirs.shape == ours[index].shape
        assert np.abs(ours[index] - theirs).max() <= PROBABILITY_TOLERANCE, index


@pytest.mark.parametrize("variant", VARIANTS)
def test_segment_frames_is_the_mediapipe_graph(mediapipe_models, litert, real_frames, variant):
    """``segment_frames`` against ``SelfieSegmentationCpu`` rebuilt from OpenCV and LiteRT.

    The graph warps the frame's corners onto the tensor's (``warpPerspective``, bilinear), runs the model
    and ``cv2.resize``s the mask back. At 1280x720 OpenCV's 1/32-pixel sampling grid holds the sample points
    exactly; its interpolation weights still differ from exact bilinear by up to 3.4e-5, which the network
    carries to about 1e-4 (measured), so 1e-3 is asserted. Resizing with half-pixel centres instead (the
    obvious alternative) is off by 0.99 on this frame.
    """
    cv2 = pytest.importorskip("cv2")
    image = real_frames[0]
    height, width = image.shape[:2]
    config = SELFIE_CONFIGS[variant]
    corners = cv2.boxPoints(((width / 2, height / 2), (width, height), 0)).astype(np.float32)
    targets = np.float32([[0, config.height], [0, 0], [config.width, 0], [config.width, config.height]])
    warped = cv2.warpPerspective(
        image.astype(np.float32) / 255,
        cv2.getPerspectiveTransform(corners, targets),
        (config.width, config.height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )
    expected = cv2.resize(run_litert(litert, mediapipe_models / f"{variant}.tflite", warped[None]), (width, height))
    mask = segment_frames(load_selfie_segmenter(variant), to_tensor(image))
    assert mask.shape == (1, height, width)
    assert np.abs(mask[0].numpy() - expected).max() <= 1e-3


def test_it_finds_a_real_person(shared_dir):
    # DAVIS hike frame 0: one hiker, alone in the mask. Measured IoU 0.86 (square model; 0.85 landscape).
    folder = shared_dir / "data" / "davis" / "hike"
    cv2 = pytest.importorskip("cv2")
    truth = cv2.imread(str(folder / "masks" / "00000.png"), cv2.IMREAD_GRAYSCALE) > 0
    frame = to_tensor(read_frames(folder / "hike.mp4", (0,))[0])
    mask = segment_frames(load_selfie_segmenter(), frame)[0].numpy() > 0.5
    assert (mask & truth).sum() / (mask | truth).sum() > 0.8


def test_another_graph_is_refused(mediapipe_models):
    with pytest.raises(AssertionError):
        selfie_segmenter_state_from_tflite(read_tflite(mediapipe_models / "pose_detection.tflite"))


def test_conversion_uses_every_weight_and_matches_the_module(mediapipe_models):
    for variant in VARIANTS:
        state = selfie_segmenter_state_from_tflite(read_tflite(mediapipe_models / f"{variant}.tflite"))
        model = SelfieSegmenter(SELFIE_CONFIGS[variant])
        model.load_state_dict(state, strict=True)
        assert all(value.dtype == torch.float32 for value in state.values())


@pytest.mark.gpu
def test_runs_on_cuda_like_on_the_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    frames = torch.rand(2, 3, 360, 640, generator=torch.Generator().manual_seed(0))
    model = load_selfie_segmenter()
    on_cpu = segment_frames(model, frames)
    on_gpu = segment_frames(model.to("cuda"), frames.to("cuda")).cpu()
    # cuDNN may use TF32 or other algorithms: well under a visible difference, not bit-equal.
    assert (on_cpu - on_gpu).abs().max() <= 1e-3
