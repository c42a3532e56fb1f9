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
      source        the clip the layers were made from, or null: {"size": bytes, "duration": seconds or
                    null, "first_frame": SHA-256 of its first decoded RGB frame, "start": the clip's frame
                    that is the layers' frame 0 (absent from files written before it was kept)}; an edit
                    checks that the clip it is given matches (see :func:`check_source`) and takes the same
                    frames of it
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

Reading trusts nothing in the file: the header's types and sizes, each frame's declared decompressed size,
its arrays' shapes and boxes are checked against the header and :mod:`vmat.limits` before anything the
file asks for is allocated, and every failure is a one-line :class:`LayersFileError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, TypeGuard

import numpy as np
import torch
import zstandard
from numpy.lib import format as npy

from vmat.io.atomic import check_output_path, commit, discard, temporary_sibling
from vmat.io.image_sequence import list_images
from vmat.io.reader import open_video
from vmat.layers.errors import LayerError, LayersFileError
from vmat.layers.stack import LayerStack
from vmat.limits import MAX_FRAME_PIXELS, MAX_FRAME_SIDE, MAX_INSTANCE_ID, MAX_LAYER_STACK_BYTES, MAX_LAYERS_HEADER_BYTES

FORMAT_NAME = "vmat-layers"
FORMAT_VERSION = 2
_ALPHA_SCALE = 65535.0
_COLOUR_SCALE = 255.0


@dataclass(frozen=True)
class SourceFingerprint:
    """What identifies the clip a layers file was made from (see :func:`source_fingerprint`)."""

    size: int  # bytes of the file (of the images, for a folder)
    duration: float | None  # seconds, as probed
    first_frame: str  # SHA-256 (hex) of the first decoded frame's RGB pixels and its shape
    start: int | None = None  # the clip's frame that is the layers' frame 0 (None: not recorded)


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
    source: SourceFingerprint | None = None


_ZSTD_LEVEL = 1
# Bytes a stored frame holds besides its pixels, per array: the .npy header and the zip entries.
_ARRAY_OVERHEAD = 4096
# Bytes of one decoded plane pixel: float32 RGB colour and float32 alpha.
_DECODED_PIXEL_BYTES = 16


def source_fingerprint(source: str | os.PathLike[str], start: int = 0) -> SourceFingerprint:
    """The fingerprint of a clip (a media file or an image folder): its size, duration and first frame;
    ``start``: the clip's frame that layers made from it begin at (:attr:`SourceFingerprint.start`).

    Decodes one frame with PyAV (whatever backend made the layers), so the hash depends only on the file.
    """
    path = Path(source)
    with open_video(path) as reader:
        duration = reader.info.duration
        first = next(iter(reader), None)
    size = sum(p.stat().st_size for p in list_images(path)) if path.is_dir() else path.stat().st_size
    digest = hashlib.sha256()
    if first is not None:
        digest.update(repr(first.image.shape).encode())
        digest.update(first.image.tobytes())
    return SourceFingerprint(
        size=int(size), duration=None if duration is None else float(duration), first_frame=digest.hexdigest(), start=start
    )


def check_source(layers_path: str | os.PathLike[str], info: LayersInfo, source: str | os.PathLike[str]) -> None:
    """Refuse to use a layers file with a clip other than the one it was made from.

    Files without a fingerprint (written without a source clip) are not checked.
    """
    expected = info.source
    if expected is None:
        return
    actual = source_fingerprint(source)
    same_duration = (
        actual.duration == expected.duration
        if actual.duration is None or expected.duration is None
        else math.isclose(actual.duration, expected.duration, rel_tol=1e-9)
    )
    checks = {
        "size": actual.size == expected.size,
        "duration": same_duration,
        "first frame": actual.first_frame == expected.first_frame,
    }
    differs = [name for name, same in checks.items() if not same]
    if differs:
        raise LayersFileError(
            f"The layers file {str(layers_path)!r} was made from another clip than {str(source)!r} "
            f"(its {' and '.join([', '.join(differs[:-1]), differs[-1]] if len(differs) > 1 else differs)} "
            f"{'does' if len(differs) == 1 else 'do'} not match); make the layers again from this clip."
        )


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
    # Numeric arrays only; naming allow_pickle also keeps an array's name from being taken for that keyword.
    stored = {name: _row_differences(a) if _is_image(name) else a for name, a in arrays.items()}
    np.savez(buffer, allow_pickle=False, **stored)
    return zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(buffer.getvalue())


def unpack_frame(data: bytes, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_frame`.

    ``max_bytes`` bounds the decompressed frame: a frame that declares more, or no size at all, raises
    :class:`ValueError` before anything is decompressed (pack_frame always declares it).
    """
    if max_bytes is not None:
        declared = zstandard.frame_content_size(data)
        if declared < 0:
            raise ValueError("the frame does not declare its decompressed size")
        if declared > max_bytes:
            raise ValueError(f"the frame inflates to {declared} bytes, more than the {max_bytes} its header allows")
    buffer = io.BytesIO(zstandard.ZstdDecompressor().decompress(data))
    with zipfile.ZipFile(buffer) as archive:
        for entry in archive.infolist():
            _check_member(archive, entry)
    buffer.seek(0)
    with np.load(buffer) as stored:
        arrays = {name: stored[name] for name in stored.files}
    # An image that is not 2-D is left as it is, for decode_stack to refuse by its shape.
    return {name: _undo_row_differences(a) if _is_image(name) and a.ndim >= 2 else a for name, a in arrays.items()}


def _check_member(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
    """Raise :class:`ValueError` unless an archive member holds no more array than its stored bytes: numpy
    allocates the shape an .npy header declares before it reads the data, and a compressed member could
    inflate without bound."""
    if entry.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"its array {entry.filename!r} is compressed inside the archive")
    with archive.open(entry) as member:
        version = npy.read_magic(member)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"{entry.filename!r} is .npy version {version}")
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = read_header(member)
    if math.prod(shape) * dtype.itemsize > entry.file_size:
        raise ValueError(f"its array {entry.filename!r} claims {list(shape)} {dtype} in {entry.file_size} bytes")


def _tight_box(nonzero: np.ndarray) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the true pixels (an empty box at 0 when there are none)."""
    rows = np.flatnonzero(nonzero.any(axis=1))
    cols = np.flatnonzero(nonzero.any(axis=0))
    if rows.size == 0:
        return 0, 0, 0, 0
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _quantise(values: torch.Tensor, scale: float, dtype: torch.dtype) -> torch.Tensor:
    return values.clamp(0, 1).mul_(scale).round_().to(dtype)  # in place after the clamp's copy


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


def _check_arrays(arrays: Mapping[str, np.ndarray], width: int, height: int) -> None:
    """Raise :class:`ValueError` unless ``arrays`` are a frame of ``width`` x ``height`` as
    :func:`encode_stack` makes them, small enough to decode (:data:`~vmat.limits.MAX_LAYER_STACK_BYTES`)."""

    def expect(name: str, shape: tuple[int, ...], dtype: type) -> None:
        array = arrays.get(name)
        if array is None:
            raise ValueError(f"it has no {name!r} array")
        if array.shape != shape or array.dtype != dtype:
            raise ValueError(f"{name!r} is {array.dtype}{list(array.shape)}, not {np.dtype(dtype)}{list(shape)}")

    ids = arrays.get("ids")
    if ids is None or ids.ndim != 1 or ids.dtype != np.int64 or ids.size == 0:
        raise ValueError("its 'ids' are not a list of int64 instance ids")
    planes = int(ids.size)
    if planes * width * height * _DECODED_PIXEL_BYTES > MAX_LAYER_STACK_BYTES:
        raise ValueError(
            f"{planes} planes of {width}x{height} need more than the {MAX_LAYER_STACK_BYTES >> 30} GiB vmat decodes per frame"
        )
    expect("depth", (planes,), np.float32)
    expect("boxes", (planes, 4), np.int32)
    if np.isnan(arrays["depth"]).any():
        raise ValueError("its plane depths are not numbers")
    expect("colour_0", (height, width, 3), np.uint8)
    for plane in range(1, planes):
        x0, y0, x1, y1 = (int(v) for v in arrays["boxes"][plane])
        if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
            raise ValueError(f"plane {plane}'s box {[x0, y0, x1, y1]} is not inside the {width}x{height} frame")
        expect(f"alpha_{plane}", (y1 - y0, x1 - x0), np.uint16)
        expect(f"colour_{plane}", (y1 - y0, x1 - x0, 3), np.uint8)


def _decoded_alpha(stored: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(stored.astype(np.float32)) / _ALPHA_SCALE


def _decoded_colour(stored: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(stored).permute(2, 0, 1) / _COLOUR_SCALE


def decode_stack(arrays: Mapping[str, np.ndarray], width: int, height: int) -> LayerStack:
    """Inverse of :func:`encode_stack`; arrays that are not such a frame raise :class:`ValueError`."""
    _check_arrays(arrays, width, height)
    ids = [int(i) for i in arrays["ids"]]
    boxes = arrays["boxes"]
    colour = torch.zeros((len(ids), 3, height, width))
    alpha = torch.zeros((len(ids), height, width))
    colour[0] = _decoded_colour(arrays["colour_0"])
    alpha[0] = 1.0
    for plane in range(1, len(ids)):
        x0, y0, x1, y1 = (int(v) for v in boxes[plane])
        alpha[plane, y0:y1, x0:x1] = _decoded_alpha(arrays[f"alpha_{plane}"])
        colour[plane, :, y0:y1, x0:x1] = _decoded_colour(arrays[f"colour_{plane}"])
    return LayerStack(colour, alpha, torch.from_numpy(np.asarray(arrays["depth"], dtype=np.float32)), tuple(ids))


def decodes_to(arrays: Mapping[str, np.ndarray], stack: LayerStack) -> bool:
    """Whether :func:`decode_stack` gives ``stack`` back exactly from ``arrays``, its :func:`encode_stack`: true
    of a stack read from a layers file, false of one holding finer values than the file keeps (float colour,
    a fainter alpha) or a person's colour outside their alpha's box. Compared without decoding the frame."""
    colour, alpha, depth = stack.colour.detach(), stack.alpha.detach(), stack.depth.detach()
    if any(values.dtype != torch.float32 or values.device.type != "cpu" for values in (colour, alpha, depth)):
        return False
    if tuple(int(i) for i in arrays["ids"]) != tuple(stack.ids) or not torch.equal(torch.from_numpy(arrays["depth"]), depth):
        return False
    if not bool((alpha[0] == 1.0).all()) or not torch.equal(_decoded_colour(arrays["colour_0"]), colour[0]):
        return False
    for plane in range(1, len(stack.ids)):
        x0, y0, x1, y1 = (int(v) for v in arrays["boxes"][plane])
        box_alpha, box_colour = alpha[plane, y0:y1, x0:x1], colour[plane, :, y0:y1, x0:x1]
        # Outside the box the file keeps nothing: the stack must hold nothing there either.
        outside_alpha = alpha[plane].count_nonzero() - box_alpha.count_nonzero()
        if outside_alpha or colour[plane].count_nonzero() != box_colour.count_nonzero():
            return False
        if not torch.equal(_decoded_alpha(arrays[f"alpha_{plane}"]), box_alpha):
            return False
        if not torch.equal(_decoded_colour(arrays[f"colour_{plane}"]), box_colour):
            return False
    return True


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
        source: SourceFingerprint | None = None,
    ) -> None:
        self.path = check_output_path(path, is_dir=True)
        self._temporary = temporary_sibling(self.path)
        (self._temporary / "frames").mkdir(parents=True)
        self._frame_rate = frame_rate
        self.metadata = dict(metadata or {})
        """Written into the header at :meth:`close`: a caller may add to it until then (per-frame results)."""
        self._source = source
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
            "metadata": self.metadata,
            "source": None if self._source is None else asdict(self._source),
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
        if header_path.stat().st_size > MAX_LAYERS_HEADER_BYTES:
            raise LayersFileError(
                f"The header of layers file {str(self.path)!r} is larger than {MAX_LAYERS_HEADER_BYTES >> 20} MiB; "
                "it is not one vmat wrote."
            )
        try:
            header = json.loads(header_path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            raise LayersFileError(f"The header of layers file {str(self.path)!r} is not UTF-8 text.") from None
        except (json.JSONDecodeError, RecursionError):
            raise LayersFileError(f"The header of layers file {str(self.path)!r} is not valid JSON.") from None
        self.info = _parse_header(header, str(self.path))
        # A frame stores 3 colour bytes per pixel and 5 per person pixel, plus a little per array.
        pixels = self.info.width * self.info.height
        people = len(self.info.instance_ids)
        self._max_frame_bytes = min(
            pixels * (3 + 5 * people) + _ARRAY_OVERHEAD * (4 + 2 * people), MAX_LAYER_STACK_BYTES
        )
        self._known_ids = {0, *self.info.instance_ids}

    def __len__(self) -> int:
        return self.info.num_frames

    def read(self, index: int) -> LayerStack:
        """The layer stack of frame ``index``."""
        if not 0 <= index < self.info.num_frames:
            raise LayersFileError(f"Frame {index} is outside this layers file ({self.info.num_frames} frames).")
        frame_path = self.path / "frames" / _frame_name(index)
        try:
            arrays = unpack_frame(frame_path.read_bytes(), self._max_frame_bytes)
            unknown = sorted(set(arrays["ids"].tolist()) - self._known_ids) if "ids" in arrays and arrays["ids"].ndim == 1 else []
            if unknown:
                raise ValueError(f"it holds instance ids {unknown} that its header does not list")
            return decode_stack(arrays, self.info.width, self.info.height)
        # np.load and zipfile fail in many ways on bytes that are not a frame; each means the same here.
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zstandard.ZstdError, LayerError) as error:
            message = f"Frame {index} of layers file {str(self.path)!r} cannot be read ({error})."
            raise LayersFileError(message) from None

    def __iter__(self) -> Iterator[LayerStack]:
        for index in range(self.info.num_frames):
            yield self.read(index)


def _parse_header(header: object, where: str) -> LayersInfo:
    """The :class:`LayersInfo` of a decoded header.json, every field checked (see the module docstring)."""
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise LayersFileError(f"{where!r} is not a vmat layers file.")
    if header.get("version") != FORMAT_VERSION:
        raise LayersFileError(
            f"The layers file {where!r} has format version {header.get('version')}; this vmat reads version {FORMAT_VERSION}."
        )

    def bad(key: str, wanted: str) -> LayersFileError:
        shown = json.dumps(header[key])[:60] if key in header else "nothing"
        return LayersFileError(f"The header of layers file {where!r} has {shown} as {key!r}, not {wanted}.")

    def whole(key: str, top: int | None = None) -> int:
        value = header.get(key)
        if not _is_int(value) or value < 0 or (top is not None and value > top):
            raise bad(key, f"a whole number from 0 to {top}" if top is not None else "a whole number")
        return value

    width, height = whole("width", MAX_FRAME_SIDE), whole("height", MAX_FRAME_SIDE)
    if width * height > MAX_FRAME_PIXELS:
        raise LayersFileError(
            f"The layers file {where!r} says its frames are {width}x{height}, more than the "
            f"{MAX_FRAME_PIXELS} pixels vmat reads."
        )
    num_frames = whole("num_frames")  # bounded by the times list below
    if num_frames and not width * height:
        raise bad("width", "a positive size")
    times = header.get("times")
    if not isinstance(times, list) or len(times) != num_frames or not all(_is_time(t) for t in times):
        raise bad("times", f"a list of {num_frames} times in seconds")
    rate = header.get("frame_rate")
    try:
        frame_rate = None if rate is None else Fraction(rate)
    except (TypeError, ValueError, ZeroDivisionError):
        raise bad("frame_rate", "a frame rate like \"30000/1001\"") from None
    if not isinstance(rate, (str, type(None))) or (frame_rate is not None and frame_rate <= 0):
        raise bad("frame_rate", "a frame rate like \"30000/1001\"")
    ids = header.get("instance_ids")
    if not isinstance(ids, list) or not all(_is_int(i) and 1 <= i <= MAX_INSTANCE_ID for i in ids) or len(set(ids)) != len(ids):
        raise bad("instance_ids", f"a list of distinct ids from 1 to {MAX_INSTANCE_ID}")
    metadata = header.get("metadata")
    if not isinstance(metadata, (dict, type(None))):
        raise bad("metadata", "an object")
    return LayersInfo(
        width=width,
        height=height,
        num_frames=num_frames,
        frame_rate=frame_rate,
        times=times,
        instance_ids=ids,
        metadata=dict(metadata or {}),
        source=_parse_source(header.get("source"), bad),
    )


def _parse_source(source: object, bad: Any) -> SourceFingerprint | None:
    if source is None:
        return None
    wanted = "an object with size, duration, first_frame and start"
    # "start" is absent from the files written before it was kept.
    if not isinstance(source, dict) or set(source) - {"start"} != {"size", "duration", "first_frame"}:
        raise bad("source", wanted)
    size, duration, first_frame, start = source["size"], source["duration"], source["first_frame"], source.get("start")
    if not _is_int(size) or size < 0 or not _is_time(duration) or not isinstance(first_frame, str):
        raise bad("source", wanted)
    if start is not None and (not _is_int(start) or start < 0):
        raise bad("source", wanted)
    return SourceFingerprint(size, None if duration is None else float(duration), first_frame, start)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_time(value: object) -> bool:
    """A JSON time in seconds: a finite number, or null where unknown."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))
