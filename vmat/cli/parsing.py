"""Argument types for the command line, with errors argparse prints as usage errors."""

from __future__ import annotations

import argparse
import re

from vmat.errors import ConfigError


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, not {text!r}") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, not {text!r}")
    return width, height


def check_device(name: str | None) -> str | None:
    """``--device``: ``cpu``, ``cuda`` or ``cuda:N``, checked to exist on this machine; ``None`` stays ``None``
    (each stage's default). Raises :class:`~vmat.errors.ConfigError` in one line otherwise."""
    if name is None:
        return None
    match = re.fullmatch(r"cpu|cuda(?::(\d+))?", name)
    if match is None:
        raise ConfigError(f"--device must be cpu, cuda or cuda:N, not {name!r}")
    if name == "cpu":
        return name
    import torch

    if not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "torch sees no CUDA device"
        raise ConfigError(f"--device {name}: {why} here; use --device cpu")
    count = torch.cuda.device_count()
    if int(match.group(1) or 0) >= count:
        raise ConfigError(f"--device {name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return name
