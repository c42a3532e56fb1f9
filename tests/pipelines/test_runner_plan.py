"""The Ray runner's planning and bookkeeping, without Ray: which stages share a call, what a call hands on and
what it cost, and the batch report that shows it."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from vmat.pipeline import FrameRecord
from vmat.pipeline.clock import StageClock
from vmat.pipeline.stage import chained
from vmat.pipeline.stages import ShrinkStage
from vmat.pipelines.batch import BatchReport
from vmat.pipelines.runner import Parcel, StageSpec, StageWorker, fuse, record_bytes

from tests.pipelines.toy_stages import Double, RunningSum, toy_info, toy_records


def _spec(name: str, ordered: bool = False, light: bool = False) -> StageSpec:
    return StageSpec((name,), ordered, light, parts=((name, Double),))


def _plan(*specs: StageSpec) -> list[tuple[str, bool]]:
    return [(group.name, group.ordered) for group in fuse(list(specs))]


def test_consecutive_unordered_stages_share_one_call():
    plan = _plan(_spec("masks"), _spec("shrink", light=True), _spec("depth"), _spec("decompose"), _spec("camera", True))
    assert plan == [("masks+shrink+depth+decompose", False), ("camera", True)]


def test_ordered_stages_keep_calls_of_their_own():
    plan = _plan(_spec("a"), _spec("masks", True), _spec("temporal", True), _spec("b"), _spec("c"), _spec("d", True))
    assert plan == [("a", False), ("masks", True), ("temporal", True), ("b+c", False), ("d", True)]


def test_a_light_stage_rides_with_the_ordered_stage_before_it():
    # The propagated masks need the full-size frame; what leaves their call is already shrunk.
    plan = _plan(_spec("masks", True), _spec("shrink", light=True), _spec("depth"), _spec("decompose"))
    assert plan == [("masks+shrink", True), ("depth+decompose", False)]
    # A light stage first has nothing to ride with; the unordered stages after it still join it.
    assert _plan(_spec("shrink", light=True), _spec("depth")) == [("shrink+depth", False)]


def test_a_fused_group_runs_its_stages_as_one_call():
    (group,) = fuse([StageSpec(("double",), False, False, (("k1", Double),)), StageSpec(("x",), False, False, (("k2", Double),))])
    assert group.parts == (("k1", Double), ("k2", Double))
    parcel = _worker_batch(StageWorker(), group.parts, list(toy_records(2)))
    assert set(parcel.moved) == {"driver", "double+double"}
    assert fuse([_spec("masks", True)]) == [_spec("masks", True)]


def test_a_group_whose_first_stage_changes_every_clip_keeps_the_stages_after_it():
    worker = StageWorker()
    for clip in range(3):
        # A clip's own mask folder, then a model stage shared by every clip.
        _worker_batch(worker, ((f"masks of clip {clip}", Double), ("model", Double)), list(toy_records(2)))
    assert worker._cache.builds == 3 + 1


def test_chain_is_light_only_when_all_its_stages_are():
    assert chained(partial(ShrinkStage, 32), partial(ShrinkStage, 16)).light
    assert not chained(partial(ShrinkStage, 32), Double).light


def _worker_batch(worker: StageWorker, parts, records):
    return worker.run_batch(parts, toy_info(len(records)), Parcel([]).handed_on("driver", records, {}))


def test_pooled_call_times_each_stage_and_counts_what_it_hands_on():
    worker = StageWorker()
    records = list(toy_records(4))
    sent = sum(map(record_bytes, records))
    parcel = _worker_batch(worker, (("key", partial(chained, Double, Double)),), records)
    assert [record.index for record in parcel.records] == [0, 1, 2, 3]
    assert set(parcel.seconds) == {"double"} and parcel.seconds["double"] > 0
    # Each record gained a (2, 3) float32 depth plane on its way.
    assert parcel.moved == {"driver": sent, "double+double": sent + 4 * 2 * 3 * 4}


def test_a_worker_builds_a_stage_once_for_many_batches_and_clips():
    worker = StageWorker()
    for _ in range(3):
        _worker_batch(worker, (("key", Double),), list(toy_records(2)))
    assert worker._cache.builds == 1


def test_ordered_lane_hands_on_each_calls_seconds_once():
    worker = StageWorker()
    worker.start_clip("clip", (("key", RunningSum),), toy_info(5))
    incoming = Parcel([]).handed_on("driver", [], {"double": 1.0})
    seconds, done = {}, []
    for batch in ([0, 1], [2, 3], [4]):
        records = list(toy_records(5))
        for record in records:
            record.depth = np.full((2, 3), 2.0 * record.index, np.float32)
        incoming = Parcel([records[i] for i in batch], dict(incoming.seconds), {})
        out = worker.process("clip", incoming)
        done += out.records
        for name, value in out.seconds.items():
            seconds[name] = seconds.get(name, 0.0) + value
        incoming = Parcel([], {}, {})
    last = worker.finish_clip("clip")
    done += last.records
    assert [record.index for record in done] == [0, 1, 2, 3, 4]
    assert done[-1].output[0, 0] == 2 * (0 + 1 + 2 + 3 + 4)
    # The upstream second went on with the first parcel only; the lane's own time went with every call.
    assert seconds["double"] == 1.0
    assert "running-sum" in last.seconds
    assert last.moved["running-sum"] == sum(map(record_bytes, last.records))
    # The clip is over: its stage went back to the cache, and a call for it is a lost clip.
    with pytest.raises(Exception, match="lost the state"):
        worker.process("clip", Parcel([]))
    worker.start_clip("next", (("key", RunningSum),), toy_info(1))
    assert worker._cache.builds == 1


def test_record_bytes_counts_every_array():
    (record,) = toy_records(1)
    assert record_bytes(record) == 2 * 3 * 3
    record.masks = np.zeros((2, 3), np.uint16)
    record.camera = np.eye(3)
    assert record_bytes(record) == 18 + 12 + 72
    assert record_bytes(FrameRecord(record.frame, output=np.zeros((2, 3, 3), np.uint8))) == 36


def test_batch_report_adds_up_stage_times_and_object_store_bytes():
    report = BatchReport(runner="ray")
    report.add({"state": "done", "frames": 2, "stage_seconds": {"decode": 0.01, "depth": 0.1}})
    report.add({"state": "done", "frames": 2, "stage_seconds": {"depth": 0.3}})
    report.add({"key": "c", "state": "failed", "error": "bad", "frames": 0, "stage_seconds": {"depth": 5.0}})
    report.moved = {"driver": 4_000_000, "depth": 2_000_000}
    assert report.stage_ms_per_frame() == pytest.approx({"decode": 2.5, "depth": 100.0})
    lines = report.describe().splitlines()
    assert lines[-2] == "ms per frame: decode 2.5, depth 100.0"
    assert lines[-1] == "object store: 1.50 MB per frame (sent by driver 1.00, depth 0.50)"
    saved = report.to_dict()
    assert saved["stage_ms_per_frame"] == {"decode": 2.5, "depth": 100.0}
    assert saved["object_store_bytes_per_frame"] == {"driver": 1_000_000, "depth": 500_000}


def test_clock_merges_actor_seconds():
    clock = StageClock()
    clock.add({"depth": 0.5})
    clock.add({"depth": 0.25, "masks": 1.0})
    assert clock.seconds == {"depth": 0.75, "masks": 1.0}
