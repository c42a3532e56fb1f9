"""Convert the MediaPipe person models of the ``mediapipe`` wheel into the safetensors files vmat ships.

    python -m vmat.person.convert [--wheel PATH] [--out DIR] [--overwrite]

reads each ``.tflite`` straight out of the wheel (a zip; nothing is installed), maps its weights onto the
torch module's parameter names with that model's ``*_state_from_tflite`` and writes, into ``--out``
(default ``vmat/weights/person``):

- ``<name>.safetensors``: the tensors, float16 where that is exact (the originals are float16, so it always
  is for these models), else float32; one metadata entry holding the source wheel, its version and sha256,
  the ``.tflite``'s path and sha256, and the converter version;
- ``person_weights.json``: the same provenance for every model, with each written file's sha256 (what
  :func:`vmat.person.weights.load_person_state` checks);
- ``LICENSE`` (Apache-2.0, copied from the wheel's ``dist-info``) and ``NOTICE``.

The files appear together, only when all are complete, and byte-for-byte reproducibly (sorted keys, no
timestamps), so running the converter again on the same wheel reproduces the shipped files exactly. As for
every vmat command, files that exist already are an error unless ``--overwrite`` is given (re-creating the
shipped weights in place needs it). Without ``--wheel`` the wheel
is fetched with ``pip download`` (only the file, for CPython 3.11 on x86-64 Linux; it is the same for all).
Needs the ``convert`` extra (the ``tflite`` flatbuffer bindings).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from vmat.errors import VmatError
from vmat.io.atomic import atomic_outputs, check_new_output, created_folder
from vmat.person.tflite_reader import TFLiteGraph, read_tflite
from vmat.person.weights import FORMAT, PERSON_MODELS, PROVENANCE, WEIGHTS_DIR

CONVERTER_VERSION = "1"
PACKAGE = "mediapipe"
PACKAGE_VERSION = "0.10.21"  # later wheels ship no models
WHEEL_NAME = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
METADATA_KEY = "vmat_person"

# Each model: its file inside the wheel and the function (``module:name``) that maps its graph to a state dict.
_MODULES = "mediapipe/modules"
SOURCES = {
    "pose_detection": (
        f"{_MODULES}/pose_detection/pose_detection.tflite",
        "vmat.person.detector:pose_detector_state_from_tflite",
    ),
    "pose_landmark_full": (
        f"{_MODULES}/pose_landmark/pose_landmark_full.tflite",
        "vmat.person.landmarks:pose_landmarker_state_from_tflite",
    ),
    "selfie_segmentation": (
        f"{_MODULES}/selfie_segmentation/selfie_segmentation.tflite",
        "vmat.person.selfie:selfie_segmenter_state_from_tflite",
    ),
    "selfie_segmentation_landscape": (
        f"{_MODULES}/selfie_segmentation/selfie_segmentation_landscape.tflite",
        "vmat.person.selfie:selfie_segmenter_state_from_tflite",
    ),
}

NOTICE = """\
vmat person-model weights
=========================

The *.safetensors files in this folder hold the weights of four MediaPipe models by The MediaPipe Authors:

- pose_detection: the BlazePose person detector (224x224 input);
- pose_landmark_full: BlazePose landmarks (full) with its person segmentation (256x256 input);
- selfie_segmentation, selfie_segmentation_landscape: MediaPipe selfie segmentation (256x256, 144x256).

They are licensed under the Apache License, Version 2.0; LICENSE in this folder is the licence file of the
package they came from, copied unchanged.

Source: the TensorFlow Lite files under mediapipe/modules/ in the Python wheel
{wheel}
(PyPI package {package} {version}, sha256 {sha256}); MediaPipe's source is at
https://github.com/google-ai-edge/mediapipe.

Changes: the weights were converted, not retrained or fine-tuned. vmat's converter (python -m
vmat.person.convert, converter version {converter}) read each .tflite file, expanded the weights TFLite stores
sparse, rearranged every weight tensor into PyTorch's layout (transposes and reshapes) and stored it in
float16 where the original is float16 (float32 otherwise), so every value is unchanged.
person_weights.json records each file's source and sha256. The networks that use them are vmat's own
PyTorch code (vmat/person/).
"""


class ConvertError(VmatError):
    """The wheel cannot be had or read, or does not hold the person models."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(folder: Path) -> Path:
    """The mediapipe wheel in ``folder``, downloaded there with ``pip download`` if it is not yet."""
    wheel = Path(folder) / WHEEL_NAME
    if not wheel.exists():
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
            "--platform", "manylinux_2_28_x86_64", "-d", str(folder), f"{PACKAGE}=={PACKAGE_VERSION}",
        ]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=900)
        except (subprocess.SubprocessError, OSError) as error:
            message = f"could not download {PACKAGE}=={PACKAGE_VERSION} with pip ({type(error).__name__})"
            raise ConvertError(f"{message}; pass --wheel PATH") from None
    if not wheel.exists():
        raise ConvertError(f"pip did not leave {WHEEL_NAME} in {folder}; pass --wheel PATH")
    return wheel


def _state_function(name: str) -> Callable[[TFLiteGraph], dict[str, torch.Tensor]]:
    module, function = SOURCES[name][1].split(":")
    return getattr(importlib.import_module(module), function)


def _storage(tensor: torch.Tensor) -> torch.Tensor:
    """float16 when that holds ``tensor`` exactly, else float32 (the loader returns float32 either way)."""
    tensor = tensor.detach().cpu().float().contiguous()
    half = tensor.half()
    return half if torch.equal(half.float(), tensor) else tensor


def _wheel_metadata(wheel: zipfile.ZipFile) -> tuple[str, dict[str, str]]:
    """The wheel's ``*.dist-info`` folder and the ``Name``/``Version`` fields of its METADATA."""
    tops = {name.partition("/")[0] for name in wheel.namelist()}
    folders = sorted(top for top in tops if top.endswith(".dist-info"))
    if len(folders) != 1:
        raise ConvertError("the wheel has no single .dist-info folder")
    fields: dict[str, str] = {}
    for line in wheel.read(f"{folders[0]}/METADATA").decode("utf-8").splitlines():
        if not line:
            break  # the headers end at the first blank line
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return folders[0], fields


def check_outputs(out: Path, *, overwrite: bool, inputs: Sequence[Path] = ()) -> None:
    """The output policy for the converter's files in ``out`` (:func:`vmat.io.atomic.check_new_output`)."""
    for output in [f"{name}.safetensors" for name in PERSON_MODELS] + ["LICENSE", "NOTICE", PROVENANCE]:
        check_new_output(Path(out) / output, overwrite=overwrite, inputs=inputs)


def convert_wheel(wheel: Path, out: Path = WEIGHTS_DIR, *, overwrite: bool = False) -> dict[str, Any]:
    """Write every person model's weights, ``person_weights.json``, ``LICENSE`` and ``NOTICE`` into ``out``.

    Returns the provenance record it wrote. Raises :class:`ConvertError` for a wheel that is missing, not a
    zip, not mediapipe 0.10.21 or lacks a model, and :class:`~vmat.errors.OutputError` (before any work) when
    one of the files exists and ``overwrite`` is false.
    """
    if importlib.util.find_spec("tflite") is None:
        raise ConvertError("the converter needs the tflite package: pip install 'vmat[convert]'")
    wheel, out = Path(wheel), Path(out)
    check_outputs(out, overwrite=overwrite, inputs=[wheel])
    try:
        data = wheel.read_bytes()
    except OSError as error:
        raise ConvertError(f"cannot read the wheel {str(wheel)!r}: {error.strerror}") from None
    try:
        # The bytes that were hashed are the bytes read.
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ConvertError(f"{str(wheel)!r} is not a wheel (not a zip file)") from None
    with archive, created_folder(out), atomic_outputs(out) as staging:
        dist_info, fields = _wheel_metadata(archive)
        found = f"{fields.get('Name', '?')} {fields.get('Version', '?')}"
        if found.lower() != f"{PACKAGE} {PACKAGE_VERSION}":
            raise ConvertError(f"{wheel.name} is {found}, not {PACKAGE} {PACKAGE_VERSION}")
        source = {
            "package": PACKAGE,
            "version": PACKAGE_VERSION,
            "wheel": wheel.name,
            "wheel_sha256": sha256(data),
            "licence": "Apache-2.0",
        }
        record: dict[str, Any] = {
            "format": FORMAT,
            "converter_version": CONVERTER_VERSION,
            "source": source,
            "models": {},
        }
        for name in PERSON_MODELS:
            member = SOURCES[name][0]
            try:
                tflite_bytes = archive.read(member)
            except KeyError:
                raise ConvertError(f"{wheel.name} has no {member}") from None
            converted = _state_function(name)(read_tflite(tflite_bytes))
            state = {key: _storage(value) for key, value in converted.items()}
            provenance = {
                "model": name,
                "converter_version": CONVERTER_VERSION,
                "tflite": member,
                "tflite_sha256": sha256(tflite_bytes),
                **source,
            }
            # One metadata entry of sorted JSON: safetensors writes several entries in no fixed order.
            blob = save(state, metadata={METADATA_KEY: json.dumps(provenance, sort_keys=True)})
            (staging.folder / f"{name}.safetensors").write_bytes(blob)
            record["models"][name] = {
                "file": f"{name}.safetensors",
                "sha256": sha256(blob),
                "bytes": len(blob),
                "tflite": member,
                "tflite_sha256": provenance["tflite_sha256"],
                "tensors": len(state),
                "parameters": sum(tensor.numel() for tensor in state.values()),
                "dtypes": sorted({str(tensor.dtype).removeprefix("torch.") for tensor in state.values()}),
            }
        (staging.folder / "LICENSE").write_bytes(archive.read(f"{dist_info}/LICENSE"))
        notice = NOTICE.format(
            wheel=wheel.name,
            package=PACKAGE,
            version=PACKAGE_VERSION,
            sha256=source["wheel_sha256"],
            converter=CONVERTER_VERSION,
        )
        (staging.folder / "NOTICE").write_text(notice, encoding="utf-8")
        (staging.folder / PROVENANCE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmat.person.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"the {WHEEL_NAME} (default: download it with pip)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder to write into (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files if they exist")
    args = parser.parse_args(argv)
    try:
        # Before the download: an output in the way is found at once.
        check_outputs(args.out, overwrite=args.overwrite, inputs=[args.wheel] if args.wheel else [])
        if args.wheel is None:
            with tempfile.TemporaryDirectory() as folder:
                record = convert_wheel(fetch_wheel(Path(folder)), args.out, overwrite=args.overwrite)
        else:
            record = convert_wheel(args.wheel, args.out, overwrite=args.overwrite)
    except VmatError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return error.exit_code
    for entry in record["models"].values():
        sizes = f"{entry['tensors']} tensors, {entry['parameters']:,} parameters, {entry['bytes']:,} bytes"
        print(f"{args.out / entry['file']}: {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
