"""The errors vmat reports to users.

Every failure a user can cause (a missing file, a clip that is not video, an output folder that cannot
be written) is raised as a :class:`VmatError` subclass whose message is one complete sentence naming the
problem. The command line prints that sentence and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations


class VmatError(Exception):
    """Base class for errors caused by the user's input or environment, not by a bug in vmat."""

    exit_code = 2


class InputNotFoundError(VmatError):
    """The input path does not exist."""


class NotMediaError(VmatError):
    """The input exists but is not a media file vmat can open."""


class NoVideoError(VmatError):
    """The input opens but holds no video stream or no decodable frame."""


class UnsupportedMediaError(VmatError):
    """The input uses a codec, pixel format or container vmat cannot handle."""


class CorruptMediaError(VmatError):
    """Decoding stopped part-way through the input.

    ``frames_decoded`` frames were decoded before the failure, the last valid one at ``last_time``
    seconds (``None`` when no frame was valid).
    """

    def __init__(self, message: str, frames_decoded: int, last_time: float | None) -> None:
        super().__init__(message)
        self.frames_decoded = frames_decoded
        self.last_time = last_time


class OutputError(VmatError):
    """The output cannot be written where the user asked."""


class ConfigError(VmatError):
    """An option or option combination is invalid."""
