"""Carrying a source clip's audio into an output, untouched.

Audio packets are copied as they are (remuxed, not re-encoded) with their own timestamps, so the output's
audio is bit-identical to the source's and stays in sync with video written at the source's pts. Packets
are muxed as the video advances, so the output is interleaved and nothing is buffered.

Only when the output container cannot hold the source codec (AAC into WebM, say) is the audio re-encoded,
to the container's usual codec; the writer's summary says so.

For a part of a clip (a frame range), the audio is cut to the packets that start within the part's time
and moved back with the video: whole packets, so the cut lands within one packet (1024 samples, 21 ms at
48 kHz, for AAC) of the video's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import av

from vmat.io.metadata import open_container

# The audio codec each container gets when the source codec cannot be copied into it.
_FALLBACK_CODEC = {"webm": ("libopus", 48000), "mp4": ("aac", None), "mov": ("aac", None), "matroska": ("aac", None)}


@dataclass
class _Route:
    """Where one source audio stream goes: straight copy, or decode and encode with ``encoder``."""

    source: av.audio.stream.AudioStream
    output: av.audio.stream.AudioStream
    transcode: bool


class AudioCopier:
    """Copies every audio stream of ``source_path`` into ``output`` while video is being written.

    Create it before the first packet is muxed (streams must exist before the header is written), call
    :meth:`copy_until` as video time advances and :meth:`finish` once the video is done. ``start`` (seconds
    on the source's clock) drops the packets that start before it, and ``shift`` (seconds) moves every
    packet kept that much earlier: the output clock is the source's minus ``shift``.
    """

    def __init__(
        self,
        source_path: str | os.PathLike[str],
        output: av.container.OutputContainer,
        *,
        start: float | None = None,
        shift: float = 0.0,
    ) -> None:
        self._source = open_container(source_path)
        self._output = output
        self._start = start
        self._shift = shift
        self._routes: dict[int, _Route] = {}
        for stream in self._source.streams.audio:
            self._routes[stream.index] = self._route(stream)
        self._packets: Iterator[av.Packet] | None = (
            self._source.demux(*[route.source for route in self._routes.values()]) if self._routes else None
        )
        self._pending: av.Packet | None = None
        self.packets_copied = 0

    @property
    def num_streams(self) -> int:
        return len(self._routes)

    @property
    def transcoded(self) -> list[str]:
        """``"aac -> libopus"`` for each stream that had to be re-encoded."""
        return [f"{r.source.codec_context.name} -> {r.output.codec_context.name}" for r in self._routes.values() if r.transcode]

    def _route(self, stream: av.audio.stream.AudioStream) -> _Route:
        try:
            return _Route(stream, self._output.add_stream_from_template(stream), transcode=False)
        except ValueError:  # PyAV refuses a codec the container cannot hold
            codec, rate = _FALLBACK_CODEC.get(self._output.format.name, ("aac", None))
            output = self._output.add_stream(codec, rate=rate or stream.rate, layout=stream.layout.name)
            assert isinstance(output, av.audio.stream.AudioStream)  # the fallbacks are audio encoders
            return _Route(stream, output, transcode=True)

    def copy_until(self, seconds: float) -> None:
        """Mux the source's audio packets that start before ``seconds`` (on the output's clock)."""
        if self._packets is None:
            return
        while True:
            if self._pending is None:
                self._pending = next(self._packets, None)
                if self._pending is None:
                    self._packets = None
                    return
            packet_start = _start_seconds(self._pending)
            if packet_start is not None and packet_start - self._shift >= seconds:
                return
            packet, self._pending = self._pending, None
            if self._start is not None and (packet_start is None or packet_start < self._start):
                continue  # before the part of the clip being written
            self._mux(packet)

    def finish(self, until: float = float("inf")) -> None:
        """Mux the remaining audio that starts before ``until`` (output clock), flush re-encoders and close the source."""
        try:
            self.copy_until(until)
            for route in self._routes.values():
                if route.transcode:
                    self._output.mux(route.output.encode(None))
        finally:
            self._source.close()

    def close(self) -> None:
        self._source.close()

    def _mux(self, packet: av.Packet) -> None:
        if packet.size == 0:  # demuxer end-of-stream marker
            return
        route = self._routes[packet.stream.index]
        if route.transcode:
            for frame in route.source.decode(packet):
                frame.pts = None  # the encoder numbers its own samples
                self._output.mux(route.output.encode(frame))
        else:
            if self._shift and packet.pts is not None:  # an untimed packet has no time to move
                ticks = round(self._shift / packet.time_base)
                packet.pts -= ticks
                if packet.dts is not None:
                    packet.dts -= ticks
            packet.stream = route.output
            self._output.mux(packet)
        self.packets_copied += 1


def _start_seconds(packet: av.Packet) -> float | None:
    """When ``packet`` starts on its stream's clock, in seconds; None for a packet without timing."""
    if packet.pts is None or packet.time_base is None:
        return None
    return float(packet.pts * packet.time_base)
