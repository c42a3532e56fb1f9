"""Reading clips as streams of :class:`Frame`s, with PyAV (default) or decord, or from image folders.

Every reader holds at most a few frames at a time, whatever the clip's length. Use :func:`open_video`::

    with open_video("clip.mp4") as reader:
        print(reader.info.describe())
        for frame in reader:
            frame.image  # (H, W, 3) uint8 RGB
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Literal, Protocol

import av
import numpy as np
from av.video.reformatter import ColorRange

from vmat.errors import ConfigError, CorruptMediaError, VmatError
from vmat.io.frame import Frame
from vmat.io.metadata import VideoInfo, open_container, probe, video_stream

Backend = Literal["pyav", "decord"]
OnError = Literal["raise", "stop"]

# FFmpeg's native VP8/VP9 decoders drop the alpha plane WebM carries beside the picture; libvpx keeps it.
_ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}


class VideoReader(Protocol):
    """What every reader offers: metadata, frames in presentation order, and closing."""

    info: VideoInfo
    error: CorruptMediaError | None

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...

    def __enter__(self) -> VideoReader: ...

    def __exit__(self, *exc: object) -> None: ...


class ReaderBase:
    info: VideoInfo

    def __init__(self, on_error: OnError) -> None:
        if on_error not in ("raise", "stop"):
            raise ConfigError(f"on_error must be 'raise' or 'stop', not {on_error!r}")
        self.on_error = on_error
        self.error: CorruptMediaError | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden where there is something to release
        pass

    def _broken(self, frames_decoded: int, last_time: float | None, reason: str) -> CorruptMediaError:
        where = f"after frame {frames_decoded - 1} ({last_time:.3f} s)" if frames_decoded else "before the first frame"
        self.error = CorruptMediaError(
            f"input {self.info.path!r} is damaged: decoding stopped {where}: {reason}", frames_decoded, last_time
        )
        return self.error


class PyAVReader(ReaderBase):
    """Decode a media file with PyAV (FFmpeg).

    ``alpha=True`` yields RGBA frames (alpha 255 where the clip has none) and decodes WebM VP8/VP9 with
    libvpx so that their alpha survives. ``threads=0`` lets FFmpeg pick the decoder thread count.
    A stream that breaks part-way yields its valid frames, then raises :class:`CorruptMediaError`
    (``on_error="raise"``) or ends and keeps the error in ``reader.error`` (``on_error="stop"``).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, alpha: bool = False, threads: int = 0, on_error: OnError = "raise"
    ) -> None:
        super().__init__(on_error)
        self.info = probe(path)
        self.alpha = alpha
        self._container = open_container(path)
        self._stream = video_stream(self._container, path)
        self._stream.thread_type = "AUTO"
        self._stream.codec_context.thread_count = threads
        self._decoder = self._stream.codec_context
        if alpha and self.info.has_alpha and self._stream.codec_context.name in _ALPHA_DECODERS:
            self._decoder = av.CodecContext.create(_ALPHA_DECODERS[self._stream.codec_context.name], "r")
            self._decoder.thread_count = threads

    def close(self) -> None:
        self._container.close()

    def __iter__(self) -> Iterator[Frame]:
        stream = self._stream
        end_pts = (stream.start_time or 0) + stream.duration if stream.duration else None
        return with_durations(self._decode(), end_pts)

    def _decode(self) -> Iterator[Frame]:
        index = 0
        last_time: float | None = None
        try:
            for packet in self._container.demux(self._stream):
                for decoded in self._decoder.decode(None if packet.size == 0 else packet):
                    frame = self._to_frame(decoded, index)
                    yield frame
                    index += 1
                    last_time = frame.time
        except av.error.FFmpegError as error:
            reason = (error.strerror or str(error)).strip().rstrip(".").lower()
            raised = self._broken(index, last_time, reason)
            if self.on_error == "raise":
                raise raised from None
            return
        reasons = [self.info.damage] if self.info.damage else []
        if self.info.num_frames and index < self.info.num_frames:
            reasons.append(f"{self.info.num_frames - index} of its {self.info.num_frames} frames failed to decode")
        if reasons:
            raised = self._broken(index, last_time, "; ".join(reasons))
            if self.on_error == "raise":
                raise raised

    def _to_frame(self, decoded: av.VideoFrame, index: int) -> Frame:
        colour = self.info.colour
        converted = decoded.reformat(
            format="rgba" if self.alpha else "rgb24",
            src_colorspace=colour.sws_matrix if colour is not None else None,
            src_color_range=colour.sws_range if colour is not None else None,
            dst_color_range=ColorRange.JPEG,
        )
        image = converted.to_ndarray()
        if self.info.rotation:
            image = np.ascontiguousarray(np.rot90(image, k=self.info.rotation // 90))
        pts = decoded.pts if decoded.pts is not None else index
        return Frame(index=index, image=image, pts=pts, time_base=self.info.time_base)


def with_durations(frames: Iterator[Frame], end_pts: int | None) -> Iterator[Frame]:
    """Give each frame its presentation duration: the time until the next frame's pts.

    Containers store durations in decode order, which B-frames scramble, so decoders' per-frame durations
    cannot be trusted; the pts differences can. The last frame lasts until ``end_pts`` (the stream's declared
    end) or, when that is unknown, as long as the frame before it. This holds one frame back.
    """
    pending: Frame | None = None
    interval: int | None = None
    iterator = iter(frames)
    while True:
        try:
            frame = next(iterator)
        except StopIteration:
            break
        except VmatError:
            if pending is not None:  # the frames before the damage are still good
                yield replace(pending, duration=interval)
            raise
        if pending is not None:
            interval = frame.pts - pending.pts
            yield replace(pending, duration=interval)
        pending = frame
    if pending is not None:
        last = end_pts - pending.pts if end_pts is not None and end_pts > pending.pts else interval
        yield replace(pending, duration=last)


def open_video(
    path: str | os.PathLike[str],
    *,
    backend: Backend = "pyav",
    alpha: bool = False,
    on_error: OnError = "raise",
    fps: float | None = None,
) -> VideoReader:
    """Open a clip (a media file, or a folder of PNG/JPG images) for streamed reading.

    ``backend`` picks the decoder for media files: ``"pyav"`` (default) or ``"decord"`` (optional extra).
    ``fps`` is the frame rate of an image folder (default 30); media files carry their own.
    """
    path = Path(path)
    if path.is_dir():
        from vmat.io.image_sequence import ImageSequenceReader

        return ImageSequenceReader(path, fps=fps or 30.0, alpha=alpha, on_error=on_error)
    if backend == "pyav":
        return PyAVReader(path, alpha=alpha, on_error=on_error)
    if backend == "decord":
        from vmat.io.decord_reader import DecordReader

        return DecordReader(path, alpha=alpha, on_error=on_error)
    raise ConfigError(f"unknown decoding backend {backend!r}: choose 'pyav' or 'decord'")
