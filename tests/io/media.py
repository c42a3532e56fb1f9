"""Small media files for tests, including deliberately broken ones.

Broken files are made the way they break in the wild: cut short (a failed download), overwritten in the
middle (disk damage), or with a header naming a codec or pixel format FFmpeg does not know.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vmat.io import write_test_pattern_clip
from vmat.io.test_pattern import pattern_image


def faststart_clip(path: Path, *, width: int = 96, height: int = 64, num_frames: int = 40) -> Path:
    """An MP4 with its index at the front, so that a truncated copy still opens."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(pattern_image(index, width, height), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def truncated(source: Path, path: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def overwritten_middle(source: Path, path: Path, length: int = 2000) -> Path:
    data = bytearray(source.read_bytes())
    middle = len(data) // 2
    data[middle : middle + length] = np.random.default_rng(0).integers(0, 256, length, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def unknown_codec_clip(tmp_path: Path) -> Path:
    """A Matroska file whose codec id names no codec FFmpeg has."""
    clip = write_test_pattern_clip(tmp_path / "known.mkv", width=64, height=48, num_frames=5, audio=False)
    data = clip.read_bytes()
    assert b"V_MPEG4/ISO/AVC" in data
    path = tmp_path / "unknown_codec.mkv"
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_VMATX/ISO/XYZ", 1))
    return path


def unknown_pixel_format_clip(tmp_path: Path) -> Path:
    """Uncompressed video in Matroska whose FourCC names no pixel format."""
    raw = tmp_path / "raw.mkv"
    with av.open(str(raw), "w") as container:
        stream = container.add_stream("rawvideo", rate=30)
        stream.width, stream.height, stream.pix_fmt = 16, 8, "yuv420p"
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((8, 16, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    data = raw.read_bytes()
    assert b"I420" in data
    path = tmp_path / "unknown_pixel_format.mkv"
    path.write_bytes(data.replace(b"I420", b"QQQQ"))
    return path


def zero_frame_clip(path: Path) -> Path:
    """An MP4 whose video track holds no frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    return path


def audio_only_clip(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def packet_times(path: Path, kind: str) -> list[Fraction]:
    """Presentation times (seconds, exact) of every packet of the first stream of ``kind``, sorted."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return sorted(Fraction(p.pts) * stream.time_base for p in container.demux(stream) if p.size)


def audio_packets(path: Path) -> list[list[tuple[Fraction, bytes]]]:
    """Per audio stream: each packet's time and payload."""
    with av.open(str(path)) as container:
        streams = list(container.streams.audio)
        result: dict[int, list[tuple[Fraction, bytes]]] = {s.index: [] for s in streams}
        for packet in container.demux(*streams):
            if packet.size:
                result[packet.stream.index].append((Fraction(packet.pts) * packet.time_base, bytes(packet)))
    return list(result.values())


def stream_durations(path: Path) -> list[Fraction]:
    with av.open(str(path)) as container:
        return [Fraction(s.duration) * s.time_base for s in container.streams if s.type in ("video", "audio")]
