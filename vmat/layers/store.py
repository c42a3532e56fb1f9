"""The layers file: a clip's layer stacks on disk, written and read one frame at a time.

Saving the layers once lets every edit be redone without running the models again. Format version 2 is
a folder (conventionally named ``*.vlayers``)::

    header.json               written when the writer closes (its presence marks a complete file)
      format        "vmat-layers"
      version       2
      width, height frame size in pixels
      num_frames    number of frames
      frame_rate    "num/den" string, or null
      times         presentation time in seconds per frame (null entries where unknown)
      instance_ids  every instance id that appears in the clip, sorted (the background, 0, excluded)
      alpha         "uint16"   own alpha stored as round(alpha * 65535)
      colour        "uint8"    straight colour stored as round(colour * 255)
      depth         "larger is farther"
      metadata      free-form JSON object from the writer's caller
    frames/00000000.vlf       one frame: a zstd-compressed, uncompressed-numpy ``.npz`` archive of
      ids      (P,) int64       instance ids, the background (0) first
      depth    (P,) float32     mean plane depth; the background is +inf
      boxes    (P, 4) int32     x0, y0, x1, y1 of the stored region of each plane (plane 0: whole frame)
      colour_p (h, w, 3) uint8  plane p's colour inside its box, as differences along each row
      alpha_p  (h, w) uint16    plane p's own alpha inside its box, p >= 1, as differences along each row

Outside its box a plane's alpha and colour are 0: a person is stored only over the tight box of their
non-zero alpha, which keeps files small. Alpha is uint16 because it multiplies every colour in an edit:
a uniform step of 1/65535 is far below what an 8-bit output can show, and unlike float16 it has the same
precision near 1 as near 0. Colour is 8-bit like the footage it comes from; straight colour is multiplied
by alpha when rendered, so its rounding error in the output stays within half an 8-bit step.

Images are stored as the wrapping difference of each pixel from its left neighbour (PNG's "sub" filter),
which zstd at level 1 packs about a fifth smaller than raw pixels; zstd is used because deflate
(``np.savez_compressed``) took most of a 720p pipeline's time, about 15 times longer to write.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch
import zstandard

from vmat.io.atomic import check_output_path, commit, discard, temporary_sibling
from vmat.layers.errors import LayersFileError
from vmat.layers.stack import LayerStack

FORMAT_NAME = "vmat-layers"
FORMAT_VERSION = 2
_ALPHA_SCALE = 65535.0
_COLOUR_SCALE = 255.0


@dataclass(frozen=True)
class LayersInfo:
    """What a layers file's header says about the clip."""

    width: int
    height: int
    num_frames: int
    frame_rate: Fraction | None
    times: list[float | None]
    instance_ids: list[int]
    metadata: dict[str, Any] = field(default_factory=dict)


_ZSTD_LEVEL = 1


def _frame_name(index: int) -> str:
    return f"{index:08d}.vlf"


def _is_image(name: str) -> bool:
    return name.startswith(("colour_", "alpha_"))


def _row_differences(image: np.ndarray) -> np.ndarray:
    """Each pixel minus its left neighbour, wrapping (the first column is kept as it is)."""
    differences = image.copy()
    differences[:, 1:] -= image[:, :-1]
    return differences


def _undo_row_differences(differences: np.ndarray) -> np.ndarray:
    return np.cumsum(differences, axis=1, dtype=differences.dtype)


def pack_frame(arrays: Mapping[str, np.ndarray]) -> bytes:
    """One frame file's bytes from :func:`encode_stack`'s arrays."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: _row_differences(a) if _is_image(name) else a for name, a in arrays.items()})
    return zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(buffer.getvalue())


def unpack_frame(data: bytes) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_frame`."""
    with np.load(io.BytesIO(zstandard.ZstdDecompressor().decompress(data))) as stored:
        return {name: _undo_row_differences(stored[name]) if _is_image(name) else stored[name] for name in stored.files}


def _tight_box(nonzero: np.ndarray) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the true pixels (an empty box at 0 when there are none)."""
    rows = np.flatnonzero(nonzero.any(axis=1))
    cols = np.flatnonzero(nonzero.any(axis=0))
    if rows.size == 0:
        return 0, 0, 0, 0
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _quantise(values: torch.Tensor, scale: float, dtype: torch.dtype) -> torch.Tensor:
    return (values.clamp(0, 1) * scale).round().to(dtype)


def encode_stack(stack: LayerStack) -> dict[str, np.ndarray]:
    """The arrays of one frame (see the module docstring); :func:`pack_frame` turns them into bytes.

    Each person plane is cropped to the box of its stored (non-zero after rounding) alpha before anything
    else, so the cost follows the people's size, not the frame's.
    """
    colour = stack.colour.detach().cpu()
    alpha = stack.alpha.detach().cpu()
    arrays: dict[str, np.ndarray] = {
        "ids": np.asarray(stack.ids, dtype=np.int64),
        "depth": stack.depth.detach().cpu().float().numpy(),
        "colour_0": _quantise(colour[0], _COLOUR_SCALE, torch.uint8).permute(1, 2, 0).numpy(),
    }
    boxes = np.zeros((len(stack.ids), 4), dtype=np.int32)
    boxes[0] = (0, 0, stack.width, stack.height)
    for plane in range(1, len(stack.ids)):
        # round(a * 65535) > 0 exactly when a * 65535 > 0.5 (0.5 itself rounds to even, 0).
        x0, y0, x1, y1 = _tight_box((alpha[plane] * _ALPHA_SCALE > 0.5).numpy())
        boxes[plane] = (x0, y0, x1, y1)
        arrays[f"alpha_{plane}"] = _quantise(alpha[plane, y0:y1, x0:x1], _ALPHA_SCALE, torch.int32).numpy().astype(np.uint16)
        arrays[f"colour_{plane}"] = _quantise(colour[plane, :, y0:y1, x0:x1], _COLOUR_SCALE, torch.uint8).permute(1, 2, 0).numpy()
    arrays["boxes"] = boxes
    return arrays


def decode_stack(arrays: Mapping[str, np.ndarray], width: int, height: int) -> LayerStack:
    """Inverse of :func:`encode_stack`."""
    ids = [int(i) for i in arrays["ids"]]
    boxes = arrays["boxes"]
    colour = torch.zeros((len(ids), 3, height, width))
    alpha = torch.zeros((len(ids), height, width))
    colour[0] = torch.from_numpy(arrays["colour_0"]).permute(2, 0, 1) / _COLOUR_SCALE
    alpha[0] = 1.0
    for plane in range(1, len(ids)):
        x0, y0, x1, y1 = (int(v) for v in boxes[plane])
        alpha[plane, y0:y1, x0:x1] = torch.from_numpy(arrays[f"alpha_{plane}"].astype(np.float32)) / _ALPHA_SCALE
        colour[plane, :, y0:y1, x0:x1] = torch.from_numpy(arrays[f"colour_{plane}"]).permute(2, 0, 1) / _COLOUR_SCALE
    return LayerStack(colour, alpha, torch.from_numpy(np.asarray(arrays["depth"], dtype=np.float32)), tuple(ids))


class LayersWriter:
    """Append a clip's layer stacks to a layers file, one frame at a time.

    The folder is written under a temporary name and appears under ``path`` only when the writer closes
    without an error. Use as a context manager::

        with LayersWriter("clip.vlayers", frame_rate=Fraction(30)) as writer:
            for stack in stacks:
                writer.write(stack)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        frame_rate: Fraction | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.path = check_output_path(path, is_dir=True)
        self._temporary = temporary_sibling(self.path)
        (self._temporary / "frames").mkdir(parents=True)
        self._frame_rate = frame_rate
        self._metadata = dict(metadata or {})
        self._size: tuple[int, int] | None = None
        self._times: list[float | None] = []
        self._ids: set[int] = set()
        self._closed = False

    def write(self, stack: LayerStack, time: float | None = None) -> None:
        """Append one frame's layers (``time``: its presentation time in seconds, when known)."""
        if self._closed:
            raise LayersFileError("This layers file is already closed; open a new writer to add frames.")
        size = (stack.width, stack.height)
        if self._size is None:
            self._size = size
        elif size != self._size:
            expected = f"{self._size[0]}x{self._size[1]}"
            raise LayersFileError(f"Frame {len(self._times)} is {size[0]}x{size[1]}, not {expected}.")
        index = len(self._times)
        (self._temporary / "frames" / _frame_name(index)).write_bytes(pack_frame(encode_stack(stack)))
        self._times.append(time)
        self._ids.update(stack.instance_ids)

    def close(self) -> None:
        """Write the header and move the finished file to its final name."""
        if self._closed:
            return
        self._closed = True
        width, height = self._size or (0, 0)
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "width": width,
            "height": height,
            "num_frames": len(self._times),
            "frame_rate": None if self._frame_rate is None else str(Fraction(self._frame_rate)),
            "times": self._times,
            "instance_ids": sorted(self._ids),
            "alpha": "uint16",
            "colour": "uint8",
            "depth": "larger is farther",
            "metadata": self._metadata,
        }
        (self._temporary / "header.json").write_text(json.dumps(header, indent=1))
        commit(self._temporary, self.path)

    def abort(self) -> None:
        """Drop everything written so far."""
        self._closed = True
        discard(self._temporary)

    def __enter__(self) -> LayersWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class LayersReader:
    """Read a layers file frame by frame. Iterating starts at frame 0 each time, so it can be read twice."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        header_path = self.path / "header.json"
        if not self.path.is_dir():
            raise LayersFileError(f"The layers file {str(self.path)!r} does not exist or is not a folder.")
        if not header_path.is_file():
            raise LayersFileError(f"The layers file {str(self.path)!r} has no header.json; it is incomplete.")
        try:
            header = json.loads(header_path.read_text())
        except json.JSONDecodeError:
            raise LayersFileError(f"The header of layers file {str(self.path)!r} is not valid JSON.") from None
        if header.get("format") != FORMAT_NAME:
            raise LayersFileError(f"{str(self.path)!r} is not a vmat layers file.")
        if header.get("version") != FORMAT_VERSION:
            raise LayersFileError(
                f"The layers file {str(self.path)!r} has format version {header.get('version')}; "
                f"this vmat reads version {FORMAT_VERSION}."
            )
        rate = header["frame_rate"]
        self.info = LayersInfo(
            width=int(header["width"]),
            height=int(header["height"]),
            num_frames=int(header["num_frames"]),
            frame_rate=None if rate is None else Fraction(rate),
            times=list(header["times"]),
            instance_ids=[int(i) for i in header["instance_ids"]],
            metadata=dict(header.get("metadata") or {}),
        )

    def __len__(self) -> int:
        return self.info.num_frames

    def read(self, index: int) -> LayerStack:
        """The layer stack of frame ``index``."""
        if not 0 <= index < self.info.num_frames:
            raise LayersFileError(f"Frame {index} is outside this layers file ({self.info.num_frames} frames).")
        frame_path = self.path / "frames" / _frame_name(index)
        try:
            return decode_stack(unpack_frame(frame_path.read_bytes()), self.info.width, self.info.height)
        except (OSError, KeyError, ValueError, zstandard.ZstdError) as error:
            message = f"Frame {index} of layers file {str(self.path)!r} cannot be read ({error})."
            raise LayersFileError(message) from None

    def __iter__(self) -> Iterator[LayerStack]:
        for index in range(self.info.num_frames):
            yield self.read(index)
