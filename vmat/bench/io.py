"""``vmat bench io``: vmat's reader + writer against a plain PyAV decode/encode loop on the same clip.

Both sides do the same work: decode every frame, convert it to an RGB array, convert it back to YUV and
encode it with libx264 at the same crf/preset and thread settings, then write the audio. The plain loop is
the floor that vmat's I/O layer (probing, colour handling, pts bookkeeping, atomic outputs, interleaved
audio copy) is measured against. Runs alternate (plain, vmat, plain, vmat, ...) so that machine noise hits
both alike, and the ratio of the medians is reported.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import av
from av.video.reformatter import ColorRange, Colorspace

from vmat.io import VideoWriter, open_video, probe


@dataclass
class IOBenchResult:
    clip: str
    width: int
    height: int
    frames: int
    repeats: int
    crf: int
    preset: str
    plain_fps: float
    vmat_fps: float

    @property
    def ratio(self) -> float:
        return self.vmat_fps / self.plain_fps

    def to_dict(self) -> dict:
        return asdict(self) | {"ratio": self.ratio}

    def describe(self) -> str:
        return (
            f"clip {self.clip} ({self.width}x{self.height}, {self.frames} frames), libx264 {self.preset} crf {self.crf}, "
            f"median of {self.repeats} runs each\n"
            f"  plain PyAV decode+encode loop : {self.plain_fps:7.1f} frames/s\n"
            f"  vmat reader + VideoWriter     : {self.vmat_fps:7.1f} frames/s\n"
            f"  ratio vmat / plain            : {self.ratio:7.3f}"
        )


def plain_pyav_passthrough(source: Path, output: Path, *, crf: int, preset: str) -> int:
    """The reference loop: what a careful user writes with PyAV alone. Returns the frame count."""
    frames = 0
    with av.open(str(source)) as reader, av.open(str(output), "w") as writer:
        video_in = reader.streams.video[0]
        video_in.thread_type = "AUTO"
        video_out = writer.add_stream("libx264", rate=video_in.average_rate)
        video_out.width, video_out.height, video_out.pix_fmt = video_in.width, video_in.height, "yuv420p"
        video_out.time_base = video_out.codec_context.time_base = video_in.time_base
        video_out.thread_type = "AUTO"
        video_out.options = {"crf": str(crf), "preset": preset}
        audio_out = {stream.index: writer.add_stream_from_template(stream) for stream in reader.streams.audio}
        for packet in reader.demux(video_in, *reader.streams.audio):
            if packet.stream.index in audio_out:
                if packet.size:
                    packet.stream = audio_out[packet.stream.index]
                    writer.mux(packet)
                continue
            for frame in video_in.decode(packet):
                rgb = frame.to_ndarray(format="rgb24", src_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.JPEG)
                yuv = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                    format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG
                )
                yuv.pts, yuv.time_base = frame.pts, frame.time_base
                writer.mux(video_out.encode(yuv))
                frames += 1
        writer.mux(video_out.encode(None))
    return frames


def vmat_passthrough(source: Path, output: Path, *, crf: int, preset: str) -> int:
    with open_video(source) as reader, VideoWriter(
        output, fps=reader.info.frame_rate, crf=crf, preset=preset, audio_from=source, colour=reader.info.colour
    ) as writer:
        for frame in reader:
            writer.write_frame(frame)
    return writer.summary.frames


def run_io_benchmark(clip: str | os.PathLike[str], *, repeats: int = 3, crf: int = 18, preset: str = "veryfast") -> IOBenchResult:
    clip = Path(clip)
    info = probe(clip)
    timings: dict[str, list[float]] = {"plain": [], "vmat": []}
    with tempfile.TemporaryDirectory(prefix="vmat-bench-") as folder:
        for _ in range(repeats):
            for name, run in (("plain", plain_pyav_passthrough), ("vmat", vmat_passthrough)):
                start = time.perf_counter()
                frames = run(clip, Path(folder) / f"{name}.mp4", crf=crf, preset=preset)
                timings[name].append(frames / (time.perf_counter() - start))
    return IOBenchResult(
        clip=str(clip),
        width=info.width,
        height=info.height,
        frames=info.num_frames or 0,
        repeats=repeats,
        crf=crf,
        preset=preset,
        plain_fps=statistics.median(timings["plain"]),
        vmat_fps=statistics.median(timings["vmat"]),
    )
