"""Id masks on disk and on screen.

An id mask is an ``(H, W)`` integer array: 0 is background, ``k > 0`` is instance ``k`` and keeps that
number for the whole clip. On disk it is one PNG per frame, named by frame index (``000012.png``; folders
with the older ``00012.png`` names, DAVIS's, are read too), written 8-bit when every id is below 255 and
16-bit otherwise. The same files are accepted back as prompts, and so are DAVIS-style palette PNGs, whose
pixel values are palette indices (= instance ids), and binary masks: a grey 8-bit PNG holding only 0 and
255 (the matting convention: white on black) is one person, id 1. vmat never writes such a file for id
255 (it writes that id 16-bit), so the two readings never meet.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from vmat.errors import InputNotFoundError, NotMediaError, OutputError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def davis_palette(count: int = 256) -> np.ndarray:
    """The DAVIS / PASCAL VOC colour palette, ``(count, 3)`` uint8 RGB; entry 0 is black."""
    palette = np.zeros((count, 3), np.uint8)
    for index in range(count):
        value, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((value >> 0) & 1) << (7 - bit)
            g |= ((value >> 1) & 1) << (7 - bit)
            b |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (r, g, b)
    return palette


def read_id_mask_folder(folder: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """The id masks of a folder of PNGs, one per frame, in natural name order."""
    from vmat.io.image_sequence import natural_key

    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError(f"the mask folder {str(folder)!r} does not exist.")
    for path in sorted(folder.glob("*.png"), key=natural_key):
        yield read_id_mask(path)


def mask_folder_ids(folder: str | os.PathLike[str]) -> set[int]:
    """Every person id in a folder of id masks (reads each mask once)."""
    ids: set[int] = set()
    for ids_mask in read_id_mask_folder(folder):
        ids.update(np.unique(ids_mask).tolist())
    return ids - {0}


def mask_path(folder: str | os.PathLike[str], frame_index: int) -> Path:
    """Where the id mask of ``frame_index`` lives inside an id-mask folder: ``000012.png``, or the older
    ``00012.png`` when a folder has only that (see :func:`vmat.io.image_sequence.frame_file`)."""
    from vmat.io.image_sequence import frame_file

    return frame_file(folder, frame_index)


def write_id_mask(path: str | os.PathLike[str], ids: np.ndarray) -> None:
    """Write an ``(H, W)`` id mask as a grey PNG: 8-bit when every id is below 255, 16-bit otherwise (an
    8-bit mask of 0 and 255 alone reads back as a binary mask)."""
    if ids.ndim != 2:
        raise ValueError(f"an id mask is (H, W), got shape {ids.shape}")
    if ids.size and int(ids.min()) < 0:
        raise ValueError("an id mask holds no negative ids")
    top = int(ids.max()) if ids.size else 0
    if top > 65535:
        raise ValueError(f"ids above 65535 do not fit a PNG, got {top}")
    image: np.ndarray = ids.astype(np.uint8 if top < 255 else np.uint16)
    path = Path(path)
    if not cv2.imwrite(str(path), image):
        raise OutputError(f"cannot write the id mask {str(path)!r}.")


def read_id_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an id-mask PNG as an ``(H, W)`` array (uint8 or uint16).

    Grey 8/16-bit PNGs give their values, except that a binary 8-bit mask (only 0 and 255, grey or in grey
    RGB) is one person, id 1; palette PNGs (DAVIS style) give their palette indices, which is what their
    colours stand for; RGB PNGs drawn in the DAVIS palette's colours give those colours' ids.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"the id mask {str(path)!r} does not exist.")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head != _PNG_SIGNATURE:
        raise NotMediaError(f"the id mask {str(path)!r} is not a PNG file.")
    palette = _png_palette(path)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise NotMediaError(f"the id mask {str(path)!r} cannot be decoded.")
    if palette is None:
        if image.ndim == 3 and image.shape[2] == 3 and (image[..., :1] == image).all() and _is_binary(image):
            return (image[..., 0] == 255).astype(np.uint8)  # white on black saved as RGB (white is no DAVIS colour)
        if image.ndim == 2:
            return _binary_as_one_person(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise NotMediaError(f"the id mask {str(path)!r} is neither grey, palette nor RGB.")
        palette = davis_palette()
    # OpenCV expands palette PNGs to BGR, so map every colour back to the first palette index that has it.
    rgb = image[..., 2::-1] if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    codes = _colour_codes(rgb)
    palette_codes = _colour_codes(palette[None])[0]
    first_index: dict[int, int] = {}
    for index, code in enumerate(palette_codes.tolist()):
        first_index.setdefault(code, index)
    present, inverse = np.unique(codes, return_inverse=True)
    lookup = np.array([first_index.get(code, -1) for code in present.tolist()], np.int64)
    if (lookup < 0).any():
        raise NotMediaError(f"the id mask {str(path)!r} has colours outside its palette (the DAVIS palette for RGB masks).")
    return lookup[inverse].reshape(codes.shape).astype(np.uint8)


def _is_binary(image: np.ndarray) -> bool:
    """Whether an image is 8-bit white on black: 0 and 255, nothing else, some 255."""
    return image.dtype == np.uint8 and bool(image.any()) and not ((image != 0) & (image != 255)).any()


def _binary_as_one_person(image: np.ndarray) -> np.ndarray:
    """A white-on-black 8-bit mask as person 1; any other id mask as it is."""
    return (image == 255).astype(np.uint8) if _is_binary(image) else image


def _colour_codes(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _png_palette(path: Path) -> np.ndarray | None:
    """The ``(N, 3)`` palette of an indexed-colour PNG, or ``None`` for any other PNG."""
    data = path.read_bytes()
    offset = len(_PNG_SIGNATURE)
    colour_type = None
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            colour_type = body[9]
        elif kind == b"PLTE":
            if colour_type != 3:
                return None
            return np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind in (b"IDAT", b"IEND"):
            return None
        offset += 12 + length
    return None


def colourize(image: np.ndarray, ids: np.ndarray, *, opacity: float = 0.55, labels: bool = True) -> np.ndarray:
    """Blend coloured instances over an ``(H, W, 3)`` RGB uint8 image and write each id at its centre.

    Returns a new ``(H, W, 3)`` uint8 RGB image; the outline of every instance is drawn solid.
    """
    palette = davis_palette()
    # Ids above 255 reuse the palette's colours (never its black).
    colours = palette[np.where(ids > 0, (ids.astype(np.int64) - 1) % 255 + 1, 0)]
    out = image.astype(np.float32)
    fg = ids > 0
    out[fg] = (1 - opacity) * out[fg] + opacity * colours[fg]
    out = out.round().astype(np.uint8)
    edges = cv2.morphologyEx(ids.astype(np.uint16), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out[edges & fg] = colours[edges & fg]
    if labels:
        for k in np.unique(ids[fg]).tolist():
            ys, xs = np.nonzero(ids == k)
            x, y = int(np.median(xs)), int(np.median(ys))
            text = str(k)
            cv2.putText(out, text, (x - 6, y + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 4, cv2.LINE_AA)
            cv2.putText(out, text, (x - 6, y + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return out
