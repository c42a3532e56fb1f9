"""Stages built once and reused across clips (vmat.pipeline.cache), by the in-process runner and a Ray worker."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from vmat.pipeline import InProcessRunner, Stage
from vmat.pipeline.cache import StageCache, factory_key, shared

from tests.pipelines.toy_stages import Double, RunningSum, toy_info, toy_records


class Counted(Stage):
    """Unordered, adds ``step`` to the depth; counts how often it is built (a model loading its weights)."""

    name = "counted"
    built = 0

    def __init__(self, step: float = 1.0) -> None:
        type(self).built += 1
        self.step = step

    def process(self, batch):
        for record in batch:
            start = record.depth if record.depth is not None else np.zeros(record.frame.image.shape[:2], np.float32)
            record.depth = start + self.step
        return batch


class CountedSum(RunningSum):
    built = 0

    def __init__(self) -> None:
        type(self).built += 1


class Broken(Stage):
    def __init__(self) -> None:
        raise ValueError("no weights")


def test_factory_key_follows_the_arguments():
    assert factory_key(partial(Counted, 2.0)) == factory_key(partial(Counted, 2.0))
    assert factory_key(partial(Counted, 2.0)) != factory_key(partial(Counted, 3.0))
    assert factory_key(lambda: Counted()) is None  # plain pickle cannot: built afresh each time


def test_a_stage_is_leased_to_one_run_at_a_time():
    cache = StageCache(size=2)
    first = cache.acquire("a", Counted)
    second = cache.acquire("a", Counted)
    assert first is not second and cache.builds == 2
    cache.release("a", first)
    assert cache.acquire("a", Counted) is first and cache.builds == 2
    assert cache.acquire("b", Counted) is not first


def test_the_least_recently_returned_go_beyond_the_size():
    cache = StageCache(size=2)
    stages = {key: cache.acquire(key, Counted) for key in "abc"}
    for key in "abc":
        cache.release(key, stages[key])
    assert cache.acquire("a", Counted) is not stages["a"]  # evicted
    assert cache.acquire("c", Counted) is stages["c"]
    unkeyed = cache.acquire(None, Counted)
    cache.release(None, unkeyed)
    assert cache.acquire(None, Counted) is not unkeyed


def test_a_failing_build_hands_back_what_was_leased():
    cache = StageCache()
    with pytest.raises(ValueError, match="no weights"):
        cache.lease([("a", Counted), ("b", Broken)])
    assert cache.builds == 1
    cache.lease([("a", Counted)])
    assert cache.builds == 1


def _depths(records):
    return [float(record.depth[0, 0]) for record in records]


def test_in_process_runner_builds_each_stage_once_across_clips():
    Counted.built = CountedSum.built = 0
    factories = [partial(Counted, 5.0), Double, CountedSum]
    runs = [list(InProcessRunner().run(toy_records(4), factories, toy_info(4), 2)) for _ in range(3)]
    assert (Counted.built, CountedSum.built) == (1, 1)
    # Reused stages start every clip afresh: the ordered running sum equals a first run's.
    for records in runs:
        np.testing.assert_array_equal(records[-1].output, np.full((2, 3), 2 * (0 + 1 + 2 + 3), np.float32))


def test_two_clips_at_once_in_one_process_do_not_share_a_stage():
    runner = InProcessRunner()
    factories = [Double, CountedSum]
    first = runner.run(toy_records(6), factories, toy_info(6), 2)
    second = runner.run(toy_records(6), factories, toy_info(6), 2)
    for index, (a, b) in enumerate(zip(first, second, strict=True)):
        # A shared running sum would add both clips' depths.
        assert a.output[0, 0] == b.output[0, 0] == index * (index + 1)


def test_a_run_stopped_early_hands_its_stages_back():
    Counted.built = 0
    factories = [partial(Counted, 7.0)]
    stream = InProcessRunner().run(toy_records(8), factories, toy_info(8), 2)
    next(stream)
    stream.close()
    assert _depths(InProcessRunner().run(toy_records(2), factories, toy_info(2), 2)) == [7.0, 7.0]
    assert Counted.built == 1
    assert shared.size >= 4
