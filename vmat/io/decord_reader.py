"""The optional decord decoding backend (``pip install vmat[decord]``).

Metadata and audio still come from PyAV; decord only decodes the pictures. decord converts YUV to RGB
with its own built-in rules and ignores rotation tags and alpha, so PyAV stays the default; decord is
offered because some users already run it in their data loaders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from vmat.errors import ConfigError, CorruptMediaError, UnsupportedMediaError
from vmat.io.frame import Frame
from vmat.io.metadata import probe
from vmat.io.reader import OnError, ReaderBase


def decord_available() -> bool:
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


class DecordReader(ReaderBase):
    """Decode a media file with decord, one frame at a time."""

    def __init__(self, path: str | os.PathLike[str], *, alpha: bool = False, on_error: OnError = "raise") -> None:
        super().__init__(on_error)
        if not decord_available():
            raise ConfigError("the decord backend is not installed: pip install 'vmat[decord]', or use --backend pyav")
        if alpha:
            raise ConfigError("the decord backend cannot decode alpha: use --backend pyav")
        import decord

        self.info = probe(path)
        if self.info.rotation:
            raise UnsupportedMediaError(
                f"input {str(path)!r} is rotated {self.info.rotation} degrees, which decord ignores: use --backend pyav"
            )
        try:
            self._reader = decord.VideoReader(str(Path(path)), ctx=decord.cpu(0), num_threads=0)
        except decord.DECORDError as error:
            raise UnsupportedMediaError(f"decord cannot open {str(path)!r}: {str(error).splitlines()[0]}") from None

    def close(self) -> None:
        del self._reader

    def __iter__(self) -> Iterator[Frame]:
        import decord

        time_base = self.info.time_base
        last_time = None
        for index in range(len(self._reader)):
            try:
                image = self._reader.next().asnumpy()
                start_seconds = float(self._reader.get_frame_timestamp(index)[0])
            except (decord.DECORDError, StopIteration) as error:
                raised: CorruptMediaError = self._broken(
                    index, last_time, str(error).splitlines()[0] if str(error) else "decode error"
                )
                if self.on_error == "raise":
                    raise raised from None
                return
            # decord reports times in seconds from the stream start; map back to the stream's own ticks.
            pts = round(start_seconds / time_base + self.info.start_time / time_base)
            frame = Frame(index=index, image=image, pts=pts, time_base=time_base)
            last_time = frame.time
            yield frame
