"""The pipelined runner: stages split across two processes give the same records, errors and endings as one."""

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import closing
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from vmat.errors import ConfigError
from vmat.io import VideoWriter, open_video
from vmat.layers import LayersReader
from vmat.pipeline import Stage, run_stages
from vmat.pipeline.clock import StageClock
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.pipelined import PipelinedRunner, SecondProcessError, core_to_spare, split_point
from vmat.pipeline.run import RunConfig, run_clip
from vmat.pipeline.stage import chained, stage_names
from vmat.pipeline.stages import CameraStage, DepthStage, PropagationStage
from vmat.propagation import mask_path, read_id_mask, write_id_mask
from vmat.synthetic.scene import SceneConfig, SyntheticScene

from tests.pipeline.test_stage import INFO, _records


# Stages the child builds from these module-level factories (the child imports this module to unpickle them).
class Scale(Stage):
    name = "scale"

    def __init__(self, by):
        self.by = by

    def process(self, batch):
        for record in batch:
            record.output = record.frame.image.astype(np.int64) * self.by
            record.masks = np.full((2, 2), len(batch), np.uint16)  # the batch's size: batches must match
        return batch


class TorchWork(Stage):
    """Runs torch on the records' frames (a matrix product big enough for several threads)."""

    name = "torch-work"

    def process(self, batch):
        matrix = torch.rand(600, 600)
        for record in batch:
            record.output = record.frame.image.astype(np.int64) + int((matrix @ matrix).sum() > 0)
        return batch


class Hold(Stage):
    """Holds frames back until ``release`` (at the clip's end otherwise), like the masks' backward window."""

    name = "hold"
    ordered = True

    def __init__(self, release=None):
        self.release = release

    def start_clip(self, info):
        self.held = []

    def process(self, batch):
        self.held.extend(batch)
        if self.release is not None and self.held[-1].index >= self.release:
            ready, self.held = self.held, []
            return ready
        return []

    def finish_clip(self):
        return self.held


class Fail(Stage):
    name = "fail"

    def __init__(self, at, how):
        self.at, self.how = at, how

    def process(self, batch):
        if any(record.index == self.at for record in batch):
            if self.how == "config":
                raise ConfigError(f"frame {self.at} is not welcome")
            if self.how == "bug":
                raise ValueError("a bug in a stage")
            os.kill(os.getpid(), signal.SIGKILL)
        return batch


def _indices_and_outputs(records):
    return [(r.index, r.output.tolist(), r.masks.tolist()) for r in records]


@pytest.mark.parametrize(("split", "other_thread"), [("hold", False), ("scale", False), ("scale", True)])
def test_records_come_back_in_order_with_the_same_contents_and_batches(split, other_thread):
    factories = [partial(Hold, 11), partial(Scale, 3), partial(chained, partial(Hold), partial(Scale, 2))]
    expected = _indices_and_outputs(run_stages(_records(20), [f() for f in factories], INFO, 3))
    clock = StageClock()
    # With another thread running, the second process is spawned instead of forked.
    done = threading.Event()
    waiting = threading.Thread(target=done.wait)
    if other_thread:
        waiting.start()
    try:
        got = _indices_and_outputs(PipelinedRunner(split).run(_records(20), factories, INFO, 3, clock))
    finally:
        done.set()
    assert got == expected
    assert [index for index, _, _ in got] == list(range(20))
    # The child's stage times come back with the records.
    assert {"hold", "scale", "wait", "idle"} <= set(clock.seconds)


@pytest.mark.parametrize(
    ("how", "error", "message"), [("config", ConfigError, "frame 5 is not welcome"), ("bug", ValueError, "a bug")]
)
def test_an_error_in_the_second_process_is_raised_here_as_itself(how, error, message):
    factories = [partial(Fail, 5, how), partial(Scale, 1)]
    with pytest.raises(error, match=message) as raised:
        list(PipelinedRunner("fail").run(_records(20), factories, INFO, 2))
    if how == "bug":  # a bug keeps the child's traceback
        assert any("second process" in note and "raise ValueError" in note for note in raised.value.__notes__)
    assert not _children()


def test_an_error_that_ends_the_second_process_while_batches_are_being_sent_is_raised_as_itself():
    # Many batches on their way (ahead=50), slowly: the child fails on the first and exits while they are sent.
    factories = [partial(Fail, 0, "config"), partial(Scale, 1)]
    slowly = (time.sleep(0.01) or record for record in _records(200))
    with pytest.raises(ConfigError, match="not welcome"):
        list(PipelinedRunner("fail", ahead=50).run(slowly, factories, INFO, 2))
    assert not _children()


def test_a_second_process_that_dies_ends_the_run_with_an_error_instead_of_hanging():
    factories = [partial(Fail, 5, "kill"), partial(Scale, 1)]
    with pytest.raises(SecondProcessError, match="SIGKILL"):
        list(PipelinedRunner("fail").run(_records(20), factories, INFO, 2))
    assert not _children()


def test_stopping_early_stops_the_second_process():
    stream = PipelinedRunner("scale").run(_records(20), [partial(Scale, 1), partial(Scale, 2)], INFO, 2)
    with closing(stream):
        assert next(stream).index == 0
        assert _children()
    assert not _children()


_AFTER_IDLE_OPENCV = """
import time
from functools import partial

import cv2
import numpy as np

from tests.pipeline.test_pipelined import Scale
from tests.pipeline.test_stage import INFO, _records
from vmat.pipeline.pipelined import PipelinedRunner

cv2.setNumThreads(2)
picture = np.random.default_rng(0).random((2000, 2000)).astype(np.float32)
for _ in range(3):
    cv2.GaussianBlur(picture, (0, 0), 5)
time.sleep(2.0)  # OpenCV's workers stop spinning and wait on their condition variable
records = PipelinedRunner("scale", threads=1).run(_records(6), [partial(Scale, 2), partial(Scale, 1)], INFO, 3)
print(len(list(records)), cv2.getNumThreads())
"""


def _in_a_process_of_its_own(script: str) -> list[str]:
    """The words ``script`` prints, run by a fresh interpreter in the repository: a hang must not hang the suite."""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_forked_second_process_starts_after_opencv_ran_on_several_threads():
    """The child sets OpenCV's thread count; inheriting the pool of idle workers of this process, that waited
    forever for workers the fork did not copy."""
    assert _in_a_process_of_its_own(_AFTER_IDLE_OPENCV) == ["6", "2"]  # every record; our thread count as it was


_AFTER_TORCH_ON_TWO_THREADS = """
import time
from functools import partial

import torch

from tests.pipeline.test_pipelined import Scale, TorchWork
from tests.pipeline.test_stage import INFO, _records
from vmat.pipeline.pipelined import PipelinedRunner

torch.set_num_threads(2)
matrix = torch.rand(1500, 1500)
for _ in range(5):
    (matrix @ matrix).sum()
time.sleep(2.0)  # torch's OpenMP workers go idle
records = PipelinedRunner("torch-work", threads=2).run(_records(6), [TorchWork, partial(Scale, 1)], INFO, 3)
print(len(list(records)))
"""


def test_a_second_process_on_several_threads_starts_after_torch_ran_on_several_threads():
    """Forked, a child running torch on two threads hung at its first matrix product once this process had run
    torch's OpenMP workers: it is spawned instead."""
    assert _in_a_process_of_its_own(_AFTER_TORCH_ON_TWO_THREADS) == ["6"]


def _children():
    return [child for child in multiprocessing.active_children() if child.name == "vmat-stages"]


def test_the_split_balances_the_measured_stage_costs():
    names = [["masks"], ["depth"], ["decompose"], ["camera", "temporal"]]
    costs = {"masks": 100.0, "depth": 20.0, "decompose": 80.0, "camera": 15.0, "temporal": 35.0, "render": 40.0}
    no_handoff = partial(split_point, costs=costs, handoff={"frame": 0.0, "layers": 0.0})
    assert no_handoff(names, ["render"]) == 2  # 120 | 170 beats 100 | 190 and 200 | 90
    assert no_handoff(names, ["render"], costs=costs | {"masks": 40.0}) == 3  # cheaper masks: 140 | 90
    assert no_handoff(names, ["render", "completion"], costs=costs | {"completion": 900.0}) == 4  # everything there
    # Moving layers between the processes costs: with a dear handoff the split stays before the layers exist.
    assert split_point(names, ["render"], costs=costs | {"masks": 40.0}, handoff={"frame": 0.0, "layers": 60.0}) == 2


def test_a_named_split_must_be_a_stage_of_the_run():
    factories = [partial(PropagationStage, None), DepthStage.build, partial(chained, CameraStage, partial(Scale, 1))]
    assert [stage_names(f) for f in factories] == [["masks"], ["depth"], ["camera", "scale"]]
    assert PipelinedRunner("depth").split_of(factories) == 2
    with pytest.raises(ConfigError, match="'decompose' is not one of this run's stages: masks, depth, camera, scale"):
        PipelinedRunner("decompose").split_of(factories)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 10-frame, 2-person scene and its first frame's id mask (the prompt)."""
    folder = tmp_path_factory.mktemp("clip")
    scene = SyntheticScene(SceneConfig(level="easy", width=128, height=80, num_frames=10, fps=12.0, seed=5, num_people=2))
    with VideoWriter(folder / "clip.mp4", fps=12, lossless=True) as writer:
        for frame in scene.frames():
            writer.write(frame.image)
            if frame.index == 0:
                write_id_mask(folder / "prompt.png", frame.id_map)
    return folder / "clip.mp4", folder / "prompt.png", scene.instance_ids


@pytest.mark.parametrize(
    ("edit", "process_size", "splits"),
    [("remove", None, [None, "masks", "temporal"]), ("background", 96, [None, "decompose"])],
)
def test_a_pipelined_run_writes_exactly_what_one_process_writes(tmp_path, clip, edit, process_size, splits):
    source, prompt, ids = clip
    edits = EditSpec(remove=(ids[0],)) if edit == "remove" else EditSpec(background="#2040c0")
    base = RunConfig(
        prompt=str(prompt), process_size=process_size, edit=edits, write_masks=True, write_layers=True, crf=0, pipelining=False
    )
    outputs = {}
    for split in ["one process", *splits]:
        config = base if split == "one process" else RunConfig(**{**base.__dict__, "pipelining": True, "pipeline_split": split})
        summary = run_clip(source, tmp_path / str(split), config)
        outputs[split] = _outputs(tmp_path / str(split))
        assert summary.frames == 10 and {"masks", "decompose", "temporal"} <= set(summary.stage_seconds)
    masks, layers, video = outputs.pop("one process")
    for split, (other_masks, other_layers, other_video) in outputs.items():
        assert len(other_masks) == len(masks) == 10 and all(map(np.array_equal, masks, other_masks)), split
        assert len(other_layers) == 10 and all(_same_stack(a, b) for a, b in zip(layers, other_layers)), split
        assert len(other_video) == 10 and all(map(np.array_equal, video, other_video)), split


def _outputs(folder):
    masks = [read_id_mask(mask_path(folder / "clip.masks", index)) for index in range(10)]
    layers = list(LayersReader(folder / "clip.vlayers"))
    with open_video(folder / "clip.vmat.mp4") as reader:
        video = [frame.image for frame in reader]
    return masks, layers, video


def _same_stack(a, b):
    return a.ids == b.ids and all(bool((getattr(a, part) == getattr(b, part)).all()) for part in ("colour", "alpha", "depth"))


@pytest.mark.parametrize(("cpus", "load", "spare"), [(2, 0.3, True), (2, 1.5, False), (1, 0.0, False), (16, 9.0, True)])
def test_pipelining_is_on_by_default_only_with_a_core_to_spare(monkeypatch, cpus, load, spare):
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert core_to_spare() is spare
