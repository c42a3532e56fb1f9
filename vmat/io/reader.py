"""Reading clips as streams of :class:`Frame`s, with PyAV (default) or decord, or from image folders.

Every reader holds at most a few frames at a time, whatever the clip's length. Use :func:`open_video`::

    with open_video("clip.mp4") as reader:
        print(reader.info.describe())
        for frame in reader:
            frame.image  # (H, W, 3) uint8 RGB
"""

from __future__ import annotations

import os
import threading
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

    @property
    def error(self) -> CorruptMediaError | None: ...

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
            decoder = av.CodecContext.create(_ALPHA_DECODERS[self._stream.codec_context.name], "r")
            assert isinstance(decoder, av.video.codeccontext.VideoCodecContext)  # libvpx decodes video
            self._decoder = decoder
            self._decoder.thread_count = threads
        # Decoding and closing take turns: a prefetching thread (vmat.pipeline.stream.in_thread) may be inside
        # FFmpeg when the owner closes the reader, and FFmpeg crashes on a container freed under it.
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._container.close()

    def __iter__(self) -> Iterator[Frame]:
        stream = self._stream
        end_pts = (stream.start_time or 0) + stream.duration if stream.duration else None
        return with_durations(self._decode(), end_pts)

    def _decode(self) -> Iterator[Frame]:
        index = 0
        last_time: float | None = None
        packets = self._container.demux(self._stream)
        try:
            while (frames := self._next_frames(packets, index)) is not None:
                for frame in frames:
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

    def _next_frames(self, packets: Iterator[av.Packet], index: int) -> list[Frame] | None:
        """The frames decoded from the next packet (numbered from ``index``), ``None`` after the last one."""
        with self._lock:
            if self._closed:
                raise ValueError(f"the reader of {self.info.path!r} was closed while it was being read")
            packet = next(packets, None)
            if packet is None:
                return None
            decoded = self._decoder.decode(None if packet.size == 0 else packet)
            return [self._to_frame(picture, index + n) for n, picture in enumerate(decoded)]

    def _to_frame(self, decoded: av.VideoFrame, index: int) -> Frame:
        colour = self.info.colour
        converted = decoded.reformat(
            format="rgba" if self.alpha else "rgb24",
            src_colorspace=colour.sws_matrix if colour is not None else None,
            src_color_range=colour.sws_range if colour is not None else None,
            dst_color_range=ColorRange.JPEG,
        )
        image: np.ndarray = converted.to_ndarray()
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
    start: int = 0,
    end: int | None = None,
) -> VideoReader:
    """Open a clip (a media file, or a folder of PNG/JPG images) for streamed reading.

    ``backend`` picks the decoder for media files: ``"pyav"`` (default) or ``"decord"`` (optional extra).
    ``fps`` is the frame rate of an image folder (default 30); media files carry their own.
    ``start`` and ``end`` read frames ``start`` to ``end - 1`` only (``end=None``: to the last frame; an
    ``end`` past it reads to it), as a clip of their own: see :class:`RangeReader`.
    """
    reader = _open(Path(path), backend, alpha, on_error, fps)
    if start == 0 and end is None:
        return reader
    try:
        return RangeReader(reader, start, end)
    except VmatError:
        reader.close()
        raise


def _open(path: Path, backend: Backend, alpha: bool, on_error: OnError, fps: float | None) -> VideoReader:
    if path.is_dir():
        from vmat.io.image_sequence import ImageSequenceReader

        return ImageSequenceReader(path, fps=fps or 30.0, alpha=alpha, on_error=on_error)
    if backend == "pyav":
        return PyAVReader(path, alpha=alpha, on_error=on_error)
    if backend == "decord":
        from vmat.io.decord_reader import DecordReader

        return DecordReader(path, alpha=alpha, on_error=on_error)
    raise ConfigError(f"unknown decoding backend {backend!r}: choose 'pyav' or 'decord'")


def check_frame_range(start: int, end: int | None, num_frames: int | None = None) -> tuple[int, int | None]:
    """``(start, end)`` checked against each other and a clip of ``num_frames`` (when known); ``end`` past the
    clip's last frame comes back as ``num_frames``. Raises :class:`ConfigError` for a range that holds no frame."""
    if start < 0 or (end is not None and end < 0):
        raise ConfigError(f"frame numbers start at 0: the range {start}:{'' if end is None else end} is not a range of frames")
    if end is not None and end <= start:
        raise ConfigError(f"the frame range {start}:{end} is empty: the end frame is left out, so it must be after the start")
    if num_frames is not None:
        if start >= num_frames:
            raise ConfigError(
                f"the frame range starts at frame {start}, but the clip has {num_frames} frames (0 to {num_frames - 1})"
            )
        end = num_frames if end is None else min(end, num_frames)
    return start, end


class RangeReader:
    """Frames ``start`` to ``end - 1`` (``None``: to the last) of another reader, as a clip of their own.

    Frames are renumbered from 0 and their pts moved back by one constant so that the first lands where the
    clip's first frame is: every frame keeps its exact interval to the next, and its own duration (the last
    one too, from the frame after it, which is decoded for that and dropped). ``Frame.source_pts`` keeps each
    frame's place in the whole clip, so that a :class:`~vmat.io.VideoWriter` copying the clip's audio takes
    the stretch that goes with these frames. Decoding starts at the clip's first frame (exact, and the cost
    of a frame that is skipped is its decoding only) and stops after the range.

    ``info`` is the part's: ``num_frames`` its frame count; ``duration`` its length for a constant frame
    rate, ``None`` for a variable one (the frames' own durations are exact either way).
    """

    def __init__(self, reader: VideoReader, start: int, end: int | None) -> None:
        info = reader.info
        self.start, self.end = check_frame_range(start, end, info.num_frames)
        self._reader = reader
        # A range that runs to the clip's end reads it to the end, so that damage there is reported as usual.
        self._stop = self.end if self.end is not None and self.end < (info.num_frames or 0) else None
        count = None if self.end is None else self.end - self.start
        duration = None if count is None or info.variable_frame_rate or not info.frame_rate else float(count / info.frame_rate)
        self.info = replace(info, num_frames=count, duration=duration)

    @property
    def error(self) -> CorruptMediaError | None:
        return self._reader.error

    def __enter__(self) -> RangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()

    def __iter__(self) -> Iterator[Frame]:
        frames = iter(self._reader)
        first_pts: int | None = None
        shift = 0
        try:
            for frame in frames:
                if first_pts is None:
                    first_pts = frame.pts
                if frame.index < self.start:
                    continue
                if frame.index == self.start:
                    shift = frame.pts - first_pts
                yield replace(frame, index=frame.index - self.start, pts=frame.pts - shift, source_pts=frame.pts)
                if self._stop is not None and frame.index + 1 >= self._stop:
                    return
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # stop the decoder here: the frames after the range are never decoded
        if first_pts is not None and self.start > 0 and frame.index < self.start:
            raise ConfigError(f"the frame range starts at frame {self.start}, but the clip ended at frame {frame.index}")
