"""Errors a user can cause when building, storing or editing layer stacks."""

from __future__ import annotations

from vmat.errors import VmatError


class LayerError(VmatError):
    """A layer stack is malformed: wrong shapes, values out of range, or the integration property broken."""


class InstanceNotFoundError(VmatError):
    """An edit names an instance id that is not in the layer stack or clip."""


class LayersFileError(VmatError):
    """A layers file is missing, incomplete, of an unknown version, or inconsistent."""
