from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from vmat.errors import InputNotFoundError, NotMediaError
from vmat.propagation.idmask import colourize, davis_palette, mask_path, read_id_mask, read_id_mask_folder, write_id_mask


def _palette_png(path, indices: np.ndarray, palette: np.ndarray) -> None:
    """A minimal 8-bit indexed-colour PNG (what DAVIS masks are), written by hand."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    height, width = indices.shape
    rows = b"".join(b"\x00" + row.astype(np.uint8).tobytes() for row in indices)
    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
    data += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    data += chunk(b"IDAT", zlib.compress(rows))
    data += chunk(b"IEND", b"")
    path.write_bytes(data)


def test_davis_palette_first_entries():
    palette = davis_palette()
    assert palette.shape == (256, 3)
    assert palette[:5].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128]]
    assert palette[255].tolist() == [224, 224, 192]


def test_mask_path_names_frames_by_index(tmp_path):
    assert mask_path(tmp_path, 12) == tmp_path / "000012.png"


@pytest.mark.parametrize("older", ["00012.png", "frame_000012.png"])
def test_mask_path_finds_older_names(tmp_path, older):
    (tmp_path / older).write_bytes(b"")
    assert mask_path(tmp_path, 12) == tmp_path / older
    (tmp_path / "000012.png").write_bytes(b"")
    assert mask_path(tmp_path, 12) == tmp_path / "000012.png"


@pytest.mark.parametrize("top, dtype", [(254, np.uint8), (255, np.uint16), (256, np.uint16), (65535, np.uint16)])
def test_write_read_round_trip_picks_bit_depth(tmp_path, top, dtype):
    ids = np.zeros((5, 7), np.int64)
    ids[1, 2] = 3
    ids[4, 6] = top
    write_id_mask(tmp_path / "m.png", ids)
    back = read_id_mask(tmp_path / "m.png")
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, ids)


def test_write_rejects_negative_and_huge_ids(tmp_path):
    with pytest.raises(ValueError):
        write_id_mask(tmp_path / "m.png", np.full((2, 2), -1))
    with pytest.raises(ValueError):
        write_id_mask(tmp_path / "m.png", np.full((2, 2), 70000))


def test_palette_png_gives_palette_indices(tmp_path):
    indices = np.array([[0, 1, 2], [3, 0, 1]], np.uint8)
    _palette_png(tmp_path / "p.png", indices, davis_palette(4))
    np.testing.assert_array_equal(read_id_mask(tmp_path / "p.png"), indices)


def test_palette_png_with_repeated_colour_takes_first_index(tmp_path):
    palette = np.array([[0, 0, 0], [10, 20, 30], [10, 20, 30]], np.uint8)
    _palette_png(tmp_path / "p.png", np.array([[2, 1, 0]], np.uint8), palette)
    np.testing.assert_array_equal(read_id_mask(tmp_path / "p.png"), [[1, 1, 0]])


def test_read_errors_are_user_errors(tmp_path):
    with pytest.raises(InputNotFoundError):
        read_id_mask(tmp_path / "missing.png")
    (tmp_path / "x.png").write_bytes(b"not a png at all")
    with pytest.raises(NotMediaError):
        read_id_mask(tmp_path / "x.png")


def test_colourize_blends_only_instances():
    image = np.full((6, 6, 3), 100, np.uint8)
    ids = np.zeros((6, 6), np.uint16)
    ids[2:4, 2:4] = 2  # palette colour (0, 128, 0)
    out = colourize(image, ids, opacity=0.5, labels=False)
    assert out[0, 0].tolist() == [100, 100, 100]
    # A 2x2 instance is all outline, drawn in its solid colour.
    assert out[2, 2].tolist() == [0, 128, 0]
    ids[1:5, 1:5] = 2
    out = colourize(image, ids, opacity=0.5, labels=False)
    assert out[2, 2].tolist() == [50, 114, 50]  # 0.5 * 100 + 0.5 * (0, 128, 0)


def test_judo_palette_mask(judo):
    ids = read_id_mask(judo / "masks" / "00000.png")
    assert ids.shape == (480, 854)
    assert np.unique(ids).tolist() == [0, 1]
    assert int((ids == 1).sum()) == 53811
    assert np.unique(read_id_mask(judo / "masks" / "00013.png")).tolist() == [0, 4]


def test_rgb_masks_in_davis_colours_and_folders_of_masks(tmp_path):
    ids = np.array([[0, 1, 2], [3, 0, 255]], np.uint8)
    cv2.imwrite(str(tmp_path / "frame_2.png"), ids)
    cv2.imwrite(str(tmp_path / "frame_10.png"), davis_palette()[ids][..., ::-1])  # an RGB PNG (cv2 writes BGR)
    first, second = read_id_mask_folder(tmp_path)  # natural order: frame_2 before frame_10
    assert np.array_equal(first, ids) and np.array_equal(second, ids)
    cv2.imwrite(str(tmp_path / "frame_11.png"), np.full((2, 3, 3), 7, np.uint8))
    with pytest.raises(NotMediaError, match="outside its palette"):
        list(read_id_mask_folder(tmp_path))


@pytest.mark.parametrize("channels", [1, 3])
def test_a_binary_mask_is_one_person_with_id_1(tmp_path, channels):
    white = np.zeros((6, 8), np.uint8)
    white[1:4, 2:6] = 255
    image = white if channels == 1 else np.dstack([white] * 3)
    cv2.imwrite(str(tmp_path / "binary.png"), image)
    ids = read_id_mask(tmp_path / "binary.png")
    assert np.array_equal(ids, (white == 255).astype(np.uint8))


def test_ids_that_are_not_binary_keep_their_values(tmp_path):
    ids = np.zeros((6, 8), np.uint8)
    ids[1:3, 1:3], ids[4:6, 4:6] = 255, 2  # 255 beside another id is person 255
    cv2.imwrite(str(tmp_path / "two.png"), ids)
    assert np.array_equal(read_id_mask(tmp_path / "two.png"), ids)
    alone = np.where(ids == 255, 255, 0).astype(np.uint16)  # vmat writes a lone 255 as 16-bit: still person 255
    write_id_mask(tmp_path / "alone.png", alone)
    assert np.array_equal(read_id_mask(tmp_path / "alone.png"), alone)
