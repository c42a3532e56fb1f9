from fractions import Fraction
from functools import partial

import numpy as np

from vmat.io.frame import Frame
from vmat.io.metadata import VideoInfo
from vmat.pipeline import FrameRecord, InProcessRunner, Stage, run_stages
from vmat.pipeline.clock import StageClock
from vmat.pipeline.stage import chained, stage_classes
from vmat.pipeline.stages import DepthStage, MaskFolderStage

INFO = VideoInfo(
    path="t", container="t", codec="t", pixel_format="rgb24", width=2, height=2, rotation=0, has_alpha=False,
    frame_rate=Fraction(10), variable_frame_rate=False, time_base=Fraction(1, 10), start_time=0.0, duration=0.7,
    num_frames=7, colour=None,
)


def _records(count):
    for index in range(count):
        yield FrameRecord(Frame(index, np.full((2, 2, 3), index, np.uint8), index, Fraction(1, 10)))


class AddOne(Stage):
    name = "add-one"

    def __init__(self):
        self.batches = []

    def process(self, batch):
        self.batches.append([r.index for r in batch])
        for record in batch:
            record.output = record.frame.image + 1
        return batch


class Delay(Stage):
    """Holds two frames back and releases them at the end, like a stage with look-ahead."""

    name = "delay"
    ordered = True

    def start_clip(self, info):
        self.held = []
        self.started_with = info

    def process(self, batch):
        self.held.extend(batch)
        ready, self.held = self.held[:-2], self.held[-2:]
        return ready

    def finish_clip(self):
        return self.held


def test_records_pass_every_stage_in_order_batched():
    add, delay = AddOne(), Delay()
    out = list(run_stages(_records(7), [delay, add], INFO, batch_size=3))
    assert [r.index for r in out] == list(range(7))
    assert all((r.output == r.index + 1).all() for r in out)
    assert delay.started_with is INFO
    assert [i for batch in add.batches for i in batch] == list(range(7))
    assert max(len(b) for b in add.batches) == 3


def test_the_in_process_runner_charges_each_stage_of_a_run_to_the_run_s_clock():
    clock = StageClock()
    timed = list(InProcessRunner().run(_records(7), [Delay, partial(chained, Delay, AddOne)], INFO, 3, clock))
    untimed = list(InProcessRunner().run(_records(7), [Delay, partial(chained, Delay, AddOne)], INFO, 3))
    assert set(clock.seconds) == {"delay", "add-one"}
    assert [(r.index, r.output.tolist()) for r in timed] == [(r.index, r.output.tolist()) for r in untimed]


def test_stages_run_lazily_one_batch_at_a_time():
    pulled = []

    def source():
        for record in _records(100):
            pulled.append(record.index)
            yield record

    stream = run_stages(source(), [AddOne()], INFO, batch_size=4)
    next(stream)
    assert len(pulled) <= 5  # only the first batch (and no more) was read to produce the first record


def test_a_chain_is_its_stages_in_one_worker_and_flushes_what_each_held_through_the_next():
    from vmat.pipeline.stage import StageChain, chained

    add, delay = AddOne(), Delay()
    chain = chained(lambda: delay, lambda: add)
    assert isinstance(chain, StageChain) and chain.name == "delay+add-one" and chain.ordered
    out = list(run_stages(_records(7), [chain], INFO, batch_size=3))
    assert [r.index for r in out] == list(range(7))
    assert all((r.output == r.frame.image + 1).all() for r in out)  # the frames delay held back went through add-one too


def test_stage_classes_seen_through_partials_classmethods_and_chains():
    assert stage_classes(partial(MaskFolderStage, "x")) == [MaskFolderStage]
    assert stage_classes(partial(DepthStage.build, "ground-plane", None)) == [DepthStage]
    assert stage_classes(MaskFolderStage) == [MaskFolderStage]
    assert stage_classes(lambda: MaskFolderStage("x")) == [None]
    assert stage_classes(partial(chained, MaskFolderStage, partial(DepthStage.build, "ground-plane"))) == [
        MaskFolderStage,
        DepthStage,
    ]
    assert stage_classes(partial(chained, MaskFolderStage, lambda: MaskFolderStage("x"))) == [MaskFolderStage, None]
