"""One local Ray cluster for the whole Ray test suite (starting one costs seconds)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_address():
    """The GCS address of a 2-CPU embedded cluster, started once and stopped at the end of the session."""
    ray = pytest.importorskip("ray")
    from ray import cloudpickle

    from pipelines.cluster import ClusterConfig, ray_cluster
    from tests.pipelines import toy_stages

    # Workers cannot import the tests package; send the toy stages' code along instead.
    cloudpickle.register_pickle_by_value(toy_stages)
    with ray_cluster(ClusterConfig(num_cpus=2, log_to_driver=False)) as address:
        yield address
    assert not ray.is_initialized()
