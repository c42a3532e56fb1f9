"""Streamed video input and output: decoding to RGB frames, encoding with audio kept, alpha formats.

See :func:`open_video` for reading and :class:`VideoWriter` for writing.
"""

from vmat.io.atomic import atomic_output, check_output_path
from vmat.io.colour import ColourInfo
from vmat.io.frame import Frame
from vmat.io.metadata import AudioStreamInfo, VideoInfo, probe
from vmat.io.reader import VideoReader, open_video
from vmat.io.test_pattern import write_test_pattern_clip
from vmat.io.writer import FORMATS, OutputFormat, VideoWriter, WriteSummary, guess_format

__all__ = [
    "FORMATS",
    "AudioStreamInfo",
    "ColourInfo",
    "Frame",
    "OutputFormat",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "WriteSummary",
    "atomic_output",
    "check_output_path",
    "guess_format",
    "open_video",
    "probe",
    "write_test_pattern_clip",
]
