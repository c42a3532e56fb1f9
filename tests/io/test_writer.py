from fractions import Fraction

import av
import numpy as np
import pytest

from tests.io.media import audio_packets, packet_times, stream_durations
from vmat.errors import ConfigError, OutputError
from vmat.io import VideoWriter, open_video, probe, write_test_pattern_clip
from vmat.io.transcode import transcode


def _passthrough(source, output, **options):
    return transcode(source, output, **options)


@pytest.mark.parametrize("variable", [False, True], ids=["cfr", "vfr"])
def test_passthrough_keeps_frames_pts_audio_and_durations(tmp_path, variable):
    source = write_test_pattern_clip(
        tmp_path / "in.mp4", width=96, height=64, num_frames=23, fps=30, variable_frame_rate=variable, audio_streams=2
    )
    summary = _passthrough(source, tmp_path / "out.mp4")
    output = tmp_path / "out.mp4"
    assert summary.frames == 23 and summary.audio_streams == 2 and not summary.audio_transcoded
    assert packet_times(output, "video") == packet_times(source, "video")
    assert audio_packets(output) == audio_packets(source)  # same times, same bytes: copied, not re-encoded
    # The source file's own durations were rounded to its 1 ms movie timescale; vmat writes them exactly.
    assert stream_durations(output) == pytest.approx(stream_durations(source), abs=1e-3)
    assert probe(output).variable_frame_rate is variable


def test_a_clip_without_audio_gives_an_output_without_audio(tmp_path):
    source = write_test_pattern_clip(tmp_path / "in.mp4", width=64, height=48, num_frames=5, audio=False)
    summary = _passthrough(source, tmp_path / "out.mp4")
    assert summary.audio_streams == 0
    assert probe(tmp_path / "out.mp4").audio == ()


def test_audio_the_container_cannot_hold_is_reencoded_and_said_so(tmp_path):
    source = write_test_pattern_clip(tmp_path / "in.mp4", width=64, height=48, num_frames=10)
    summary = _passthrough(source, tmp_path / "out.webm")
    assert summary.audio_transcoded == ["aac -> libopus"]
    info = probe(tmp_path / "out.webm")
    assert [a.codec for a in info.audio] == ["opus"]
    assert info.audio[0].duration == pytest.approx(probe(source).audio[0].duration, abs=0.05)


def test_outputs_are_tagged_bt709_limited_range(tmp_path):
    source = write_test_pattern_clip(tmp_path / "in.mp4", width=64, height=48, num_frames=3)
    _passthrough(source, tmp_path / "out.mkv")
    with av.open(str(tmp_path / "out.mkv")) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_range, context.color_primaries, context.color_trc) == (1, 1, 1, 1)


@pytest.mark.parametrize("policy, size", [("pad", (34, 18)), ("crop", (32, 16))])
def test_odd_sizes_are_padded_or_cropped(tmp_path, policy, size):
    image = np.zeros((17, 33, 3), np.uint8)
    image[-1, :] = (200, 40, 40)  # a red last row
    image[:, -1] = (40, 200, 40)  # a green last column
    with VideoWriter(tmp_path / "odd.mp4", odd_size=policy, lossless=True) as writer:
        writer.write(image)
    assert writer.summary.resized.startswith("padded" if policy == "pad" else "cropped")
    with open_video(tmp_path / "odd.mp4") as reader:
        decoded = next(iter(reader)).image.astype(int)
    assert (decoded.shape[1], decoded.shape[0]) == size
    red, green = decoded[-1, 5], decoded[5, -1]
    if policy == "pad":
        # the padding repeats the last row/column, so the added pixels carry its colour, not black
        # (4:2:0 chroma is shared with the neighbouring pixel, hence "mostly red", not exact)
        assert red[0] > 150 and red[1:].max() < 80
        assert green[1] > 150 and green[[0, 2]].max() < 80
    else:
        assert decoded.max() < 60  # the coloured edges were dropped


def test_frames_without_pts_are_numbered_at_fps(tmp_path):
    with VideoWriter(tmp_path / "n.mp4", fps=Fraction(24000, 1001)) as writer:
        for index in range(4):
            writer.write(np.full((16, 16, 3), index * 40, np.uint8))
    assert packet_times(tmp_path / "n.mp4", "video") == [Fraction(1001 * i, 24000) for i in range(4)]
    assert probe(tmp_path / "n.mp4").frame_rate == Fraction(24000, 1001)


def test_writer_refuses_inconsistent_frames(tmp_path):
    with VideoWriter(tmp_path / "x.mp4") as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8), pts=5, time_base=Fraction(1, 30))
        with pytest.raises(ConfigError, match="pts must increase"):
            writer.write(np.zeros((16, 16, 3), np.uint8), pts=5, time_base=Fraction(1, 30))
        with pytest.raises(ConfigError, match="the first was 16x16"):
            writer.write(np.zeros((16, 18, 3), np.uint8), pts=6, time_base=Fraction(1, 30))
        with pytest.raises(ConfigError, match="uint8"):
            writer.write(np.zeros((16, 16, 3), np.float32), pts=6, time_base=Fraction(1, 30))


def test_nothing_appears_until_close_and_nothing_stays_after_an_error(tmp_path):
    target = tmp_path / "out.mp4"
    writer = VideoWriter(target)
    writer.write(np.zeros((16, 16, 3), np.uint8))
    assert not target.exists()
    writer.close()
    assert target.exists()
    target.unlink()
    with pytest.raises(RuntimeError):
        with VideoWriter(target) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))
            raise RuntimeError("the pipeline failed mid-clip")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_replaced_only_when_the_new_one_is_complete(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        with VideoWriter(target) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))
            raise RuntimeError
    assert target.read_bytes() == b"previous result"


def test_a_writer_given_no_frames_creates_nothing(tmp_path):
    with pytest.raises(OutputError, match="no frames were written"):
        with VideoWriter(tmp_path / "empty.mp4"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_output_folder_problems_are_found_before_any_work(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        VideoWriter(tmp_path / "missing" / "out.mp4")
    with pytest.raises(ConfigError, match="written as .webm"):
        VideoWriter(tmp_path / "out.mp4", format="vp9-alpha")
    with pytest.raises(ConfigError, match="cannot tell the output format"):
        VideoWriter(tmp_path / "out.avi")


def test_real_720p_clip_passes_through_with_frames_pts_audio_and_duration(tmp_path, shared_dir):
    source = shared_dir / "data" / "clips" / "woman_dog_static_720p.mp4"
    summary = transcode(source, tmp_path / "out.mp4", preset="ultrafast")
    output = tmp_path / "out.mp4"
    assert summary.frames == 289 and (summary.width, summary.height) == (1280, 720)
    assert packet_times(output, "video") == packet_times(source, "video")
    assert audio_packets(output) == audio_packets(source)
    assert stream_durations(output) == stream_durations(source)
