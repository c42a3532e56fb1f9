"""Alpha must survive every alpha output format and come back through vmat's reader."""

import numpy as np
import pytest

from vmat.io import VideoWriter, open_video, probe


def _rgba_frames(count=4, height=37, width=45):
    """Mattes like real ones: a soft-edged disc (every level from 0 to 255) over a textured colour."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(0)
    frames = []
    for index in range(count):
        distance = np.hypot(x - width / 2 - index, y - height / 2)
        alpha = np.clip((14 - distance) / 8, 0, 1)
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        frames.append(np.dstack([rgb, np.round(alpha * 255).astype(np.uint8)]))
    return frames


def _round_trip(path, frames, **options):
    with VideoWriter(path, **options) as writer:
        for frame in frames:
            writer.write(frame if options.get("format") != "matte" else frame[..., 3])
    height, width = frames[0].shape[:2]
    with open_video(path, alpha=True) as reader:
        decoded = [f.image[:height, :width] for f in reader]  # 4:2:0 formats pad odd sizes by a row/column
    assert len(decoded) == len(frames)
    return decoded


def _alpha_error(decoded, frames, channel=3):
    return max(np.abs(d[..., channel].astype(int) - f[..., 3].astype(int)).max() for d, f in zip(decoded, frames, strict=True))


def test_prores_4444_keeps_alpha(tmp_path):
    frames = _rgba_frames()
    decoded = _round_trip(tmp_path / "a.mov", frames, format="prores4444")
    assert probe(tmp_path / "a.mov").has_alpha
    assert _alpha_error(decoded, frames) <= 1  # 8 -> 16-bit alpha -> 8 bits: rounding only


def test_vp9_webm_keeps_alpha_read_back_with_libvpx(tmp_path):
    frames = _rgba_frames()
    decoded = _round_trip(tmp_path / "lossless.webm", frames, format="vp9-alpha", lossless=True)
    assert probe(tmp_path / "lossless.webm").has_alpha
    assert _alpha_error(decoded, frames) <= 1  # yuva420p alpha is full resolution; RGB->YUV->RGB rounds
    lossy = _round_trip(tmp_path / "lossy.webm", frames, format="vp9-alpha")
    # lossy VP9 at the default crf: small errors, but the matte is clearly there
    assert np.mean([np.abs(d[..., 3].astype(int) - f[..., 3]).mean() for d, f in zip(lossy, frames)]) < 3


def test_png_rgba_sequence_is_exact(tmp_path):
    frames = _rgba_frames()
    decoded = _round_trip(tmp_path / "seq", frames, format="png-rgba")
    assert all(np.array_equal(d, f) for d, f in zip(decoded, frames))


def test_matte_video_is_exact_when_lossless_and_close_by_default(tmp_path):
    frames = _rgba_frames()
    exact = _round_trip(tmp_path / "exact.mp4", frames, format="matte", lossless=True)
    assert _alpha_error(exact, frames, channel=0) == 0
    assert all((d[..., 0] == d[..., 1]).all() and (d[..., 0] == d[..., 2]).all() for d in exact)
    lossy = _round_trip(tmp_path / "lossy.mp4", frames, format="matte")
    assert np.mean([np.abs(d[..., 0].astype(int) - f[..., 3]).mean() for d, f in zip(lossy, frames)]) < 1.5


def test_transcoding_an_alpha_clip_to_a_matte_keeps_the_alpha(tmp_path):
    from vmat.io.transcode import transcode

    frames = _rgba_frames()
    _round_trip(tmp_path / "a.mov", frames, format="prores4444")
    transcode(tmp_path / "a.mov", tmp_path / "matte.mp4", format="matte", lossless=True)
    with open_video(tmp_path / "matte.mp4") as reader:
        mattes = [f.image[:37, :45, 0] for f in reader]
    assert max(np.abs(m.astype(int) - f[..., 3]).max() for m, f in zip(mattes, frames)) <= 1


@pytest.mark.parametrize("fmt, name", [("prores4444", "odd.mov"), ("vp9-alpha", "odd.webm")])
def test_alpha_formats_take_odd_sizes_as_they_are(tmp_path, fmt, name):
    frames = _rgba_frames(count=2, height=17, width=33)
    decoded = _round_trip(tmp_path / name, frames, format=fmt, lossless=fmt == "vp9-alpha")
    assert decoded[0].shape == (17, 33, 4)
