"""The person models' weights that ship with vmat: loading them safely and checking them against their record.

``vmat/weights/person/`` holds one ``<name>.safetensors`` per model (written by :mod:`vmat.person.convert`
from the MediaPipe wheel), ``person_weights.json`` (where each came from and its sha256), the models'
Apache-2.0 ``LICENSE`` and a ``NOTICE``. :func:`load_person_state` reads a file only as tensors (safetensors
runs no code) and only when its sha256 is the recorded one, so a damaged or swapped file is refused with one
clear :class:`PersonWeightsError` instead of giving a model wrong weights.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load

from vmat.errors import VmatError

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights" / "person"
PROVENANCE = "person_weights.json"
FORMAT = "vmat-person-weights"
# Every person model, by its weights file's stem (also the name of its .tflite original).
PERSON_MODELS = ("pose_detection", "pose_landmark_full", "selfie_segmentation", "selfie_segmentation_landscape")
_REGENERATE = "python -m vmat.person.convert --overwrite"


class PersonWeightsError(VmatError):
    """A person model's weights are missing, damaged, or not the ones recorded in ``person_weights.json``."""


def person_weights_path(name: str, folder: Path = WEIGHTS_DIR) -> Path:
    """Where ``name``'s weights live; raises :class:`PersonWeightsError` for an unknown name."""
    if name not in PERSON_MODELS:
        raise PersonWeightsError(f"unknown person model {name!r}: choose one of {', '.join(PERSON_MODELS)}")
    return Path(folder) / f"{name}.safetensors"


def read_provenance(folder: Path = WEIGHTS_DIR) -> dict[str, Any]:
    """The parsed ``person_weights.json`` of ``folder``."""
    path = Path(folder) / PROVENANCE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PersonWeightsError(f"{path} is missing; re-create the person weights: {_REGENERATE}") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise PersonWeightsError(f"{path} is not a readable JSON record ({type(error).__name__})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record.get("models"), dict):
        raise PersonWeightsError(f"{path} is not a vmat person-weights record")
    return record


def load_person_state(name: str, folder: Path = WEIGHTS_DIR) -> dict[str, torch.Tensor]:
    """The float32 CPU tensors of person model ``name`` (e.g. ``"selfie_segmentation"``).

    Raises :class:`PersonWeightsError` when the file is missing, its sha256 differs from the one in
    ``person_weights.json``, or it is not a safetensors file.
    """
    path = person_weights_path(name, folder)
    entry = read_provenance(folder)["models"].get(name)
    if not isinstance(entry, dict) or "sha256" not in entry:
        raise PersonWeightsError(f"{Path(folder) / PROVENANCE} has no record of {name}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PersonWeightsError(f"{path} is missing; re-create it: {_REGENERATE}") from None
    except OSError as error:
        raise PersonWeightsError(f"cannot read {path}: {error.strerror}") from None
    # The bytes that were hashed are the bytes parsed: nothing can change in between.
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise PersonWeightsError(f"{path} is not the file {PROVENANCE} records (its sha256 differs): damaged or replaced")
    try:
        state = load(data)
    # Arbitrary bytes make the parser fail in arbitrary ways, so any failure means "not safetensors".
    except Exception as error:
        raise PersonWeightsError(f"{path} is not a readable safetensors file ({type(error).__name__})") from None
    return {key: tensor.float() for key, tensor in state.items()}
