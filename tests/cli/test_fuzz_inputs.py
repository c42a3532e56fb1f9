"""Property: whatever a prompt file, a layers header or a layers frame holds, vmat either succeeds or exits
with status 2 and exactly one line on stderr; never a traceback (which fails these tests by escaping
``main``) and never a second line from a library.

Each case is a seeded random mutation of a valid file, so a failure names a seed that reproduces it.
"""

from __future__ import annotations

import copy
import io
import json
import random

import numpy as np
import pytest
import zstandard

from tests.cli.bad_inputs import layers_of, run_vmat, smooth_clip
from vmat.layers.store import unpack_frame
from vmat.propagation.idmask import write_id_mask

CASES = 200

# Values that have broken parsers: wrong types, huge and non-finite numbers, nesting, names of files.
NASTY = [
    None, True, False, 0, -1, 1, 3, 2**31, 2**63, -(2**63), 10**30, 1e11, 1e308, -0.5, 1.5,
    float("nan"), float("inf"), -float("inf"), "", "abc", "ids.png", "clip.mp4", "../../etc/passwd", "\udcff",
    [], [1], [1, 2], [1, 2, 3, 4], [[1, 2]], {}, {"id": 1}, "x" * 5000,
    json.loads("[" * 60 + "]" * 60),
]


def _paths(node, prefix=()):
    """Every (path, value) in a JSON document, the root included."""
    yield prefix, node
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _mutate(document, rng: random.Random):
    """One to three random edits of a copy of ``document``: replace, delete, duplicate, wrap, add a key."""
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        path, value = rng.choice(list(_paths(document)))
        if not path:
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = rng.choice(["replace", "replace", "replace", "delete", "duplicate", "wrap", "add"])
        if action == "replace":
            parent[key] = copy.deepcopy(rng.choice(NASTY))
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(value))
        elif action == "wrap":
            parent[key] = [value]
        elif action == "add" and isinstance(value, dict):
            value[rng.choice(["extra", "id", "frame", "box", "width"])] = copy.deepcopy(rng.choice(NASTY))
    return document


def _serialise(document, rng: random.Random) -> bytes:
    """The document as JSON bytes, sometimes damaged: truncated, a byte changed, or invalid UTF-8 inserted."""
    data = json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    damage = rng.random()
    if damage < 0.1:
        return data[: rng.randrange(len(data))]
    if damage < 0.2:
        at = rng.randrange(len(data))
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    if damage < 0.25:
        at = rng.randrange(len(data))
        return data[:at] + b"\xff\xfe" + data[at:]
    return data


def _one_line_or_success(capfd, argv, seed) -> int:
    code, lines = run_vmat(capfd, argv)
    command = argv[1] if argv[0] == "-q" else argv[0]
    assert code == 0 or (code == 2 and len(lines) == 1 and lines[0].startswith(f"vmat {command}: error: ")), (seed, code, lines)
    assert code != 0 or lines == [], (seed, lines)
    return code


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    clip = smooth_clip(folder / "clip.mp4", seed=1)
    ids = np.zeros((32, 48), np.uint8)
    ids[8:24, 10:30] = 2
    write_id_mask(folder / "ids.png", ids)
    return folder, clip


PROMPT = {
    "prompts": [
        {"frame": 0, "id_mask": "ids.png"},
        {
            "frame": 0,
            "instances": [
                {"id": 1, "box": [30, 4, 46, 28]},
                {
                    "id": 3,
                    "clicks": [[5, 5, True], [20, 20, False]],
                    "scribbles": [{"points": [[4, 4], [8, 9]], "positive": True, "width": 3}],
                },
            ],
        },
        {"frame": 2, "instances": [{"id": 1, "box": [28, 4, 46, 28]}]},
    ]
}


def test_prompt_files(capfd, scene):
    folder, clip = scene
    outcomes = []
    for seed in range(CASES):
        rng = random.Random(seed)
        prompt = folder / f"prompt{seed}.json"
        prompt.write_bytes(_serialise(_mutate(PROMPT, rng), rng))
        out = folder / f"masks{seed}"
        code = _one_line_or_success(capfd, ["-q", "masks", str(clip), "--prompt", str(prompt), "-o", str(out)], seed)
        assert out.is_dir() == (code == 0), seed
        outcomes.append(code)
    # The mutations reach both sides: files vmat refuses and damaged-looking files it can still use.
    assert 0 in outcomes and 2 in outcomes


def test_layers_headers(capfd, scene):
    folder, clip = scene
    layers = layers_of(clip, folder / "header.vlayers")
    header = json.loads((layers / "header.json").read_text())
    outcomes = []
    for seed in range(CASES):
        rng = random.Random(seed)
        (layers / "header.json").write_bytes(_serialise(_mutate(header, rng), rng))
        out = folder / f"header{seed}.mp4"
        argv = [
            "-q", "replace-bg", str(clip), "--layers", str(layers), "--background", "#00ff00", "--no-completion",
            "-o", str(out),
        ]
        code = _one_line_or_success(capfd, argv, seed)
        assert out.exists() == (code == 0), seed
        outcomes.append(code)
    assert 0 in outcomes and 2 in outcomes


def _pack_raw(arrays: dict[str, np.ndarray]) -> bytes:
    """A frame file of exactly these arrays (pack_frame would refuse some of the damaged ones)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return zstandard.ZstdCompressor().compress(buffer.getvalue())


def _mutate_arrays(arrays: dict[str, np.ndarray], rng: random.Random) -> dict[str, np.ndarray]:
    """A frame's arrays with one damaged: a value changed, a dtype or shape changed, or an array dropped."""
    arrays = {name: array.copy() for name, array in arrays.items()}
    name = rng.choice(sorted(arrays))
    array = arrays[name]
    action = rng.choice(["value", "value", "dtype", "shape", "drop"])
    if action == "value" and array.size:
        flat = array.reshape(-1)
        info = np.iinfo(array.dtype) if array.dtype.kind in "iu" else None
        choices = [info.min, info.max, -1, 0, 1, 1000] if info is not None else [np.nan, -np.inf, np.inf, 0.0]
        flat[rng.randrange(flat.size)] = np.array(rng.choice(choices)).astype(array.dtype)
    elif action == "dtype":
        with np.errstate(invalid="ignore"):  # inf depth cast to an integer type
            arrays[name] = array.astype(rng.choice([np.float64, np.int8, np.uint16, np.int64]))
    elif action == "shape":
        arrays[name] = array.reshape(-1)[: max(0, array.size - rng.randint(0, 3))]
    else:
        del arrays[name]
    return arrays


def test_layers_frames(capfd, scene):
    folder, clip = scene
    layers = layers_of(clip, folder / "frames.vlayers")
    frame = layers / "frames" / "00000001.vlf"
    original = unpack_frame(frame.read_bytes())
    outcomes = []
    for seed in range(CASES // 2):
        rng = random.Random(seed)
        frame.write_bytes(_pack_raw(_mutate_arrays(original, rng)))
        out = folder / f"frame{seed}.mp4"
        argv = [
            "-q", "replace-bg", str(clip), "--layers", str(layers), "--background", "#00ff00", "--no-completion",
            "-o", str(out),
        ]
        outcomes.append(_one_line_or_success(capfd, argv, seed))
    assert 0 in outcomes and 2 in outcomes
