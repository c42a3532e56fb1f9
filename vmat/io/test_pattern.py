"""Test-pattern clips made from nothing: moving shapes, a frame counter's worth of change, and a tone.

Tests, benchmarks and the quick start need real media files with known properties (odd sizes, variable
frame rate, rotation tags, audio or none) without shipping any. The picture changes every frame, so a
dropped or duplicated frame is visible in a comparison.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from vmat.errors import ConfigError
from vmat.io.atomic import atomic_output
from vmat.io.colour import output_tags


def pattern_image(index: int, width: int, height: int) -> np.ndarray:
    """Frame ``index`` of the pattern: colour ramps, a moving disc and a moving bar, ``(H, W, 3)`` uint8."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 255 * x / max(width - 1, 1)
    green = 255 * y / max(height - 1, 1)
    blue = np.full_like(x, 96 + 64 * np.sin(index / 5.0))
    image = np.stack([red, green, blue], axis=-1)
    cx = (0.2 + 0.6 * (0.5 + 0.5 * np.sin(index / 7.0))) * width
    cy = (0.3 + 0.4 * (0.5 + 0.5 * np.cos(index / 9.0))) * height
    radius = 0.15 * min(width, height)
    image[(x - cx) ** 2 + (y - cy) ** 2 < radius**2] = (250, 250, 240)
    bar = int(index * 3) % max(width, 1)
    image[:, bar : bar + max(2, width // 40)] = (20, 20, 20)
    return image.astype(np.uint8)


def write_test_pattern_clip(
    path: str | os.PathLike[str],
    *,
    width: int = 320,
    height: int = 240,
    num_frames: int = 30,
    fps: int = 30,
    audio: bool = True,
    audio_streams: int = 1,
    audio_codec: str = "aac",
    sample_rate: int = 48000,
    variable_frame_rate: bool = False,
    rotation: int = 0,
    crf: int = 18,
) -> Path:
    """Write an H.264 test clip (even ``width`` and ``height``) with ``audio_streams`` stereo tones; return its path.

    With ``variable_frame_rate`` the frame intervals alternate between one and two ticks of ``1/(2*fps)``
    (and jump to five ticks every tenth frame), so frame times are irregular. ``rotation`` stores a
    display-matrix rotation (degrees counter-clockwise), as phones do.
    """
    if width % 2 or height % 2 or width < 2 or height < 2:
        raise ConfigError(f"test clips need an even width and height, not {width}x{height}")
    if num_frames < 1 or fps < 1:
        raise ConfigError("test clips need at least one frame and a positive frame rate")
    with atomic_output(path) as temporary:
        with av.open(str(temporary), mode="w") as container:
            time_base = Fraction(1, 2 * fps) if variable_frame_rate else Fraction(1, fps)
            video = container.add_stream("libx264", rate=fps)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.time_base = video.codec_context.time_base = time_base
            video.options = {"crf": str(crf), "preset": "veryfast"}
            for attribute, value in output_tags(None).items():
                setattr(video.codec_context, attribute, value)
            if rotation:
                video.set_display_rotation(rotation)
            sounds = [
                container.add_stream(audio_codec, rate=sample_rate, layout="stereo") for _ in range(audio_streams if audio else 0)
            ]
            pts = 0
            for index in range(num_frames):
                frame = av.VideoFrame.from_ndarray(pattern_image(index, width, height), format="rgb24").reformat(
                    format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG
                )
                frame.pts, frame.time_base = pts, time_base
                container.mux(video.encode(frame))
                pts += (5 if index % 10 == 9 else 1 + index % 2) if variable_frame_rate else 1
            container.mux(video.encode(None))
            for number, sound in enumerate(sounds):
                _write_tone(container, sound, seconds=float(pts * time_base), sample_rate=sample_rate, pitch=440 * (number + 1))
    return Path(path)


def write_tone(path: str | os.PathLike[str], *, seconds: float, sample_rate: int = 48000) -> Path:
    """Write an audio-only AAC file (``.m4a``) holding a stereo tone, e.g. to give a generated clip sound
    through ``VideoWriter(audio_from=...)``."""
    with atomic_output(path) as temporary:
        with av.open(str(temporary), mode="w", format="mp4") as container:
            stream = container.add_stream("aac", rate=sample_rate, layout="stereo")
            _write_tone(container, stream, seconds=seconds, sample_rate=sample_rate, pitch=330)
    return Path(path)


def _write_tone(container, stream, *, seconds: float, sample_rate: int, pitch: float) -> None:
    """A stereo tone lasting ``seconds``: ``pitch`` Hz on the left, 1.5 times that on the right."""
    total = int(round(seconds * sample_rate))
    chunk = 1024
    for start in range(0, total, chunk):
        t = np.arange(start, min(start + chunk, total)) / sample_rate
        samples = np.stack([0.2 * np.sin(2 * np.pi * pitch * t), 0.2 * np.sin(3 * np.pi * pitch * t)]).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = sample_rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
