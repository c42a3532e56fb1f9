"""Writing frames as video (H.264), as video with alpha (ProRes 4444, VP9), as PNG sequences and as mattes.

:class:`VideoWriter` takes frames one at a time and keeps nothing but the encoder's own buffers::

    with VideoWriter("out.mp4", fps=info.frame_rate, audio_from="in.mp4") as writer:
        for frame in reader:
            writer.write_frame(frame, image=process(frame.image))

Rules it follows:

- The output appears under its final name only when complete (see :mod:`vmat.io.atomic`).
- Frames keep the pts they are given, in the time base they are given, so variable-frame-rate clips keep
  their timing; without pts, frames are numbered at ``fps``.
- RGB is converted to YUV with BT.709 in limited range, and the stream is tagged so (see
  :mod:`vmat.io.colour`).
- 4:2:0 formats (``h264``, ``matte``) need an even width and height. ``odd_size="pad"`` (default) repeats
  the last column/row, so no picture is lost and the output is one pixel larger; ``"crop"`` drops it.
- ``audio_from`` copies that clip's audio streams in unchanged (see :mod:`vmat.io.audio`). Frames read from
  part of that clip (``open_video(..., start=, end=)``, given with :meth:`VideoWriter.write_frame`) take
  only the audio of that part, moved back with them.
- A PNG sequence is a folder of ``000000.png``, ``000001.png``, ... (the one naming of every frame file
  vmat writes).
- The same frames give the same bytes on any machine: x264 and libvpx choose their thread count from the
  CPUs they may use, and their output depends on it, so the encoders run :data:`ENCODER_THREADS` threads
  whatever the machine; on x86-64, x264 also runs its SSE2 code whatever the CPU has
  (:data:`X264_DETERMINISTIC`). ``deterministic=False`` (``--fast-encode``) lets them use every CPU and
  every instruction set instead.
"""

from __future__ import annotations

import os
import platform
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from vmat.errors import ConfigError, OutputError
from vmat.io.atomic import check_output_path, commit, discard, temporary_sibling
from vmat.io.audio import AudioCopier
from vmat.io.colour import ColourInfo, output_tags
from vmat.io.frame import Frame
from vmat.io.image_sequence import frame_file_name, write_png

OddSize = Literal["pad", "crop"]


@dataclass(frozen=True)
class OutputFormat:
    """One kind of output: its encoder, pixel format, the image channels it takes, and its file suffixes."""

    name: str
    codec: str | None  # None: PNG files in a folder
    pixel_format: str
    channels: int  # 3 RGB, 4 RGBA, 1 a single-channel matte
    suffixes: tuple[str, ...]
    even_size: bool
    default_crf: int | None
    description: str


FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat(
            "h264", "libx264", "yuv420p", 3, (".mp4", ".mov", ".mkv"), True, 18, "H.264 video, the usual delivery format"
        ),
        OutputFormat("prores4444", "prores_ks", "yuva444p10le", 4, (".mov",), False, None, "ProRes 4444 with alpha, for editors"),
        OutputFormat("vp9-alpha", "libvpx-vp9", "yuva420p", 4, (".webm",), False, 24, "VP9 with alpha in WebM, for the web"),
        OutputFormat("png-rgba", None, "rgba", 4, ("",), False, None, "a folder of RGBA PNG files, lossless"),
        OutputFormat("matte", "libx264", "yuv420p", 1, (".mp4", ".mkv", ".mov"), True, 10, "a grey alpha matte as H.264 video"),
    )
}

# Encoder threads when the output must not depend on the machine (x264's frame threads and libvpx's tile
# threads change the bitstream with their count); 4 keeps most of the speed of a small machine.
ENCODER_THREADS = 4

# x264 picks its assembly from the CPU, and its output depends on the choice; its AVX-512 routines do not even
# give the same bytes twice: on an AVX-512 CPU the same six frames encoded in one process came out as four
# different streams in twenty, depending on what earlier encodes left in memory (the bedroom pan: frames up
# to 35 levels apart on a tenth of the pixels). SSE2, which every x86-64 CPU has, gives one stream on every
# x86-64 machine for 4% more encoding CPU time (720p at veryfast: 23.1 -> 24.0 ms a frame). The
# instruction-set names are x86's, so other machines keep x264's choice.
X264_DETERMINISTIC = {"x264-params": "asm=SSE2"} if platform.machine().lower() in ("x86_64", "amd64") else {}

_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def guess_format(path: str | os.PathLike[str]) -> str:
    """The default format for an output name: ``.webm`` -> vp9-alpha, no suffix -> png-rgba, else h264."""
    suffix = Path(path).suffix.lower()
    if suffix == ".webm":
        return "vp9-alpha"
    if suffix == "":
        return "png-rgba"
    if suffix in FORMATS["h264"].suffixes:
        return "h264"
    raise ConfigError(f"cannot tell the output format from the name {str(path)!r}: use .mp4, .mov, .mkv, .webm or a folder name")


@dataclass
class WriteSummary:
    """What a writer produced, for the end-of-run summary."""

    path: Path
    format: str
    frames: int = 0
    width: int = 0
    height: int = 0
    duration: float = 0.0
    audio_streams: int = 0
    audio_packets: int = 0
    audio_transcoded: list[str] = field(default_factory=list)
    resized: str | None = None
    bytes: int = 0
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        audio = "no audio"
        if self.audio_streams:
            how = f"re-encoded {', '.join(self.audio_transcoded)}" if self.audio_transcoded else "copied"
            audio = f"{self.audio_streams} audio stream(s) {how}"
        resized = f" ({self.resized})" if self.resized else ""
        lines = [
            f"wrote {self.path}: {self.format}, {self.width}x{self.height}{resized}, {self.frames} frames, "
            f"{self.duration:.2f} s, {audio}, {self.bytes / 1e6:.1f} MB"
        ]
        return "\n".join(lines + [f"warning: {warning}" for warning in self.warnings])


class VideoWriter:
    """Encode frames to ``path`` in ``format`` (see :data:`FORMATS`; guessed from the suffix when ``None``).

    ``crf`` (H.264, matte, VP9; lower is better) and ``preset`` (H.264 speed) set quality; ``lossless`` asks
    the encoder for exact pictures (H.264 and matte with qp 0, VP9 lossless mode). ``colour`` is the
    source's :class:`ColourInfo`, whose primaries and transfer tags are passed through. ``deterministic``
    (default) fixes the encoder's thread count so the same frames give the same bytes on any machine;
    ``False`` lets the encoder pick it from the CPUs available (faster on large machines).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        fps: float | Fraction = 30,
        crf: int | None = None,
        preset: str = "veryfast",
        lossless: bool = False,
        odd_size: OddSize = "pad",
        audio_from: str | os.PathLike[str] | None = None,
        colour: ColourInfo | None = None,
        deterministic: bool = True,
    ) -> None:
        name = format or guess_format(path)
        if name not in FORMATS:
            raise ConfigError(f"unknown output format {name!r}: choose one of {', '.join(FORMATS)}")
        self.format = FORMATS[name]
        if self.format.codec is not None and Path(path).suffix.lower() not in self.format.suffixes:
            raise ConfigError(f"format {name} is written as {' or '.join(self.format.suffixes)}, not {str(path)!r}")
        if preset not in _PRESETS:
            raise ConfigError(f"unknown preset {preset!r}: choose one of {', '.join(_PRESETS)}")
        if odd_size not in ("pad", "crop"):
            raise ConfigError(f"odd_size must be 'pad' or 'crop', not {odd_size!r}")
        if crf is not None and not 0 <= crf <= 63:
            raise ConfigError(f"crf must be between 0 and 63, not {crf}")
        self.fps = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        if self.fps <= 0:
            raise ConfigError(f"fps must be positive, not {fps}")
        self.crf = crf if crf is not None else self.format.default_crf
        self.preset = preset
        self.lossless = lossless
        self.odd_size = odd_size
        self.audio_from = audio_from
        self.colour = colour
        self.deterministic = deterministic
        self.path = check_output_path(path, is_dir=self.format.codec is None)
        self._temporary = temporary_sibling(self.path)
        self.summary = WriteSummary(self.path, name)
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._audio: AudioCopier | None = None
        self._timeline = _Timeline(self.fps)
        self._durations: dict[int, int] = {}  # pts -> duration of the frames inside the encoder
        self._size: tuple[int, int] | None = None  # (width, height) of the images given
        self._audio_part: tuple[float, float] | None = None  # (start on the source's clock, shift) for part of a clip
        self._closed = False
        # Writing and closing take turns: an encoding thread (vmat.pipeline.stream.BackgroundSink) may be inside
        # FFmpeg when the owner aborts, and FFmpeg crashes on a container freed under it.
        self._lock = threading.RLock()

    # -- the public surface ----------------------------------------------------------------------------

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(
        self, image: np.ndarray, pts: int | None = None, time_base: Fraction | None = None, duration: int | None = None
    ) -> None:
        """Encode one image: ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA or ``(H, W)`` matte, uint8.

        Every frame of a clip must have the same size, and either all frames or none give ``pts`` (with the
        ``time_base`` it counts in). pts must increase. ``duration`` (in ``time_base`` units) is how long the
        frame shows; it matters for the last frame, whose length nothing else tells.
        """
        with self._lock:
            if self._closed:
                raise ConfigError("this writer is already closed")
            image = self._check_image(image)
            pts, time_base, duration = self._timeline.advance(self.summary.frames, pts, time_base, duration)
            if self._size is None:
                self._open(image.shape[1], image.shape[0], time_base)
            if self.format.codec is None:
                write_png(self._temporary / frame_file_name(self.summary.frames), image)
            else:
                self._encode(image, pts, time_base, duration)
            self.summary.frames += 1

    def write_frame(self, frame: Frame, image: np.ndarray | None = None) -> None:
        """Encode ``image`` (default: the frame's own) with ``frame``'s timing: the usual pipeline step.

        The first frame tells whether the frames are part of a clip (``frame.source_pts``): the audio copied
        from ``audio_from`` is then that part's."""
        if self._size is None and frame.source_pts is not None:
            self._audio_part = (
                float(frame.source_pts * frame.time_base),
                float((frame.source_pts - frame.pts) * frame.time_base),
            )
        self.write(frame.image if image is None else image, pts=frame.pts, time_base=frame.time_base, duration=frame.duration)

    def close(self) -> WriteSummary:
        """Finish the file (flush the encoder, copy the rest of the audio) and move it to its final name."""
        with self._lock:
            if self._closed:
                return self.summary
            if self.summary.frames == 0:
                self.abort()
                raise OutputError(f"no frames were written, so {str(self.path)!r} was not created")
            try:
                if self._container is not None:
                    self._mux_video(self._video_stream().encode(None))
                    if self._audio is not None:
                        # Part of a clip: its audio ends with its video; a whole clip keeps all of its audio.
                        self._audio.finish(self._timeline.end_seconds if self._audio_part else float("inf"))
                    self._container.close()
            except BaseException:
                self.abort()
                raise
            self._closed = True
            commit(self._temporary, self.path)
            self.summary.duration = self._timeline.seconds
            self.summary.audio_packets = self._audio.packets_copied if self._audio is not None else 0
            self.summary.bytes = _size_on_disk(self.path)
            return self.summary

    def abort(self) -> None:
        """Stop without producing the output; whatever was written so far is removed."""
        with self._lock:
            self._closed = True
            for resource in (self._audio, self._container):
                if resource is not None:
                    try:
                        resource.close()
                    except (av.error.FFmpegError, OSError, ValueError):
                        pass  # the output is being thrown away; a failing close changes nothing
            discard(self._temporary)

    # -- internals --------------------------------------------------------------------------------------

    def _check_image(self, image: np.ndarray) -> np.ndarray:
        if image.dtype != np.uint8:
            raise ConfigError(f"images must be uint8, not {image.dtype}")
        if self.format.channels == 1:
            if image.ndim == 3 and image.shape[2] == 1:
                image = image[..., 0]
            if image.ndim != 2:
                raise ConfigError(f"format matte takes (H, W) images, not shape {image.shape}")
        else:
            if image.ndim != 3 or image.shape[2] not in (3, 4):
                raise ConfigError(f"format {self.format.name} takes (H, W, 3) or (H, W, 4) images, not shape {image.shape}")
            if self.format.channels == 4 and image.shape[2] == 3:
                image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
            elif self.format.channels == 3 and image.shape[2] == 4:
                image = image[..., :3]
        if self._size is not None and (image.shape[1], image.shape[0]) != self._size:
            raise ConfigError(
                f"frame {self.summary.frames} is {image.shape[1]}x{image.shape[0]}, the first was {self._size[0]}x{self._size[1]}"
            )
        return np.ascontiguousarray(image)

    def _open(self, width: int, height: int, time_base: Fraction) -> None:
        self._size = (width, height)
        coded_width, coded_height = width, height
        if self.format.even_size and (width % 2 or height % 2):
            step = 1 if self.odd_size == "pad" else -1
            coded_width, coded_height = width + step * (width % 2), height + step * (height % 2)
            if min(coded_width, coded_height) <= 0:
                raise ConfigError(f"a {width}x{height} frame is too small to crop to an even size")
            self.summary.resized = f"{'padded' if step > 0 else 'cropped'} from {width}x{height}"
        self.summary.width, self.summary.height = coded_width, coded_height
        if self.format.codec is None:
            self._temporary.mkdir()
            return
        try:
            self._container = av.open(str(self._temporary), mode="w", options=_muxer_options(self.path, time_base))
        except (av.error.FFmpegError, OSError) as error:
            raise OutputError(f"cannot create {str(self.path)!r}: {error}") from None
        stream = self._container.add_stream(self.format.codec, rate=self.fps)
        assert isinstance(stream, av.VideoStream)  # every format's codec is a video encoder
        stream.width, stream.height, stream.pix_fmt = coded_width, coded_height, self.format.pixel_format
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.codec_context.framerate = self.fps
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = ENCODER_THREADS if self.deterministic else 0  # 0: the encoder's choice
        stream.options = dict(self._encoder_options())  # a copy typed as Stream.options' dict[str, object]
        tags = output_tags(self.colour)
        if self.format.channels == 1:
            tags["color_range"] = int(ColorRange.JPEG)  # a matte uses all 256 levels
        for attribute, value in tags.items():
            setattr(stream.codec_context, attribute, value)
        self._stream = stream
        if self.audio_from is not None and self._container.format.name != "image2":
            start, shift = self._audio_part or (None, 0.0)
            self._audio = AudioCopier(self.audio_from, self._container, start=start, shift=shift)
            self.summary.audio_streams = self._audio.num_streams
            self.summary.audio_transcoded = self._audio.transcoded

    def _encoder_options(self) -> dict[str, str]:
        codec = self.format.codec
        if codec == "libx264":
            options = {"preset": self.preset, **(X264_DETERMINISTIC if self.deterministic else {})}
            options.update({"qp": "0"} if self.lossless else {"crf": str(self.crf)})
            return options
        if codec == "libvpx-vp9":
            options = {"deadline": "good", "cpu-used": "4", "row-mt": "1", "b": "0"}
            options.update({"lossless": "1"} if self.lossless else {"crf": str(self.crf)})
            return options
        if codec == "prores_ks":
            return {"profile": "4444", "alpha_bits": "16", "vendor": "apl0"}
        return {}

    def _encode(self, image: np.ndarray, pts: int, time_base: Fraction, duration: int) -> None:
        image = self._even(image)
        if self.format.channels == 1:
            frame = _matte_frame(image)
        else:
            source_format = "rgba" if image.shape[2] == 4 else "rgb24"
            frame = av.VideoFrame.from_ndarray(image, format=source_format).reformat(
                format=self.format.pixel_format,
                dst_colorspace=Colorspace.ITU709,
                dst_color_range=ColorRange.MPEG,
            )
        frame.pts, frame.time_base, frame.duration = pts, time_base, duration
        self._durations[pts] = duration
        self._mux_video(self._video_stream().encode(frame))
        if self._audio is not None:
            self._audio.copy_until(float(pts * time_base))

    def _even(self, image: np.ndarray) -> np.ndarray:
        width, height = self.summary.width, self.summary.height
        if image.shape[1] == width and image.shape[0] == height:
            return image
        if self.odd_size == "crop":
            return np.ascontiguousarray(image[:height, :width])
        pad = ((0, height - image.shape[0]), (0, width - image.shape[1])) + ((0, 0),) * (image.ndim - 2)
        return np.pad(image, pad, mode="edge")

    def _video_stream(self) -> av.video.stream.VideoStream:
        if self._stream is None:
            raise RuntimeError("the video stream is opened by the first frame written")
        return self._stream

    def _mux(self, packets: list[av.Packet]) -> None:
        if self._container is None:
            raise RuntimeError("the container is opened by the first frame written")
        try:
            self._container.mux(packets)
        except (av.error.FFmpegError, OSError) as error:
            raise OutputError(f"writing {str(self.path)!r} failed: {error}") from None

    def _mux_video(self, packets: list[av.Packet]) -> None:
        """Mux encoded packets, each with the duration of the frame it holds.

        Encoders guess packet durations, and with B-frames they attach them to the wrong frames; containers
        then end the clip early or late. A packet's duration is its frame's presentation time, which is
        known from the frames given.
        """
        for packet in packets:
            duration = self._durations.pop(packet.pts, None) if packet.pts is not None else None
            if duration is not None:
                packet.duration = duration
        self._mux(packets)


@dataclass
class _Timeline:
    """The clip's timing as frames arrive: checks that it is consistent and knows where the last frame ends."""

    fps: Fraction
    pts_given: bool | None = None
    time_base: Fraction | None = None
    start: int | None = None
    last: int | None = None
    end: int | None = None  # where the newest frame stops showing: its pts plus its duration

    def advance(self, count: int, pts: int | None, time_base: Fraction | None, duration: int | None) -> tuple[int, Fraction, int]:
        """Check the next frame's timing, fill in what was not given, and return ``(pts, time_base, duration)``."""
        given = pts is not None
        if self.pts_given is not None and given != self.pts_given:
            raise ConfigError("give pts for every frame or for none")
        if pts is None:
            pts, time_base, duration = count, 1 / self.fps, 1
        elif time_base is None:
            raise ConfigError("pts needs the time_base it counts in")
        time_base = Fraction(time_base)
        if self.time_base is not None and time_base != self.time_base:
            raise ConfigError(f"time_base changed from {self.time_base} to {time_base} mid-clip")
        if self.last is not None and pts <= self.last:
            raise ConfigError(f"pts must increase: {pts} after {self.last}")
        if not duration or duration <= 0:
            # unknown: as long as the previous interval, or one nominal frame for the first
            duration = pts - self.last if self.last is not None else max(1, round(1 / (self.fps * time_base)))
        self.pts_given, self.time_base = given, time_base
        self.start = pts if self.start is None else self.start
        self.last, self.end = int(pts), int(pts) + int(duration)
        return int(pts), time_base, int(duration)

    @property
    def seconds(self) -> float:
        if self.start is None or self.end is None or self.time_base is None:
            return 0.0  # no frame yet (the first one sets all three)
        return float((self.end - self.start) * self.time_base)

    @property
    def end_seconds(self) -> float:
        """Where the newest frame stops showing, in seconds."""
        if self.end is None or self.time_base is None:
            raise RuntimeError("no frame has been timed yet")
        return float(self.end * self.time_base)


def _muxer_options(path: Path, time_base: Fraction) -> dict[str, str]:
    """Options of the container: ``bitexact`` leaves out what would differ between two writes of the same
    frames (Matroska's and WebM's random segment id, the FFmpeg version). MP4/MOV edit lists count in the
    movie timescale (default 1/1000 s), which would round the video's duration; a multiple of the stream's
    time base keeps it exact."""
    options = {"fflags": "+bitexact"}
    if path.suffix.lower() in (".mp4", ".mov"):
        options["movie_timescale"] = str(time_base.denominator * -(-1000 // time_base.denominator))
    return options


def _matte_frame(alpha: np.ndarray) -> av.VideoFrame:
    """A full-range 4:2:0 frame whose luma is the matte and whose chroma is neutral, so grey decodes back exactly."""
    height, width = alpha.shape
    planes = np.full((height * 3 // 2, width), 128, np.uint8)
    planes[:height] = alpha
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    frame.color_range = int(ColorRange.JPEG)
    frame.colorspace = int(Colorspace.ITU709)
    return frame


def _size_on_disk(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return path.stat().st_size
