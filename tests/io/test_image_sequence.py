import cv2
import numpy as np
import pytest

from vmat.errors import CorruptMediaError, NoVideoError
from vmat.io import VideoWriter, open_video


def _write(path, image):
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR))


def test_folder_reads_in_natural_order_exactly(tmp_path):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (17, 33, 3), dtype=np.uint8) for _ in range(11)]
    for index, image in enumerate(images):
        _write(tmp_path / f"frame_{index}.png", image)  # frame_10 must come after frame_9
    with open_video(tmp_path, fps=12) as reader:
        assert reader.info.num_frames == 11 and (reader.info.width, reader.info.height) == (33, 17)
        frames = list(reader)
    assert all(np.array_equal(f.image, expected) for f, expected in zip(frames, images, strict=True))
    assert [f.time for f in frames] == pytest.approx([i / 12 for i in range(11)])


def test_rgba_images_keep_alpha(tmp_path):
    image = np.random.default_rng(2).integers(0, 256, (9, 7, 4), dtype=np.uint8)
    _write(tmp_path / "a.png", image)
    with open_video(tmp_path, alpha=True) as reader:
        assert reader.info.has_alpha
        assert np.array_equal(next(iter(reader)).image, image)


def test_empty_folder_is_not_a_video(tmp_path):
    with pytest.raises(NoVideoError, match="no PNG or JPG images"):
        open_video(tmp_path)


def test_a_frame_of_another_size_stops_the_stream_with_its_name(tmp_path):
    _write(tmp_path / "0.png", np.zeros((8, 8, 3), np.uint8))
    _write(tmp_path / "1.png", np.zeros((8, 8, 3), np.uint8))
    _write(tmp_path / "2.png", np.zeros((9, 8, 3), np.uint8))
    with open_video(tmp_path) as reader:
        frames = []
        with pytest.raises(CorruptMediaError, match="2.png is 8x9, not 8x8"):
            for frame in reader:
                frames.append(frame)
    assert len(frames) == 2


def test_png_rgba_writer_round_trips_through_the_folder_reader(tmp_path):
    images = [np.random.default_rng(i).integers(0, 256, (5, 7, 4), dtype=np.uint8) for i in range(3)]
    with VideoWriter(tmp_path / "seq", format="png-rgba") as writer:
        for image in images:
            writer.write(image)
    with open_video(tmp_path / "seq", alpha=True) as reader:
        assert all(np.array_equal(f.image, e) for f, e in zip(reader, images, strict=True))
