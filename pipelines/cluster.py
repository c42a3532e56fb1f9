"""The Ray cluster a vmat job runs on: an embedded local one by default, or an existing one by address.

The embedded cluster is started and stopped by vmat. It keeps everything it writes (session logs, object
spill files) under a temporary folder that is removed when it stops, and runs no dashboard. Ray's own
control ports (GCS, raylet, object manager) still listen on this machine's address: Ray refuses to bind
them to loopback only, so run batch jobs on a trusted network.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vmat.errors import ConfigError

# Ray 2.60 otherwise creates an auth token under ~/.ray and reports usage statistics.
_LOCAL_ENVIRONMENT = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@dataclass(frozen=True)
class ClusterConfig:
    """Where to run: ``address`` of an existing cluster (``"host:port"`` or ``"auto"``), or ``None`` to start
    an embedded local one with ``num_cpus`` / ``num_gpus`` (``None``: what this machine has)."""

    address: str | None = None
    num_cpus: int | None = None
    num_gpus: float | None = None
    log_to_driver: bool = True


def local_environment() -> dict[str, str]:
    """The environment of an embedded cluster's start; a driver joining such a cluster needs it too."""
    return dict(_LOCAL_ENVIRONMENT)


@contextmanager
def ray_cluster(config: ClusterConfig = ClusterConfig()) -> Iterator[str]:
    """Connect to (or start) the cluster for the ``with`` block; yield its GCS address.

    When Ray is already initialised in this process (a test fixture, a notebook), that connection is used
    and left running. Otherwise the embedded cluster, or the connection to ``config.address``, is shut down
    at the end.
    """
    import ray

    if ray.is_initialized():
        yield ray.get_runtime_context().gcs_address
        return
    saved = {name: os.environ.get(name) for name in (*_LOCAL_ENVIRONMENT, "RAY_TMPDIR")}
    scratch = None
    try:
        if config.address is not None:
            try:
                ray.init(address=config.address, log_to_driver=config.log_to_driver)
            except ConnectionError as error:
                raise ConfigError(f"cannot join the Ray cluster at {config.address!r}: {error}") from None
        else:
            scratch = tempfile.mkdtemp(prefix="vmat-ray-")
            os.environ.update(_LOCAL_ENVIRONMENT, RAY_TMPDIR=scratch)
            ray.init(
                num_cpus=config.num_cpus,
                num_gpus=config.num_gpus,
                include_dashboard=False,
                _temp_dir=scratch,
                log_to_driver=config.log_to_driver,
                configure_logging=False,
            )
        yield ray.get_runtime_context().gcs_address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
