"""Reading part of a clip (open_video(..., start=, end=)) and writing it with the matching audio."""

import os
import time

import av
import numpy as np
import pytest

from vmat.errors import ConfigError
from vmat.io import VideoWriter, open_video, probe, write_test_pattern_clip
from vmat.io.image_sequence import frame_file_name


@pytest.fixture(scope="module", params=[False, True], ids=["cfr", "vfr"])
def clip(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("range")
    return write_test_pattern_clip(
        folder / "clip.mp4", width=96, height=64, num_frames=30, fps=25, variable_frame_rate=request.param
    )


def _frames(path, **options):
    with open_video(path, **options) as reader:
        return reader.info, list(reader)


def test_a_range_gives_exactly_those_frames_with_their_timing(clip):
    _, whole = _frames(clip)
    info, part = _frames(clip, start=7, end=19)
    assert info.num_frames == 12 == len(part)
    assert [f.index for f in part] == list(range(12))
    for frame, source in zip(part, whole[7:19], strict=True):
        assert np.array_equal(frame.image, source.image)
        assert frame.source_pts == source.pts
        assert frame.duration == source.duration  # the last one's too: the frame after it is decoded for that
    # The part starts where the clip starts, and every interval between its frames is the clip's.
    assert part[0].pts == whole[0].pts
    assert [b.pts - a.pts for a, b in zip(part, part[1:])] == [b.pts - a.pts for a, b in zip(whole[7:19], whole[8:19])]


def test_a_range_to_the_end_and_one_past_it_read_to_the_last_frame(clip):
    _, whole = _frames(clip)
    for end in (None, 30, 1000):
        info, part = _frames(clip, start=25, end=end)
        assert info.num_frames == 5
        assert [f.source_pts for f in part] == [f.pts for f in whole[25:]]
        assert part[-1].duration == whole[-1].duration


@pytest.mark.parametrize(
    "start, end, words",
    [(30, None, "the clip has 30 frames (0 to 29)"), (5, 5, "is empty"), (9, 3, "is empty"), (-1, None, "start at 0")],
)
def test_a_range_holding_no_frame_is_refused_at_open(clip, start, end, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        open_video(clip, start=start, end=end)


def test_an_image_folder_reads_a_range_too(tmp_path):
    folder = tmp_path / "frames"
    with VideoWriter(folder, format="png-rgba") as writer:
        for value in range(6):
            writer.write(np.full((8, 10, 3), value * 40, np.uint8))
    assert sorted(name for name in os.listdir(folder) if not name.startswith(".")) == [frame_file_name(i) for i in range(6)]
    info, part = _frames(folder, start=2, end=5)
    assert info.num_frames == 3
    assert [int(f.image[0, 0, 0]) for f in part] == [80, 120, 160]
    assert [f.pts for f in part] == [0, 1, 2] and [f.source_pts for f in part] == [2, 3, 4]


def _audio_packets(path):
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(float(p.pts * p.time_base), bytes(p)) for p in container.demux(stream) if p.size]


def test_writing_a_range_takes_that_stretch_of_audio_moved_back_with_the_video(clip, tmp_path):
    out = tmp_path / "part.mp4"
    with open_video(clip, start=10, end=20) as reader, VideoWriter(out, fps=reader.info.frame_rate, audio_from=clip) as writer:
        frames = list(reader)
        for frame in frames:
            writer.write_frame(frame)
    start = float(frames[0].source_pts * frames[0].time_base)
    shift = start - frames[0].time
    end = frames[-1].time + float(frames[-1].duration * frames[-1].time_base)
    source = _audio_packets(clip)
    expected = [(time - shift, data) for time, data in source if start <= time < end + shift]
    written = _audio_packets(out)
    assert [data for _, data in written] == [data for _, data in expected]  # the same packets, bit for bit
    assert [time for time, _ in written] == pytest.approx([time for time, _ in expected], abs=1e-4)
    assert 0 < len(written) < len(source)
    # The video keeps the part's timing.
    _, again = _frames(out)
    assert [f.time for f in again] == pytest.approx([f.time for f in frames], abs=1e-3)


def test_a_whole_clip_written_again_keeps_all_its_audio(clip, tmp_path):
    out = tmp_path / "whole.mp4"
    with open_video(clip) as reader, VideoWriter(out, fps=reader.info.frame_rate, audio_from=clip) as writer:
        for frame in reader:
            writer.write_frame(frame)
    assert [data for _, data in _audio_packets(out)] == [data for _, data in _audio_packets(clip)]


def test_probe_is_remembered_until_the_file_changes(tmp_path):
    path = write_test_pattern_clip(tmp_path / "a.mp4", width=64, height=48, num_frames=10, audio=False)
    first = probe(path)
    assert probe(str(path)) == first.__class__(**{**first.__dict__, "path": str(path)})
    time.sleep(0.01)
    write_test_pattern_clip(tmp_path / "b.mp4", width=64, height=48, num_frames=14, audio=False).replace(path)
    assert probe(path).num_frames == 14
