from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from vmat.pipelines.runner import RayRunner, RayRunnerConfig, WorkerLostError
from vmat.errors import ConfigError, InputNotFoundError
from vmat.pipeline import InProcessRunner
from vmat.pipeline.clock import StageClock
from vmat.pipeline.stages import MaskFolderStage, ShrinkStage

from tests.pipelines.toy_stages import (
    DieOnce,
    DieOnceOrdered,
    Double,
    RefusesToStart,
    RunningSum,
    Threshold,
    make_running_sum,
    toy_info,
    toy_records,
)

pytestmark = pytest.mark.ray


def _expected_sums(count):
    # Frame i has depth 2 * i, so the running sum at frame i is i * (i + 1).
    return [np.full((2, 3), i * (i + 1), np.float32) for i in range(count)]


def test_config_rejects_no_workers():
    with pytest.raises(ConfigError):
        RayRunnerConfig(workers=0)


def test_ray_matches_in_process_in_frame_order(ray_address):
    factories = [Double, RunningSum, Double]
    expected = list(InProcessRunner().run(toy_records(11), factories, toy_info(11), 2))
    runner = RayRunner(RayRunnerConfig(workers=2, max_in_flight=3))
    try:
        got = list(runner.run(toy_records(11), factories, toy_info(11), 2))
    finally:
        runner.close()
    assert [r.index for r in got] == list(range(11))
    for mine, theirs, total in zip(got, expected, _expected_sums(11), strict=True):
        np.testing.assert_array_equal(mine.output, total)
        np.testing.assert_array_equal(mine.output, theirs.output)
        np.testing.assert_array_equal(mine.depth, theirs.depth)


def test_stage_built_once_per_actor_and_kept_across_clips(ray_address):
    runner = RayRunner(RayRunnerConfig(workers=1))
    try:
        for _ in range(2):
            assert len(list(runner.run(toy_records(3), [Double], toy_info(3), 2))) == 3
        assert list(runner.actors()) == ["double"]
        assert len(runner.actors()["double"]) == 1
    finally:
        runner.close()


def test_backpressure_reads_only_what_is_in_flight(ray_address):
    pulled = []

    def source():
        for record in toy_records(40):
            pulled.append(record.index)
            yield record

    runner = RayRunner(RayRunnerConfig(workers=1, max_in_flight=2))
    try:
        stream = runner.run(source(), [Double], toy_info(40), 4)
        next(stream)
        # The first record comes back once 2 batches (8 frames) are in the chain; nothing more is read.
        assert len(pulled) == 8
        assert len(list(stream)) == 39
    finally:
        runner.close()


def test_pooled_actor_that_dies_is_restarted_and_its_batch_redone(ray_address, tmp_path):
    marker = tmp_path / "died"
    runner = RayRunner(RayRunnerConfig(workers=2))
    try:
        got = list(runner.run(toy_records(9), [partial(DieOnce, str(marker), 5), Double], toy_info(9), 2))
    finally:
        runner.close()
    assert marker.exists()  # the worker really died
    assert [r.index for r in got] == list(range(9))
    assert all((r.depth == 2 * r.index).all() for r in got)


def test_ordered_lane_that_dies_fails_the_clip_then_serves_the_next(ray_address, tmp_path):
    marker = tmp_path / "died"
    factories = [Double, partial(DieOnceOrdered, str(marker), 3), RunningSum]
    runner = RayRunner(RayRunnerConfig(workers=1))
    try:
        with pytest.raises(WorkerLostError):
            list(runner.run(toy_records(8), factories, toy_info(8), 2))
        got = list(runner.run(toy_records(8), factories, toy_info(8), 2))
    finally:
        runner.close()
    for record, total in zip(got, _expected_sums(8), strict=True):
        np.testing.assert_array_equal(record.output, total)


def test_user_error_in_a_worker_keeps_its_type(ray_address, tmp_path):
    runner = RayRunner()
    try:
        with pytest.raises(InputNotFoundError, match="does not exist"):
            list(runner.run(toy_records(2), [partial(MaskFolderStage, str(tmp_path / "absent"))], toy_info(2), 2))
    finally:
        runner.close()


def test_ordered_stage_that_cannot_start_reports_its_own_error(ray_address):
    runner = RayRunner()
    try:
        with pytest.raises(ConfigError, match="prompt 7 names no person"):
            list(runner.run(toy_records(2), [Double, RefusesToStart], toy_info(2), 2))
    finally:
        runner.close()


def test_more_gpu_than_the_cluster_has_is_refused(ray_address):
    runner = RayRunner(RayRunnerConfig(num_gpus=64))
    with pytest.raises(ConfigError, match="GPU"):
        runner.run(toy_records(1), [Double], toy_info(1), 1)


def test_more_actors_than_the_cluster_can_host_is_refused(ray_address):
    # 2 CPUs: two stages of 3 actors at 0.5 CPU each would need 3 and wait for ever.
    runner = RayRunner(RayRunnerConfig(workers=3, num_cpus=0.5))
    try:
        with pytest.raises(ConfigError, match="reserve 1.5"):
            runner.run(toy_records(1), [Double, RunningSum], toy_info(1), 1)
    finally:
        runner.close()


def test_plain_function_factory_is_described_by_building_it_remotely(ray_address):
    runner = RayRunner(RayRunnerConfig(workers=2))
    try:
        got = list(runner.run(toy_records(6), [Double, make_running_sum], toy_info(6), 2))
        assert [len(actors) for actors in runner.actors().values()] == [2, 2]
        assert list(runner.actors()) == ["double", "running-sum"]
    finally:
        runner.close()
    for record, total in zip(got, _expected_sums(6), strict=True):
        np.testing.assert_array_equal(record.output, total)


def test_fused_calls_shrink_before_the_next_hop_and_time_every_stage(ray_address):
    # Ordered masks on the full-size frame, then shrink, then two pooled stages: two calls, and only the driver's
    # hop carries full-size frames.
    factories = [Threshold, partial(ShrinkStage, 16), Double, RunningSum]
    records = partial(toy_records, 9, 48, 64)
    expected = list(InProcessRunner().run(records(), factories, toy_info(9), 2))
    clock = StageClock()
    runner = RayRunner(RayRunnerConfig(workers=2, max_in_flight=3))
    try:
        got = list(runner.run(records(), factories, toy_info(9), 2, clock=clock))
        assert list(runner.actors()) == ["threshold+shrink", "double", "running-sum"]
        moved = runner.moved()
        fused = list(runner.run(records(), [Double, partial(ShrinkStage, 32), Double], toy_info(9), 2, clock))
        assert list(runner.actors())[-1] == "double+shrink+double"
    finally:
        runner.close()
    assert [r.index for r in got] == list(range(9))
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.frame.image.shape == (12, 16, 3)
        np.testing.assert_array_equal(mine.masks, theirs.masks)
        np.testing.assert_array_equal(mine.output, theirs.output)
    assert {"threshold", "shrink", "double", "running-sum"} <= set(clock.seconds)
    assert all(seconds > 0 for seconds in clock.seconds.values())
    full = 9 * 48 * 64 * 3
    assert moved["driver"] == full
    # masks (uint16) and frame at 16x12; then a float32 depth plane; then the running sum's output.
    assert moved["threshold+shrink"] == 9 * 16 * 12 * (3 + 2)
    assert moved["double"] == 9 * 16 * 12 * (3 + 2 + 4)
    assert moved["running-sum"] == 9 * 16 * 12 * (3 + 2 + 4 + 4)
    assert [r.frame.image.shape for r in fused] == [(24, 32, 3)] * 9


def test_unfused_every_stage_is_a_call_of_its_own(ray_address):
    factories = [Threshold, partial(ShrinkStage, 16), Double]
    runner = RayRunner(RayRunnerConfig(fuse_stages=False))
    try:
        got = list(runner.run(toy_records(4, 48, 64), factories, toy_info(4), 2))
        assert list(runner.actors()) == ["threshold", "shrink", "double"]
        # The full-size frames and their masks cross twice: into the masks call and into shrink's.
        assert runner.moved()["threshold"] == 4 * 48 * 64 * (3 + 2)
    finally:
        runner.close()
    assert [r.depth.shape for r in got] == [(12, 16)] * 4
