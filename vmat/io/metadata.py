"""What vmat knows about a clip before decoding it: :class:`VideoInfo` and :func:`probe`."""

from __future__ import annotations

import heapq
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vmat.errors import InputNotFoundError, NotMediaError, NoVideoError, UnsupportedMediaError
from vmat.io.colour import ColourInfo, resolve_colour

# File names taken for video files: vmat batch finds an archive's clips by them, and an output folder may not
# look like one.
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".gif"})

# Packets arrive in decode order; B-frames put presentation times out of order by at most the codec's
# reorder depth (16 for H.264). Sorting through a window this wide restores presentation order.
_REORDER_WINDOW = 32


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of a clip; vmat copies these unchanged into its outputs."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    duration: float | None
    language: str | None


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of a clip's video stream (the first one) and of its audio streams.

    ``width`` and ``height`` are the size of the frames vmat yields: upright, after applying ``rotation``
    (degrees counter-clockwise from the container's display matrix). ``frame_rate`` is the nominal rate;
    ``variable_frame_rate`` is measured from the packet timestamps (frame intervals differing by more than
    1% and one tick). ``num_frames`` counts the stream's packets, ``None`` only for image sequences read
    lazily. ``duration`` is in seconds. ``damage`` says how the file falls short of what its header
    declares (a truncated download, say), or is ``None`` when it holds everything it declares.
    """

    path: str
    container: str
    codec: str
    pixel_format: str
    width: int
    height: int
    rotation: int
    has_alpha: bool
    frame_rate: Fraction
    variable_frame_rate: bool
    time_base: Fraction
    start_time: float
    duration: float | None
    num_frames: int | None
    colour: ColourInfo | None
    audio: tuple[AudioStreamInfo, ...] = field(default_factory=tuple)
    damage: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (fractions as strings)."""
        data = asdict(self)
        data["frame_rate"] = str(self.frame_rate)
        data["time_base"] = str(self.time_base)
        return data

    def describe(self) -> str:
        """A few human-readable lines."""
        rate = f"{float(self.frame_rate):.3f} fps" + (" (variable)" if self.variable_frame_rate else "")
        frames = "?" if self.num_frames is None else str(self.num_frames)
        duration = "?" if self.duration is None else f"{self.duration:.3f} s"
        lines = [
            f"{self.path}",
            f"  video: {self.codec} {self.pixel_format} {self.width}x{self.height}, {rate}, {frames} frames, {duration}"
            + (f", rotated {self.rotation} deg" if self.rotation else "")
            + (", alpha" if self.has_alpha else ""),
        ]
        if self.colour is not None:
            colour = self.colour
            lines.append(
                f"  colour: {colour.matrix} matrix, {colour.range} range" + (" (assumed: untagged)" if colour.assumed else "")
            )
        for audio in self.audio:
            lines.append(
                f"  audio #{audio.index}: {audio.codec} {audio.sample_rate} Hz {audio.layout}"
                + ("" if audio.duration is None else f", {audio.duration:.3f} s")
            )
        if not self.audio:
            lines.append("  audio: none")
        if self.damage:
            lines.append(f"  damaged: {self.damage}")
        return "\n".join(lines)


def open_container(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open a media file for reading, turning FFmpeg's errors into one-line :class:`VmatError`s."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"input {str(path)!r} does not exist")
    if path.is_dir():
        raise NotMediaError(f"input {str(path)!r} is a folder with no PNG or JPG images")
    if path.stat().st_size == 0:
        raise NotMediaError(f"input {str(path)!r} is an empty file")
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as error:
        raise NotMediaError(f"input {str(path)!r} is not a readable media file ({_reason(error)})") from None


def video_stream(container: av.container.InputContainer, path: str | os.PathLike[str]) -> av.video.stream.VideoStream:
    """The clip's first video stream, checked to be decodable."""
    if not container.streams.video:
        raise NoVideoError(f"input {str(path)!r} has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None or stream.codec_context.codec is None or stream.codec_context.name in ("none", ""):
        raise UnsupportedMediaError(f"input {str(path)!r} uses a video codec vmat cannot decode")
    if stream.codec_context.format is None or stream.codec_context.format.name in (None, "none"):
        raise UnsupportedMediaError(f"input {str(path)!r} has an unknown or unsupported pixel format")
    return stream


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a clip's metadata: header fields, a scan of every video packet's timestamp, and its first frame.

    The packet scan reads the file once without decoding (a few microseconds per frame) to count frames
    exactly and to tell constant from variable frame rate; the first frame is decoded on the way for its
    rotation and colour tags, which also proves that the stream decodes.

    The answer is remembered for the file as it is now (its identity, size and modification time), so that
    opening a clip again, as the passes of a run do, costs no second probe; a changed file is probed afresh.
    """
    key = _file_key(path)
    if key is not None and (cached := _PROBED.get(key)) is not None:
        _PROBED.move_to_end(key)
        return replace(cached, path=str(path))
    container = open_container(path)
    try:
        stream = video_stream(container, path)
        scan = _scan(container, stream, path)
        audio = tuple(_audio_info(s) for s in container.streams.audio)
        info = _video_info(path, container, stream, scan, audio)
    finally:
        container.close()
    if key is not None:
        _PROBED[key] = info
        while len(_PROBED) > _PROBE_CACHE_SIZE:
            _PROBED.popitem(last=False)
    return info


# Probes of the files opened lately, newest last: a run opens its clip once per pass (and the mask
# propagation once per chunk going backwards), and opening the container is most of a probe's cost.
_PROBE_CACHE_SIZE = 64
_PROBED: OrderedDict[tuple, VideoInfo] = OrderedDict()


def _file_key(path: str | os.PathLike[str]) -> tuple | None:
    """What identifies a file's current contents well enough to reuse its probe; ``None`` when it cannot be stat'ed."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


@dataclass
class _Scan:
    num_frames: int = 0
    smallest_interval: int | None = None
    largest_interval: int | None = None
    first_pts: int | None = None
    last_pts: int | None = None
    first_frame: av.VideoFrame | None = None
    data_end: float = 0.0  # seconds: where the last packet of any stream ends
    _previous: int | None = None

    def add_presentation_time(self, stamp: int) -> None:
        """Take presentation times in increasing order and keep the extreme intervals between them."""
        if self._previous is not None and stamp > self._previous:
            interval = stamp - self._previous
            self.smallest_interval = min(interval, self.smallest_interval or interval)
            self.largest_interval = max(interval, self.largest_interval or interval)
        self._previous = stamp
        self.first_pts = stamp if self.first_pts is None else self.first_pts
        self.last_pts = stamp


def _scan(container, stream, path) -> _Scan:
    scan = _Scan()
    window: list[int] = []
    decode_error: av.error.FFmpegError | None = None
    try:
        for packet in container.demux(stream, *container.streams.audio):
            if packet.stream.index != stream.index:
                if packet.pts is not None and packet.time_base is not None:
                    scan.data_end = max(scan.data_end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                continue
            if scan.first_frame is None and decode_error is None:
                try:
                    scan.first_frame = next(iter(stream.decode(packet)), None)
                except av.error.FFmpegError as error:
                    decode_error = error
            if packet.size == 0:
                continue
            scan.num_frames += 1
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is not None:
                heapq.heappush(window, stamp)
                if len(window) > _REORDER_WINDOW:
                    scan.add_presentation_time(heapq.heappop(window))
    except av.error.FFmpegError:
        pass  # a damaged tail: the reader reports it with the frame where decoding stops
    while window:
        scan.add_presentation_time(heapq.heappop(window))
    if scan.last_pts is not None:
        scan.data_end = max(scan.data_end, float((scan.last_pts + (scan.smallest_interval or 0)) * stream.time_base))
    if scan.num_frames == 0:
        raise NoVideoError(f"input {str(path)!r} has a video stream with no frames")
    if scan.first_frame is None and decode_error is None:
        try:
            scan.first_frame = next(iter(stream.decode(None)), None)  # frames held back by the decoder
        except av.error.FFmpegError as error:
            decode_error = error
    if scan.first_frame is None:
        reason = f" ({_reason(decode_error)})" if decode_error is not None else ""
        raise NoVideoError(f"input {str(path)!r} has no decodable video frame{reason}")
    return scan


def _video_info(path, container, stream, scan: _Scan, audio) -> VideoInfo:
    time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1)
    frame_rate = Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate or 0)
    variable = False
    if scan.smallest_interval is not None and scan.largest_interval is not None:
        smallest, largest = scan.smallest_interval, scan.largest_interval
        variable = largest - smallest > max(1, smallest // 100)
    if stream.duration:
        duration = float(stream.duration * time_base)
    elif scan.first_pts is not None and scan.last_pts is not None and frame_rate:
        duration = float((scan.last_pts - scan.first_pts) * time_base + 1 / frame_rate)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = None
    first = scan.first_frame
    assert first is not None  # _scan raises NoVideoError when no frame decodes
    start = stream.start_time if stream.start_time is not None else (scan.first_pts or 0)
    rotation = int(first.rotation) % 360
    width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
    pixel_format = first.format.name
    colour = resolve_colour(
        first.colorspace,
        first.color_range,
        first.color_primaries,
        first.color_trc,
        pixel_format=pixel_format,
        width=first.width,
        height=first.height,
    )
    return VideoInfo(
        path=str(path),
        container=container.format.name,
        codec=stream.codec_context.name,
        pixel_format=pixel_format,
        width=width,
        height=height,
        rotation=rotation,
        has_alpha=_has_alpha(stream, pixel_format),
        frame_rate=frame_rate,
        variable_frame_rate=variable,
        time_base=time_base,
        start_time=float(start * time_base),
        duration=duration,
        num_frames=scan.num_frames,
        colour=colour,
        audio=audio,
        damage=_damage(container, stream, scan, frame_rate),
    )


def _damage(container, stream, scan: _Scan, frame_rate: Fraction) -> str | None:
    """How the data falls short of the header: fewer frames than indexed, or ending before the declared duration."""
    if stream.frames and scan.num_frames < stream.frames:
        return f"the file declares {stream.frames} frames but holds {scan.num_frames}"
    if container.duration and frame_rate:
        declared_end = (container.start_time or 0) / av.time_base + container.duration / av.time_base
        # Muxers round durations; two frames and 50 ms of slack keep intact files from being flagged.
        if declared_end - scan.data_end > 2 / float(frame_rate) + 0.05:
            return f"the file declares {declared_end:.3f} s but its data ends at {scan.data_end:.3f} s"
    return None


def _has_alpha(stream, pixel_format: str) -> bool:
    # WebM stores VP8/VP9 alpha beside the picture and flags it with this tag; the native decoder hides it.
    if stream.codec_context.name in ("vp8", "vp9"):
        return stream.metadata.get("alpha_mode", stream.metadata.get("ALPHA_MODE")) == "1"
    return any(component.is_alpha for component in av.VideoFormat(pixel_format).components)


def _audio_info(stream) -> AudioStreamInfo:
    time_base = Fraction(stream.time_base) if stream.time_base else None
    duration = float(stream.duration * time_base) if stream.duration and time_base else _tagged_duration(stream)
    context = stream.codec_context
    return AudioStreamInfo(
        index=stream.index,
        codec=context.name if context is not None else "unknown",
        sample_rate=int(stream.rate or 0),
        channels=int(context.channels) if context is not None else 0,
        layout=stream.layout.name if stream.layout is not None else "unknown",
        duration=duration,
        language=stream.language,
    )


def _tagged_duration(stream) -> float | None:
    """Matroska/WebM keep per-stream durations as a ``DURATION`` tag, ``HH:MM:SS.nnnnnnnnn``."""
    text = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    try:
        hours, minutes, seconds = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except (AttributeError, ValueError):
        return None


def _reason(error: av.error.FFmpegError) -> str:
    """FFmpeg's own words for an error, without the file name it repeats."""
    return (error.strerror or str(error)).strip().rstrip(".").lower()
