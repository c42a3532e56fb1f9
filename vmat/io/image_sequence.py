"""A folder of PNG/JPG images read as a video, and RGBA PNG sequences written as one."""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import kornia_rs
import numpy as np

from vmat.errors import CorruptMediaError, NoVideoError, OutputError, UnsupportedMediaError
from vmat.io.frame import Frame
from vmat.io.metadata import VideoInfo
from vmat.io.reader import OnError, ReaderBase

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def natural_key(path: Path) -> list[object]:
    """Sort key that puts ``frame_2.png`` before ``frame_10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """The PNG/JPG files directly in ``folder``, in natural order (hidden files skipped)."""
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
        key=natural_key,
    )


def read_image(path: Path, *, alpha: bool) -> np.ndarray | None:
    """An image file as uint8 RGB ``(H, W, 3)`` or RGBA ``(H, W, 4)``; ``None`` when it cannot be decoded
    or is damaged: a truncated or corrupt JPEG (which OpenCV's decoder only warns about, filling the
    missing part with grey), or a PNG whose chunks are cut short or fail their CRC.

    Grey images become RGB, 16-bit images are scaled to 8 bits, and a missing alpha channel reads as 255.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return None
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        rgb = _decode_jpeg(data)
        if rgb is None:
            return None
        return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]) if alpha else rgb
    if suffix == ".png" and not _png_chunks_intact(data):
        return None  # checked first, so that libpng never prints its own message about the damage
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if image.dtype == np.uint16:
        image = (image.astype(np.uint32) * 255 + 32767) // 65535
        image = image.astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        rgba = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
        return rgba if alpha else np.ascontiguousarray(rgba[..., :3])
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if alpha:
        return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return rgb


def _decode_jpeg(data: bytes) -> np.ndarray | None:
    """A JPEG's ``(H, W, 3)`` uint8 RGB pixels by libjpeg-turbo's TurboJPEG API, which (unlike OpenCV's use
    of the same library) stops at a truncated or corrupt stream; ``None`` then. The pixels equal OpenCV's."""
    try:
        return np.ascontiguousarray(kornia_rs.io.decode_image_jpegturbo(data, "rgb"))
    # The binding reports every decoder failure as a bare Exception.
    except Exception:
        return None


def _png_chunks_intact(data: bytes) -> bool:
    """Whether PNG bytes are a signature and whole chunks with matching CRCs, up to an IEND chunk."""
    if data[:8] != _PNG_SIGNATURE:
        return False
    position = 8
    while position + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 8 + length
        if end + 4 > len(data) or zlib.crc32(data[position + 4 : end]) != struct.unpack(">I", data[end : end + 4])[0]:
            return False
        if kind == b"IEND":
            return True
        position = end + 4
    return False


class ImageSequenceReader(ReaderBase):
    """Frames from a folder of images, in natural name order, at ``fps`` frames per second.

    Every image must have the size of the first. An image that cannot be decoded, is damaged or has
    another size raises :class:`~vmat.errors.CorruptMediaError` where it is met (``on_error="raise"``); with
    ``on_error="stop"`` (``--salvage``) it is skipped as if it were not in the folder, and ``reader.error``
    names every skipped image once the stream ends.
    """

    def __init__(
        self, folder: str | os.PathLike[str], *, fps: float = 30.0, alpha: bool = False, on_error: OnError = "raise"
    ) -> None:
        super().__init__(on_error)
        self.folder = Path(folder)
        self.alpha = alpha
        self._paths = list_images(self.folder)
        if not self._paths:
            raise NoVideoError(f"input folder {str(self.folder)!r} has no PNG or JPG images")
        first = None
        for path in self._paths if on_error == "stop" else self._paths[:1]:
            first = read_image(path, alpha=True)
            if first is not None:
                break
        if first is None:
            raise UnsupportedMediaError(f"input image {str(self._paths[0])!r} cannot be decoded or is damaged")
        rate = Fraction(fps).limit_denominator(1001)
        self.info = VideoInfo(
            path=str(self.folder),
            container="image2",
            codec=self._paths[0].suffix.lower().lstrip("."),
            pixel_format="rgba" if (first[..., 3] < 255).any() else "rgb24",
            width=first.shape[1],
            height=first.shape[0],
            rotation=0,
            has_alpha=bool((first[..., 3] < 255).any()),
            frame_rate=rate,
            variable_frame_rate=False,
            time_base=1 / rate,
            start_time=0.0,
            duration=float(len(self._paths) / rate),
            num_frames=len(self._paths),
            colour=None,
        )

    def __iter__(self) -> Iterator[Frame]:
        last_time = None
        skipped: list[str] = []
        index = 0
        for path in self._paths:
            image = read_image(path, alpha=self.alpha)
            if image is None or image.shape[:2] != (self.info.height, self.info.width):
                reason = (
                    f"{path.name} is damaged or cannot be decoded"
                    if image is None
                    else f"{path.name} is {image.shape[1]}x{image.shape[0]}, not {self.info.width}x{self.info.height}"
                )
                if self.on_error == "raise":
                    raise self._broken(index, last_time, reason)
                skipped.append(reason)
                continue
            frame = Frame(index=index, image=image, pts=index, time_base=self.info.time_base, duration=1)
            last_time = frame.time
            index += 1
            yield frame
        if skipped:
            self.error = CorruptMediaError(
                f"input {self.info.path!r} is damaged: {len(skipped)} image(s) skipped ({'; '.join(skipped)})", index, last_time
            )


def frame_file_name(index: int) -> str:
    """The file name of frame ``index`` in every folder of frames vmat writes: ``000012.png``."""
    return f"{index:06d}.png"


# Names frame files had before (vmat's id masks and DAVIS annotations; vmat's PNG sequences): still read.
_OLDER_FRAME_NAMES = ("{index:05d}.png", "frame_{index:06d}.png")


def frame_file(folder: str | os.PathLike[str], index: int) -> Path:
    """Where frame ``index``'s file is in ``folder``: ``000012.png``, or an older name (``00012.png``,
    ``frame_000012.png``) when only that exists."""
    path = Path(folder) / frame_file_name(index)
    if not path.exists():
        for pattern in _OLDER_FRAME_NAMES:
            older = Path(folder) / pattern.format(index=index)
            if older.exists():
                return older
    return path


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB, RGBA or grey uint8 image as PNG (fast compression: these are working files)."""
    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OutputError(f"cannot write {str(path)!r}")
