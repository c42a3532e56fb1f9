from fractions import Fraction

import av
import numpy as np
import pytest

from vmat.errors import ConfigError
from vmat.io import open_video, probe, write_test_pattern_clip
from vmat.io.decord_reader import decord_available
from vmat.io.test_pattern import pattern_image


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_test_pattern_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", width=96, height=64, num_frames=12, fps=25)


def test_probe_reports_the_stream(clip):
    info = probe(clip)
    assert (info.width, info.height) == (96, 64)
    assert info.num_frames == 12
    assert info.frame_rate == 25
    assert not info.variable_frame_rate
    assert info.duration == pytest.approx(12 / 25)
    assert info.codec == "h264" and info.pixel_format == "yuv420p"
    assert info.colour.matrix == "bt709" and info.colour.range == "tv" and not info.colour.assumed
    assert len(info.audio) == 1 and info.audio[0].codec == "aac" and info.audio[0].sample_rate == 48000
    assert info.damage is None


def test_frames_stream_in_order_with_source_pts(clip):
    with open_video(clip) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == list(range(12))
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in range(12)])
    assert all(f.image.shape == (64, 96, 3) and f.image.dtype == np.uint8 for f in frames)


def test_decoded_colours_match_the_pattern_with_the_bt709_matrix(clip):
    """Decoding with BT.601 instead of the tagged BT.709 shifts saturated colours by far more than x264's loss."""
    with open_video(clip) as reader:
        image = next(iter(reader)).image.astype(int)
    expected = pattern_image(0, 96, 64).astype(int)
    assert np.abs(image - expected).mean() < 3
    with av.open(str(clip)) as container:
        wrong = next(container.decode(video=0)).to_ndarray(format="rgb24", src_colorspace="itu601").astype(int)
    assert np.abs(wrong - expected).mean() > 2 * np.abs(image - expected).mean()


def test_untagged_streams_get_the_matrix_players_assume(tmp_path):
    for (width, height), matrix in (((1280, 720), "bt709"), ((320, 240), "bt601")):
        path = tmp_path / f"untagged_{height}.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
            frame.pts = 0
            container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        colour = probe(path).colour
        assert (colour.matrix, colour.range, colour.assumed) == (matrix, "tv", True)


def test_variable_frame_rate_is_detected_and_its_times_kept(tmp_path):
    path = write_test_pattern_clip(tmp_path / "vfr.mp4", width=64, height=48, num_frames=15, fps=30, variable_frame_rate=True)
    info = probe(path)
    assert info.variable_frame_rate
    with open_video(path) as reader:
        times = [f.pts * f.time_base for f in reader]
    steps = [1 + i % 2 if i % 10 != 9 else 5 for i in range(14)]
    assert times == [Fraction(sum(steps[:i]), 60) for i in range(15)]


def test_rotation_is_applied_so_frames_are_upright(tmp_path):
    path = write_test_pattern_clip(tmp_path / "rotated.mp4", width=96, height=64, num_frames=2, rotation=90)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (64, 96, 90)
    with open_video(path) as reader:
        image = next(iter(reader)).image.astype(int)
    stored = pattern_image(0, 96, 64)
    upright = np.rot90(stored, k=1).astype(int)
    wrong_way = np.rot90(stored, k=-1).astype(int)
    assert np.abs(image - upright).mean() < 3
    assert np.abs(image - wrong_way).mean() > 20


def test_alpha_request_on_an_opaque_clip_gives_opaque_rgba(clip):
    with open_video(clip, alpha=True) as reader:
        image = next(iter(reader)).image
    assert image.shape == (64, 96, 4)
    assert (image[..., 3] == 255).all()


def test_reading_holds_no_more_memory_for_a_longer_clip(tmp_path):
    import tracemalloc

    def peak(num_frames):
        path = write_test_pattern_clip(tmp_path / f"{num_frames}.mp4", width=160, height=120, num_frames=num_frames, audio=False)
        tracemalloc.start()
        with open_video(path) as reader:
            for _ in reader:
                pass
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak_bytes

    short, long = peak(10), peak(200)
    frame_bytes = 160 * 120 * 3
    assert long < short + 4 * frame_bytes


def test_unknown_backend_is_refused(clip):
    with pytest.raises(ConfigError, match="unknown decoding backend"):
        open_video(clip, backend="gstreamer")


@pytest.mark.skipif(not decord_available(), reason="decord is not installed")
def test_decord_backend_yields_the_same_frames_and_times(clip):
    with open_video(clip) as pyav_reader, open_video(clip, backend="decord") as decord_reader:
        pairs = list(zip(pyav_reader, decord_reader, strict=True))
    for ours, theirs in pairs:
        assert theirs.pts * theirs.time_base == ours.pts * ours.time_base
        # decord converts YUV to RGB with its own rounding; the picture must still agree closely.
        assert np.abs(ours.image.astype(int) - theirs.image.astype(int)).mean() < 2


def test_real_clip_metadata(shared_dir):
    info = probe(shared_dir / "data" / "clips" / "woman_dog_static_720p.mp4")
    assert (info.width, info.height, info.num_frames) == (1280, 720, 289)
    assert info.frame_rate == Fraction(30000, 1001)
    assert not info.variable_frame_rate
    assert [a.codec for a in info.audio] == ["aac"]
