"""Inputs that asked for unbounded memory, wrong data that was accepted silently, and inputs that ended in a
traceback: each now gets exit status 2 and one line on stderr, before anything large is allocated.

Cases that could allocate gigabytes on a vmat without the limits run in a child process with a capped
address space, and their peak memory is checked too.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import zstandard
from numpy.lib import format as npy
from safetensors import safe_open
from safetensors.torch import save_file

from tests.cli.bad_inputs import edit_header, fails_cleanly, layers_of, run_measured, run_vmat, smooth_clip
from vmat.cli.main import main
from vmat.io import VideoWriter, probe
from vmat.layers.store import pack_frame, unpack_frame
from vmat.temporal.build import shipped_temporal_checkpoint

# A vmat that refuses the input before allocating stays near its import size (about 400 MB with torch).
PEAK_MB = 1024


@pytest.fixture()
def clip(tmp_path):
    return smooth_clip(tmp_path / "clip.mp4", seed=1)


@pytest.fixture()
def layers(clip, tmp_path):
    return layers_of(clip, tmp_path / "clip.vlayers")


def _edit(clip, layers, out, *extra):
    return [
        "replace-bg", str(clip), "--layers", str(layers), "--background", "#00ff00", "--no-completion", "-o",
        str(out), *extra,
    ]


# -- sizes from a flag or a file, checked before allocation (issue 18, item 4) -------------------------


def _zstd_bomb(size: int) -> bytes:
    """A valid zstd frame that declares ``size`` bytes and inflates to them: 128 KiB run-length blocks of zeros."""
    frame = [struct.pack("<IBBI", 0xFD2FB528, 0x80, 0x38, size)]  # 4-byte content size, 128 KiB window
    remaining = size
    while remaining:
        block = min(1 << 17, remaining)
        remaining -= block
        frame.append(((block << 3) | (1 << 1) | (remaining == 0)).to_bytes(3, "little") + b"\0")
    return b"".join(frame)


def _checkpoint(path, format: str, config: dict) -> str:
    save_file({}, str(path), metadata={"format": format, "version": "1", "config": json.dumps(config)})
    return str(path)


def _with_config(source, path, **changes) -> str:
    """A copy of a checkpoint with some of its config's values changed (its weights kept, so they load)."""
    with safe_open(str(source), framework="pt") as handle:
        metadata = handle.metadata()
        state = {name: handle.get_tensor(name) for name in handle.keys()}
    config = json.loads(metadata["config"]) | changes
    save_file(state, str(path), metadata=metadata | {"config": json.dumps(config)})
    return str(path)


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    """The inputs that asked for gigabytes, run in one child process with capped memory (see run_measured)."""
    folder = tmp_path_factory.mktemp("bounded")
    clip = smooth_clip(folder / "clip.mp4", seed=1)

    def layers(name: str) -> Path:
        return layers_of(clip, folder / f"input-{name}.vlayers")

    huge_header = layers("huge")
    edit_header(huge_header, lambda header: header | {"width": 60000, "height": 60000})
    many_pixels = layers("pixels")
    edit_header(many_pixels, lambda header: header | {"width": 16000, "height": 16000})
    bomb = layers("bomb")
    (bomb / "frames" / "00000000.vlf").write_bytes(_zstd_bomb(3 << 30))
    channels = _checkpoint(folder / "input-channels.safetensors", "vmat-mpmat", {"encoder_channels": [1_000_000, 1_000_000]})
    cases = {
        "blur": ["replace-bg", str(clip), "--layers", str(layers("blur")), "--background", "blur:1e9", "-o", "blur.mp4"],
        "header": _edit(clip, huge_header, "header.mp4"),
        "pixels": _edit(clip, many_pixels, "pixels.mp4"),
        "bomb": _edit(clip, bomb, "bomb.mp4"),
        "channels": ["run", str(clip), "-o", "channels", "--decomposer", "mpmat", "--decomposer-checkpoint", channels],
    }
    return folder, run_measured(cases, folder)


def _refused_small(bounded, case: str, expected: str) -> None:
    folder, results = bounded
    status, lines, peak = results[case]
    assert peak < PEAK_MB, f"peak memory {peak:.0f} MB"
    assert status == 2 and len(lines) == 1 and expected in lines[0], (status, lines)
    assert not [path for path in folder.iterdir() if path.name.startswith(case)], "an output was left behind"


def test_a_huge_blur_sigma_is_refused_before_allocating(bounded):
    _refused_small(bounded, "blur", "positive sigma of at most 2048")


def test_a_layers_header_claiming_60000x60000_is_refused(bounded):
    _refused_small(bounded, "header", "not a whole number from 0 to 16384")


def test_a_layers_header_over_the_pixel_limit_is_refused(bounded):
    _refused_small(bounded, "pixels", "more than the 33177600 pixels vmat reads")


def test_a_layers_frame_inflating_to_3_gib_is_refused_before_decompressing(bounded):
    _refused_small(bounded, "bomb", "inflates to 3221225472 bytes")


def test_a_decomposer_config_with_a_million_channels_is_refused(bounded):
    _refused_small(bounded, "channels", "more than the 250,000,000 vmat builds")


def test_a_temporal_config_with_a_huge_band_is_refused(capfd, tmp_path, clip):
    # Its max-pool over 2e9 + 1 pixels never ends once the refiner has an uncertain pixel to grow.
    band = _with_config(shipped_temporal_checkpoint(), tmp_path / "band.safetensors", band=1_000_000_000)
    argv = ["run", str(clip), "-o", str(tmp_path / "out"), "--temporal", "refiner", "--temporal-checkpoint", band]
    fails_cleanly(capfd, argv, "band is at most 64 px")


def test_an_infinite_blur_sigma_is_refused(capfd, tmp_path, clip, layers):
    argv = ["replace-bg", str(clip), "--layers", str(layers), "--background", "blur:inf", "-o", str(tmp_path / "o.mp4")]
    fails_cleanly(capfd, argv, "positive sigma of at most 2048")


def test_a_blur_wider_than_the_frame_works(capfd, tmp_path, clip, layers):
    argv = [
        "-q", "replace-bg", str(clip), "--layers", str(layers), "--background", "blur:500", "--no-completion", "-o",
        str(tmp_path / "o.mp4"),
    ]
    assert run_vmat(capfd, argv) == (0, [])
    assert probe(tmp_path / "o.mp4").num_frames == 4


def test_a_layers_array_claiming_a_terabyte_is_refused(capfd, tmp_path, clip, layers):
    # numpy allocates the shape an .npy header declares before reading the data that should follow it.
    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as files:
        files.writestr("depth.npy", header.getvalue() + bytes(8))
    (layers / "frames" / "00000000.vlf").write_bytes(zstandard.ZstdCompressor().compress(archive.getvalue()))
    fails_cleanly(capfd, _edit(clip, layers, tmp_path / "o.mp4"), "claims [1000000000000] float32 in")


# -- wrong data that was accepted silently (item 7) ----------------------------------------------------


def test_layers_from_another_clip_with_as_many_frames_are_refused(capfd, tmp_path, layers):
    other = smooth_clip(tmp_path / "other.mp4", seed=2)
    fails_cleanly(capfd, _edit(other, layers, tmp_path / "o.mp4"), "was made from another clip than")
    assert not (tmp_path / "o.mp4").exists()


def test_layers_are_accepted_with_their_own_clip(capfd, tmp_path, clip, layers):
    assert run_vmat(capfd, ["-q", *_edit(clip, layers, tmp_path / "o.mp4")]) == (0, [])


def _image_folder(folder, damage) -> None:
    folder.mkdir()
    rng = np.random.default_rng(3)
    for index in range(5):
        cv2.imwrite(str(folder / f"{index}.jpg"), cv2.resize(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8), (48, 32)))
    damage(folder / "2.jpg")


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _corrupt(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 40] = bytes(40)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _corrupt])
def test_a_damaged_jpeg_in_an_image_folder_is_an_error(capfd, tmp_path, damage):
    _image_folder(tmp_path / "frames", damage)
    fails_cleanly(
        capfd, ["convert", str(tmp_path / "frames"), "-o", str(tmp_path / "o.mp4")], "2.jpg is damaged or cannot be decoded"
    )
    fails_cleanly(capfd, ["masks", str(tmp_path / "frames"), "-o", str(tmp_path / "m")], "2.jpg is damaged or cannot be decoded")


def test_salvage_skips_a_damaged_image(capfd, tmp_path):
    _image_folder(tmp_path / "frames", _truncate)
    assert main(["convert", "--salvage", str(tmp_path / "frames"), "-o", str(tmp_path / "o.mp4")]) == 0
    captured = capfd.readouterr()
    assert captured.err == "" and "1 image(s) skipped (2.jpg is damaged or cannot be decoded)" in captured.out
    assert probe(tmp_path / "o.mp4").num_frames == 4


def test_a_corrupt_png_in_an_image_folder_is_one_line(capfd, tmp_path):
    # libpng printed its own line ("IDAT: incorrect data check") before vmat's.
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for index in range(3):
        cv2.imwrite(str(folder / f"{index}.png"), rng.integers(0, 256, (32, 48, 3), dtype=np.uint8))
    data = bytearray((folder / "1.png").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "1.png").write_bytes(bytes(data))
    fails_cleanly(capfd, ["convert", str(folder), "-o", str(tmp_path / "o.mp4")], "1.png is damaged or cannot be decoded")


# -- inputs that ended in tracebacks (item 8) ----------------------------------------------------------

PROMPT_CASES = {
    "binary": (bytes(range(256)) * 4, "is not UTF-8 text"),
    "100k deep": ('{"prompts": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests its JSON too deeply"),
    "frame null": (
        {"prompts": [{"frame": None, "instances": [{"id": 1, "box": [1, 1, 20, 20]}]}]},
        "'frame' is a whole number of at least 0, not null",
    ),
    "frame abc": (
        {"prompts": [{"frame": "abc", "instances": [{"id": 1, "box": [1, 1, 20, 20]}]}]},
        "'frame' is a whole number of at least 0, not \"abc\"",
    ),
    "prompts 5": ({"prompts": 5}, 'needs {"prompts": [...]}'),
    "id 70000": (
        {"prompts": [{"frame": 0, "instances": [{"id": 70000, "box": [1, 1, 20, 20]}]}]},
        "'id' is a whole number from 1 to 65535",
    ),
    "click at 1e11": (
        {"prompts": [{"frame": 0, "instances": [{"id": 1, "clicks": [[1e11, 5]]}]}]},
        "click 1 [x, y] or [x, y, true|false] needs 2 pixel coordinates",
    ),
    "scribble 1e9 wide": (
        {
            "prompts": [
                {"frame": 0, "instances": [{"id": 1, "scribbles": [{"points": [[5, 5], [9, 9]], "width": 1_000_000_000}]}]}
            ]
        },
        "'width' is a whole number from 1 to 1024",
    ),
    "instance not an object": ({"prompts": [{"frame": 0, "instances": [7]}]}, "instance 1 is 7, not an object"),
    "id mask not a name": ({"prompts": [{"frame": 0, "id_mask": 5}]}, "'id_mask' is the name of a PNG file, not 5"),
    # wrong data that was ignored: a click off the frame, a prompt past the clip's end
    "click off the frame": (
        {"prompts": [{"frame": 0, "instances": [{"id": 1, "clicks": [[400, 5]]}]}]},
        "click (400, 5) lies outside the 48x32 frame",
    ),
    "prompt past the end": (
        {
            "prompts": [
                {"frame": 0, "instances": [{"id": 1, "box": [10, 8, 30, 24]}]},
                {"frame": 99, "instances": [{"id": 1, "box": [10, 8, 30, 24]}]},
            ]
        },
        "a prompt is on frame 99, but the clip ends at frame 3",
    ),
}


@pytest.mark.parametrize("name", PROMPT_CASES)
def test_bad_prompt_files(capfd, tmp_path, clip, name):
    content, expected = PROMPT_CASES[name]
    prompt = tmp_path / "prompt.json"
    if isinstance(content, bytes):
        prompt.write_bytes(content)
    else:
        prompt.write_text(content if isinstance(content, str) else json.dumps(content))
    fails_cleanly(capfd, ["masks", str(clip), "--prompt", str(prompt), "-o", str(tmp_path / "masks")], expected)
    assert not (tmp_path / "masks").exists()


@pytest.mark.parametrize(
    "header, expected",
    [
        ("[1, 2]", "is not a vmat layers file"),
        (b'{"format": "vmat-layers", "version": 2, "width": "\xff\xfe"}', "is not UTF-8 text"),
        (None, "has nothing as 'width'"),  # the real header without its width
        (
            '{"format": "vmat-layers", "version": 2, "width": 48, "height": 32, "num_frames": 4}',
            "as 'times', not a list of 4 times",
        ),
    ],
)
def test_bad_layers_headers(capfd, tmp_path, clip, layers, header, expected):
    if header is None:
        edit_header(layers, lambda h: {k: v for k, v in h.items() if k != "width"})
    elif isinstance(header, bytes):
        (layers / "header.json").write_bytes(header)
    else:
        (layers / "header.json").write_text(header)
    fails_cleanly(capfd, _edit(clip, layers, tmp_path / "o.mp4"), expected)


def test_a_layers_box_out_of_range(capfd, tmp_path, clip, layers):
    frame = layers / "frames" / "00000000.vlf"
    arrays = unpack_frame(frame.read_bytes())
    arrays["boxes"][1] = (10, 8, 4000, 24)
    frame.write_bytes(pack_frame(arrays))
    fails_cleanly(capfd, _edit(clip, layers, tmp_path / "o.mp4"), "plane 1's box [10, 8, 4000, 24] is not inside the 48x32 frame")


def _tiny_clip(path, width: int, height: int):
    with VideoWriter(path, fps=10, format="prores4444") as writer:  # ProRes keeps odd sizes, down to 1x1
        for value in (10, 90, 170):
            writer.write(np.full((height, width, 3), value, np.uint8))
    return path


@pytest.mark.parametrize("command", ["masks", "run"])
def test_a_1x1_video(capfd, tmp_path, command):
    tiny = _tiny_clip(tmp_path / "tiny.mov", 1, 1)
    out = ["-o", str(tmp_path / "m")] if command == "masks" else ["-o", str(tmp_path / "out")]
    fails_cleanly(capfd, [command, str(tiny), *out], "is 1x1: people are tracked in frames of at least 12x12 pixels")


def test_the_smallest_tracked_frame_works(capfd, tmp_path):
    tiny = _tiny_clip(tmp_path / "tiny.mov", 12, 12)
    code, lines = run_vmat(capfd, ["-q", "masks", str(tiny), "-o", str(tmp_path / "m")])
    # Nobody in a grey 12x12 clip: the masks are written (all empty) and one warning says so.
    assert code == 0 and len(lines) == 1 and lines[0].startswith("vmat masks: warning: the person detector found nobody")
    assert len(list((tmp_path / "m").glob("*.png"))) == 3


def test_drag_by_nan_and_infinity(capfd, tmp_path, clip, layers):
    argv = [
        "drag", str(clip), "--layers", str(layers), "--drag", "1", "--angle", "nan", "--by=nan,inf", "-o",
        str(tmp_path / "o.mp4"),
    ]
    fails_cleanly(capfd, argv, "must be a finite number")
