"""The TFLite reader folds float16 and sparse constants exactly as the TFLite runtime does."""

from __future__ import annotations

import numpy as np
import pytest

from vmat.person.tflite_reader import TFLiteFormatError, read_tflite


def test_not_a_model(tmp_path):
    path = tmp_path / "x.tflite"
    path.write_bytes(b"\0" * 64)
    with pytest.raises(TFLiteFormatError, match="not a TFLite model"):
        read_tflite(path)


@pytest.mark.parametrize("name", ["pose_detection", "pose_landmark_full"])
def test_constants_match_the_runtime(mediapipe_models, litert, name):
    # Without delegates every folded constant is a real tensor of the runtime, so each can be compared.
    path = mediapipe_models / f"{name}.tflite"
    graph = read_tflite(path)
    runtime = litert.Interpreter(
        model_path=str(path),
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    runtime.allocate_tensors()
    entry = runtime.get_input_details()[0]
    runtime.set_tensor(entry["index"], np.zeros(entry["shape"], np.float32))
    runtime.invoke()
    compared = 0
    for detail in runtime.get_tensor_details():
        value = graph.constants.get(detail["index"])
        if value is not None and value.dtype == np.float32 and detail["name"].endswith("dequantize"):
            np.testing.assert_array_equal(runtime.get_tensor(detail["index"]), value)
            compared += 1
    assert compared > 100
    assert not any(op.kind in ("DEQUANTIZE", "DENSIFY") for op in graph.ops)
