"""Re-encoding a clip through vmat's reader and writer: the I/O path every pipeline run takes."""

from __future__ import annotations

import os

from vmat.io.reader import Backend, open_video
from vmat.io.writer import FORMATS, OddSize, VideoWriter, WriteSummary, guess_format
from vmat.progress import progress


def transcode(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    format: str | None = None,
    crf: int | None = None,
    preset: str = "veryfast",
    lossless: bool = False,
    odd_size: OddSize = "pad",
    audio: bool = True,
    backend: Backend = "pyav",
    salvage: bool = False,
    fps: float | None = None,
    deterministic: bool = True,
    start: int = 0,
    end: int | None = None,
) -> WriteSummary:
    """Decode ``source`` and encode it to ``output``, keeping every frame's pts and copying the audio.

    With an alpha ``format`` (prores4444, vp9-alpha, png-rgba) the source's alpha is kept (255 where it has
    none); ``format="matte"`` writes the source's alpha as a grey video. A damaged source raises
    :class:`CorruptMediaError` and leaves no output, unless ``salvage`` is set: then the frames decoded
    before the damage are written and the summary's ``warnings`` say where decoding stopped. ``fps`` is the frame rate of an
    image-folder source. ``deterministic``: see :class:`~vmat.io.VideoWriter`. ``start`` and ``end`` keep frames
    ``start`` to ``end - 1`` only, with their stretch of the audio (see :func:`~vmat.io.open_video`).
    """
    name = format or guess_format(output)
    wants_alpha = FORMATS[name].channels != 3 if name in FORMATS else False
    with open_video(
        source, backend=backend, alpha=wants_alpha, on_error="stop" if salvage else "raise", fps=fps, start=start, end=end
    ) as reader:
        info = reader.info
        with VideoWriter(
            output,
            format=name,
            fps=info.frame_rate,
            crf=crf,
            preset=preset,
            lossless=lossless,
            odd_size=odd_size,
            audio_from=source if audio and info.audio else None,
            colour=info.colour,
            deterministic=deterministic,
        ) as writer:
            for frame in progress(reader, total=info.num_frames, desc="transcode"):
                writer.write_frame(frame, image=frame.image[..., 3] if name == "matte" else None)
            if reader.error is not None:
                writer.summary.warnings.append(f"{reader.error}; the {reader.error.frames_decoded} good frames were kept")
    return writer.summary
