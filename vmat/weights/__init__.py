"""Weights that ship inside the package, trained by ``vmat train`` (the command and data seeds of each are in
the ``.json`` file beside it)."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def shipped(name: str) -> Path | None:
    """The shipped weights file ``name`` (e.g. ``"mpmat_small.safetensors"``), or ``None`` when this install has none."""
    path = FOLDER / name
    return path if path.is_file() else None
