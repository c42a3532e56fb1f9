"""The shipped person weights: reproduced exactly by the converter, loaded safely, checked against their record."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil

import pytest
import torch
from safetensors import safe_open

from vmat.person.convert import METADATA_KEY, convert_wheel, main
from vmat.person.weights import PERSON_MODELS, PROVENANCE, WEIGHTS_DIR, PersonWeightsError, load_person_state


def read_safetensors(path):
    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata(), {key: handle.get_tensor(key) for key in handle.keys()}


def test_the_converter_reproduces_the_shipped_files(mediapipe_wheel, tmp_path):
    out = tmp_path / "weights"  # a folder the converter has to make
    record = convert_wheel(mediapipe_wheel, out)
    assert sorted(record["models"]) == sorted(PERSON_MODELS)
    for name in PERSON_MODELS:
        shipped_metadata, shipped = read_safetensors(WEIGHTS_DIR / f"{name}.safetensors")
        metadata, state = read_safetensors(out / f"{name}.safetensors")
        assert metadata == shipped_metadata
        provenance = json.loads(metadata[METADATA_KEY])
        assert provenance["model"] == name and provenance["version"] == "0.10.21"
        assert provenance["wheel_sha256"] == hashlib.sha256(mediapipe_wheel.read_bytes()).hexdigest()
        assert state.keys() == shipped.keys()
        for key, tensor in shipped.items():
            assert state[key].dtype == tensor.dtype and torch.equal(state[key], tensor), (name, key)
        # Deterministic writing: the very same bytes, so the recorded sha256 holds for a re-conversion.
        assert (out / f"{name}.safetensors").read_bytes() == (WEIGHTS_DIR / f"{name}.safetensors").read_bytes()
    for file in (PROVENANCE, "LICENSE", "NOTICE"):
        assert (out / file).read_bytes() == (WEIGHTS_DIR / file).read_bytes(), file


def test_every_shipped_model_loads_as_float32_and_stays_small():
    total = 0
    for name in PERSON_MODELS:
        state = load_person_state(name)
        assert state and all(tensor.dtype == torch.float32 for tensor in state.values())
        total += (WEIGHTS_DIR / f"{name}.safetensors").stat().st_size
    assert total < 20_000_000
    assert "Apache License" in (WEIGHTS_DIR / "LICENSE").read_text()


@pytest.fixture
def shipped_copy(tmp_path):
    """A copy of the shipped selfie weights and their record, to damage."""
    for file in (PROVENANCE, "selfie_segmentation.safetensors"):
        shutil.copy(WEIGHTS_DIR / file, tmp_path / file)
    return tmp_path


def test_a_file_whose_hash_differs_is_refused(shipped_copy):
    path = shipped_copy / "selfie_segmentation.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(PersonWeightsError, match="sha256 differs"):
        load_person_state("selfie_segmentation", shipped_copy)


class _Trap:
    """Unpickling this would create ``marker``: proof that pickled code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_is_refused_without_running_it(shipped_copy):
    # Even with its hash recorded (both files replaced), a pickle is never unpickled.
    marker = shipped_copy / "ran"
    path = shipped_copy / "selfie_segmentation.safetensors"
    path.write_bytes(pickle.dumps({"stem.weight": _Trap(marker)}))
    record = json.loads((shipped_copy / PROVENANCE).read_text())
    record["models"]["selfie_segmentation"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (shipped_copy / PROVENANCE).write_text(json.dumps(record))
    with pytest.raises(PersonWeightsError, match="not a readable safetensors file"):
        load_person_state("selfie_segmentation", shipped_copy)
    assert not marker.exists()


def test_missing_files_and_unknown_names_are_clear_errors(shipped_copy):
    with pytest.raises(PersonWeightsError, match="unknown person model"):
        load_person_state("selfie", shipped_copy)
    (shipped_copy / "selfie_segmentation.safetensors").unlink()
    with pytest.raises(PersonWeightsError, match="missing"):
        load_person_state("selfie_segmentation", shipped_copy)
    record = json.loads((shipped_copy / PROVENANCE).read_text())
    del record["models"]["selfie_segmentation"]
    (shipped_copy / PROVENANCE).write_text(json.dumps(record))
    with pytest.raises(PersonWeightsError, match="has no record of selfie_segmentation"):
        load_person_state("selfie_segmentation", shipped_copy)
    (shipped_copy / PROVENANCE).write_text("{not json")
    with pytest.raises(PersonWeightsError, match="not a readable JSON record"):
        load_person_state("selfie_segmentation", shipped_copy)


def test_the_command_reports_a_bad_wheel_in_one_line(tmp_path, capsys):
    assert main(["--wheel", str(tmp_path / "absent.whl"), "--out", str(tmp_path)]) == 2
    (tmp_path / "fake.whl").write_bytes(b"not a zip")
    assert main(["--wheel", str(tmp_path / "fake.whl"), "--out", str(tmp_path)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "cannot read the wheel" in errors[0] and "not a zip file" in errors[1]
    assert not list(tmp_path.glob("*.safetensors"))


def test_existing_files_need_overwrite(mediapipe_wheel, tmp_path, capsys):
    (tmp_path / "NOTICE").write_text("mine")
    assert main(["--wheel", str(mediapipe_wheel), "--out", str(tmp_path)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "NOTICE").read_text() == "mine" and not list(tmp_path.glob("*.safetensors"))
    assert main(["--wheel", str(mediapipe_wheel), "--out", str(tmp_path), "--overwrite"]) == 0
    assert (tmp_path / "NOTICE").read_bytes() == (WEIGHTS_DIR / "NOTICE").read_bytes()
    assert load_person_state("selfie_segmentation", tmp_path).keys() == load_person_state("selfie_segmentation").keys()
