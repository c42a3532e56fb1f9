"""The batch job on Ray: the same outputs as in process, and surviving dead actors and a killed driver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from vmat.pipelines.batch import BatchConfig, run_batch
from vmat.pipelines.cluster import local_environment
from vmat.pipelines.job import STATE_FILE
from vmat.pipelines.runner import RayRunner, RayRunnerConfig
from vmat.pipeline.run import RunConfig

from tests.pipelines.archive import GOOD, scene_clip
from tests.pipelines.outputs import assert_same_clip_outputs, output_files

pytestmark = pytest.mark.ray
# Lossless video: x264's output differs from run to run (threading), its lossless output does not. Weight-free
# temporal fusion: the learned refiner's convolutions add up in an order that depends on torch's thread count,
# which differs between a Ray actor and this process (its mattes then differ by one 16-bit step here and there).
EXACT = RunConfig(crf=0, temporal="fusion", write_layers=True, process_size=48)


@pytest.fixture(scope="module")
def in_process(archive, tmp_path_factory):
    output = tmp_path_factory.mktemp("inprocess") / "out"
    run_batch(archive, output, BatchConfig(runner="inprocess", run=EXACT))
    return output


def _states(output):
    return {key: clip["state"] for key, clip in json.loads((output / STATE_FILE).read_text())["clips"].items()}


def test_ray_batch_equals_in_process(ray_address, archive, in_process, tmp_path):
    config = BatchConfig(runner="ray", ray=RayRunnerConfig(workers=2), retries=0, run=EXACT)
    report = run_batch(archive, tmp_path / "out", config)
    assert (report.done, report.failed, report.runner) == (3, 1, "ray")
    assert "not a readable media file" in next(c for c in report.clips if c["key"] == "day2/broken.mp4")["error"]
    for key in GOOD:
        assert_same_clip_outputs(tmp_path / "out" / key, in_process / key)
    # The stages' times come back from the actors, next to the driver's own.
    assert {"decode", "masks", "shrink", "depth", "decompose", "camera", "temporal", "render"} <= set(report.stage_seconds)
    assert all(set(clip["stage_seconds"]) >= {"masks", "depth"} for clip in report.clips if clip["state"] == "done")
    # Two calls a batch (the mask reader, shrink, depth and decomposition fused; the ordered camera and temporal
    # stages), and only the driver's hop carries the 96x64 frames (the pass's own records stay at the clip's size).
    assert set(report.moved) == {"driver", "masks+shrink+depth+decompose", "camera+temporal"}
    assert report.moved["driver"] == report.frames * 96 * 64 * 3


def test_actor_killed_mid_job_and_the_job_completes(ray_address, archive, in_process, tmp_path):
    import ray

    output = tmp_path / "out"
    runner = RayRunner(RayRunnerConfig(workers=2, max_in_flight=2))
    killed = []

    def kill_a_worker_once_running():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            # The pooled call that runs the depth stage (with the mask reader, shrink and decomposition).
            pooled = [actors for name, actors in runner.actors().items() if "depth" in name.split("+")]
            if pooled and (output / STATE_FILE).exists() and "running" in _states(output).values():
                ray.kill(pooled[0][0], no_restart=False)
                killed.append(True)
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker_once_running)
    killer.start()
    try:
        report = run_batch(archive, output, BatchConfig(runner="ray", clips_in_flight=2, retries=2, run=EXACT), runner=runner)
    finally:
        killer.join()
        runner.close()
    assert killed
    assert (report.done, report.failed) == (3, 1)
    for key in GOOD:
        assert_same_clip_outputs(output / key, in_process / key)


_DRIVER = """
import sys
from vmat.pipelines.batch import BatchConfig, run_batch
from vmat.pipelines.cluster import ClusterConfig
from vmat.pipelines.runner import RayRunnerConfig
run_batch(sys.argv[1], sys.argv[2], BatchConfig(
    runner="ray", clips_in_flight=1, ray=RayRunnerConfig(workers=1),
    cluster=ClusterConfig(address=sys.argv[3], log_to_driver=False)))
"""


@pytest.mark.slow
def test_driver_killed_then_resumed(ray_address, tmp_path):
    clips = tmp_path / "in"
    for seed in range(5):
        scene_clip(clips / f"clip{seed}.mp4", seed=10 + seed)
    output = tmp_path / "out"
    environment = {**os.environ, **local_environment()}
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, str(clips), str(output), ray_address], env=environment)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            try:
                states = list(_states(output).values())
            except (FileNotFoundError, json.JSONDecodeError):
                states = []
            # Killed mid-clip: its state says running only a moment before its unfinished folder exists.
            if states.count("done") >= 2 and "running" in states and list(output.rglob(".*.partial-*")):
                break
            time.sleep(0.01)
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait()
    before = list(_states(output).values())  # whole after a kill: the job file is only ever replaced atomically
    assert before.count("done") >= 2 and "running" in before
    assert list(output.rglob(".*.partial-*"))  # the killed clip's unfinished folder

    report = run_batch(clips, output, BatchConfig(runner="ray", retries=0))
    assert report.skipped == before.count("done")
    assert report.done + report.skipped == 5 and report.failed == 0
    assert set(_states(output).values()) == {"done"}
    files = output_files(output)
    assert not [name for name in files if ".partial-" in name]
    for seed in range(5):
        clip = f"clip{seed}"
        # vmat's own bookkeeping files are hidden (and no partial is left: checked above).
        shown = [name for name in files if "/frames/" not in name and not name.rsplit("/", 1)[-1].startswith(".")]
        assert [name for name in shown if name.startswith(f"{clip}.mp4/")] == [
            f"{clip}.mp4/{clip}.ids.png", f"{clip}.mp4/{clip}.vmat.mp4",  # no layers file: not asked for
        ]
