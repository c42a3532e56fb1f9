import json
from fractions import Fraction

import numpy as np
import pytest
import torch

from tests.layers.stacks import two_people
from vmat.layers import LayersFileError, LayersReader, LayersWriter, LayerStack
from vmat.layers.store import SourceFingerprint, decode_stack, decodes_to, encode_stack, pack_frame, unpack_frame


def quantised_stack(seed: int, height: int = 5, width: int = 7) -> LayerStack:
    """Random layers whose values are already on the file's 8-bit colour / 16-bit alpha grid."""
    generator = torch.Generator().manual_seed(seed)
    colour = torch.randint(0, 256, (3, 3, height, width), generator=generator).float() / 255
    alpha = torch.randint(0, 65536, (3, height, width), generator=generator).float() / 65535
    alpha[0] = 1
    alpha[2, :, :3] = 0  # a plane that covers only part of the frame is stored cropped
    colour[2, :, :, :3] = 0
    colour[1] *= (alpha[1] > 0).float()
    depth = torch.tensor([float("inf"), 2.5, 1.25])
    return LayerStack(colour, alpha, depth, (0, 3, 8))


def test_encode_decode_is_lossless_on_the_grid():
    stack = quantised_stack(0)
    arrays = encode_stack(stack)
    assert arrays["alpha_2"].dtype == np.uint16 and arrays["colour_2"].dtype == np.uint8
    assert arrays["boxes"][2].tolist() == [3, 0, 7, 5]  # cropped to the tight box
    back = decode_stack(arrays, stack.width, stack.height)
    assert torch.equal(back.alpha, stack.alpha)
    assert torch.equal(back.colour, stack.colour)
    assert torch.equal(back.depth, stack.depth) and back.ids == stack.ids


def test_decodes_to_says_whether_the_round_trip_gives_the_stack_back_exactly():
    on_grid = quantised_stack(1)
    assert decodes_to(encode_stack(on_grid), on_grid)
    colour, alpha = on_grid.colour.clone(), on_grid.alpha.clone()
    finer_colour, finer_alpha, colour_outside, alpha_outside = colour.clone(), alpha.clone(), colour.clone(), alpha.clone()
    finer_colour[1, 0, 0, 0] += 0.25 / 255  # between two 8-bit values
    finer_alpha[1, 0, 0] = 0.5 + 0.25 / 65535
    colour_outside[2, 1, 0, 0] = 0.5  # plane 2 has no alpha in columns 0-2: its colour there is not kept
    alpha_outside[2, 0, 0] = 0.2 / 65535  # rounds to 0: outside the stored box
    changed = [
        on_grid.replace(colour=finer_colour),
        on_grid.replace(alpha=finer_alpha),
        on_grid.replace(colour=colour_outside),
        on_grid.replace(alpha=alpha_outside),
        on_grid.replace(depth=on_grid.depth.double()),
        on_grid.replace(colour=colour.double()),
    ]
    for stack in changed:
        arrays = encode_stack(stack)
        back = decode_stack(arrays, stack.width, stack.height)
        exact = (
            back.alpha.dtype == stack.alpha.dtype
            and back.colour.dtype == stack.colour.dtype
            and back.depth.dtype == stack.depth.dtype
            and torch.equal(back.alpha, stack.alpha)
            and torch.equal(back.colour, stack.colour)
            and torch.equal(back.depth, stack.depth)
        )
        assert not exact and not decodes_to(arrays, stack)


def test_packed_frame_is_exact_and_smaller_than_raw_on_smooth_images():
    height, width = 37, 53
    ramp = np.add.outer(np.arange(height), 3 * np.arange(width)).astype(np.uint8)
    arrays = {
        "ids": np.array([0], np.int64),
        "boxes": np.zeros((1, 4), np.int32),
        "colour_0": np.dstack([ramp, ramp + 7, ramp * 2]),
    }
    data = pack_frame(arrays)
    back = unpack_frame(data)
    assert sorted(back) == sorted(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype
        np.testing.assert_array_equal(back[name], array)
    # Row differences of a ramp are constant, so the packed frame is a small fraction of the raw pixels.
    assert len(data) < arrays["colour_0"].nbytes / 10


def test_quantisation_error_is_half_a_step():
    stack = two_people()
    colour = stack.colour.clone()
    colour[1] = 0.3  # 76.5 / 255: halfway between two 8-bit values
    alpha = stack.alpha.clone()
    alpha[1, 1, 0] = 1 / 3
    back = decode_stack(encode_stack(stack.replace(colour=colour, alpha=alpha)), 3, 2)
    assert (back.alpha - alpha).abs().max() <= 0.5 / 65535 + 1e-7
    inside = alpha[1] > 0
    assert (back.colour[1][:, inside] - 0.3).abs().max() <= 0.5 / 255 + 1e-7


def test_file_round_trip_streams_frames(tmp_path):
    path = tmp_path / "clip.vlayers"
    stacks = [quantised_stack(seed) for seed in range(3)]
    with LayersWriter(path, frame_rate=Fraction(30000, 1001), metadata={"source": "test"}) as writer:
        for index, stack in enumerate(stacks):
            writer.write(stack, time=index / 30)
        assert not path.exists()  # appears only when complete
    reader = LayersReader(path)
    assert len(reader) == 3
    assert reader.info.frame_rate == Fraction(30000, 1001)
    assert reader.info.instance_ids == [3, 8]
    assert reader.info.times == [0.0, 1 / 30, 2 / 30]
    assert reader.info.metadata == {"source": "test"}
    for _ in range(2):  # re-iterable
        for expected, got in zip(stacks, reader, strict=True):
            assert torch.equal(got.alpha, expected.alpha) and torch.equal(got.colour, expected.colour)
    assert torch.equal(reader.read(1).alpha, stacks[1].alpha)


def test_the_source_fingerprint_keeps_the_frame_the_layers_start_at(tmp_path):
    path = tmp_path / "clip.vlayers"
    with LayersWriter(path, source=SourceFingerprint(size=10, duration=2.0, first_frame="ab", start=7)) as writer:
        writer.write(quantised_stack(0))
    assert LayersReader(path).info.source == SourceFingerprint(10, 2.0, "ab", 7)
    header = json.loads((path / "header.json").read_text())
    for start, expected in ((None, None), ("absent", None), (-1, "error"), (True, "error"), (2.5, "error")):
        if start == "absent":
            header["source"].pop("start", None)
        else:
            header["source"]["start"] = start
        (path / "header.json").write_text(json.dumps(header))
        if expected == "error":
            with pytest.raises(LayersFileError, match="an object with size, duration, first_frame and start"):
                LayersReader(path)
        else:
            assert LayersReader(path).info.source == SourceFingerprint(10, 2.0, "ab", None)


def test_failed_writing_leaves_nothing(tmp_path):
    path = tmp_path / "clip.vlayers"
    with pytest.raises(RuntimeError):
        with LayersWriter(path) as writer:
            writer.write(quantised_stack(0))
            raise RuntimeError("model crashed")
    assert list(tmp_path.iterdir()) == []


def test_frames_of_another_size_are_refused(tmp_path):
    with LayersWriter(tmp_path / "clip.vlayers") as writer:
        writer.write(quantised_stack(0))
        with pytest.raises(LayersFileError, match="not 7x5"):
            writer.write(quantised_stack(0, height=4))


def test_reader_errors(tmp_path):
    with pytest.raises(LayersFileError, match="does not exist"):
        LayersReader(tmp_path / "missing.vlayers")
    (tmp_path / "partial.vlayers").mkdir()
    with pytest.raises(LayersFileError, match="incomplete"):
        LayersReader(tmp_path / "partial.vlayers")
    path = tmp_path / "clip.vlayers"
    with LayersWriter(path) as writer:
        writer.write(quantised_stack(0))
    header = json.loads((path / "header.json").read_text())
    header["version"] = 3
    (path / "header.json").write_text(json.dumps(header))
    with pytest.raises(LayersFileError, match="version 3; this vmat reads version 2"):
        LayersReader(path)
    header["version"] = 2
    (path / "header.json").write_text(json.dumps(header))
    with pytest.raises(LayersFileError, match="outside"):
        LayersReader(path).read(1)
    (path / "frames" / "00000000.vlf").write_bytes(b"not a frame")
    with pytest.raises(LayersFileError, match="Frame 0 of layers file .* cannot be read"):
        LayersReader(path).read(0)
