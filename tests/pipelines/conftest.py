"""Fixtures of the pipelines tests: one local Ray cluster for the whole Ray suite (starting one costs
seconds), and a small archive of generated clips per test module."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.pipelines.archive import make_archive


def pytest_runtest_setup(item):
    if item.get_closest_marker("ray") is not None and importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'vmat[ray]')")


@pytest.fixture(scope="session")
def ray_address():
    """The GCS address of a 2-CPU embedded cluster, started once and stopped at the end of the session."""
    ray = pytest.importorskip("ray")
    from ray import cloudpickle

    from vmat.pipelines.cluster import ClusterConfig, ray_cluster
    from tests.pipelines import toy_stages

    # Workers cannot import the tests package; send the toy stages' code along instead.
    cloudpickle.register_pickle_by_value(toy_stages)
    home_ray = Path.home() / ".ray"
    had_home_ray = home_ray.exists()
    with ray_cluster(ClusterConfig(num_cpus=2, log_to_driver=False)) as address:
        scratch = Path(os.environ["RAY_TMPDIR"])
        assert scratch.is_dir() and scratch.name.startswith("vmat-ray-")
        yield address
    # The embedded cluster leaves nothing behind: no session folder, no token under ~/.ray.
    assert not ray.is_initialized()
    assert not scratch.exists()
    assert "RAY_TMPDIR" not in os.environ or Path(os.environ["RAY_TMPDIR"]) != scratch
    assert home_ray.exists() == had_home_ray


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    make_archive(root)
    return root
