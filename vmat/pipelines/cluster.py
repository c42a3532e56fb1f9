"""The Ray cluster a vmat job runs on: an embedded local one by default, or an existing one by address.

The embedded cluster is started and stopped by vmat and listens on the loopback interface only: its
node address is 127.0.0.1, so the GCS, the raylet, the object manager, every worker and the driver
bind 127.0.0.1, and no dashboard runs. Nothing on another machine can reach it, which is why it runs
without Ray's token authentication. Everything it writes (session logs, object spill files) stays in a
temporary folder that is removed when it stops.

Joining an existing cluster (``address``) on another machine needs Ray's token authentication: the
environment must say ``RAY_AUTH_MODE=token`` and hold the cluster's token (``RAY_AUTH_TOKEN``, a file
named by ``RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token``); vmat refuses to join without it. The
address must answer within ``connect_timeout`` seconds, checked before Ray is asked to connect: Ray
itself waits minutes for an unreachable address, inside C++ code where no signal is handled.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from vmat.errors import ConfigError

# Ray 2.60 otherwise creates an auth token under ~/.ray and reports usage statistics. With "windows or osx
# cluster" support off, Ray keeps the node address 127.0.0.1 instead of swapping in this machine's address,
# and every Ray process binds its ports to loopback.
_LOCAL_ENVIRONMENT = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
_LOOPBACK = "127.0.0.1"
_TOKEN_HELP = (
    "set RAY_AUTH_MODE=token and give the cluster's token in RAY_AUTH_TOKEN, in a file named by RAY_AUTH_TOKEN_PATH, "
    "or in ~/.ray/auth_token (see docs/reliability.md)"
)
# An HTTP/2 client's first bytes (the preface, then an empty SETTINGS frame); a gRPC server answers with SETTINGS.
_HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_HTTP2_SETTINGS = 4
_SCRATCH_ROOT_MAX = 24


@dataclass(frozen=True)
class ClusterConfig:
    """Where to run: ``address`` of an existing cluster (``"host:port"`` or ``"auto"``), or ``None`` to start
    an embedded local one with ``num_cpus`` / ``num_gpus`` (``None``: what this machine has).
    ``connect_timeout``: seconds the address has to answer in."""

    address: str | None = None
    num_cpus: int | None = None
    num_gpus: float | None = None
    log_to_driver: bool = True
    connect_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.connect_timeout > 0:
            raise ConfigError(f"the connection timeout must be positive, not {self.connect_timeout}")


def local_environment() -> dict[str, str]:
    """The environment of an embedded cluster's start; a driver joining such a cluster needs it too."""
    return dict(_LOCAL_ENVIRONMENT)


@contextmanager
def ray_cluster(config: ClusterConfig = ClusterConfig()) -> Iterator[str]:
    """Connect to (or start) the cluster for the ``with`` block; yield its GCS address.

    When Ray is already initialised in this process (a test fixture, a notebook), that connection is used
    and left running. Otherwise the embedded cluster, or the connection to ``config.address``, is shut down
    at the end. Raises :class:`ConfigError` for an address that cannot be joined safely or in time.
    """
    import ray

    if ray.is_initialized():
        yield ray.get_runtime_context().gcs_address
        return
    saved = {name: os.environ.get(name) for name in (*_LOCAL_ENVIRONMENT, "RAY_TMPDIR")}
    scratch = None
    try:
        if config.address is not None:
            _join(config.address, config)
        else:
            scratch = tempfile.mkdtemp(prefix="vmat-ray-", dir=_scratch_root())
            os.environ.update(_LOCAL_ENVIRONMENT, RAY_TMPDIR=scratch)
            with _loopback_only():
                _init(
                    address="local",  # never a cluster named by RAY_ADDRESS
                    num_cpus=config.num_cpus,
                    num_gpus=config.num_gpus,
                    include_dashboard=False,
                    _temp_dir=scratch,
                    log_to_driver=config.log_to_driver,
                    configure_logging=False,
                )
            _check_loopback()
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


def _scratch_root() -> str:
    """The system's temporary folder, or /tmp when that is too deep for the Unix sockets Ray makes in it
    (their paths, about 80 characters below this folder, may not exceed 107)."""
    root = tempfile.gettempdir()
    return root if len(root) <= _SCRATCH_ROOT_MAX or not os.path.isdir("/tmp") else "/tmp"


def _join(address: str, config: ClusterConfig) -> None:
    from ray.exceptions import AuthenticationError

    host, port = _resolve(address)
    loopback = _is_loopback(host)
    if not loopback:
        _check_token(address)
    _check_reachable(address, host, port, config.connect_timeout)
    with _loopback_only() if loopback else nullcontext():  # else Ray would swap 127.0.0.1 for this machine's address
        try:
            _init(address=_join_address(host, port), log_to_driver=config.log_to_driver, configure_logging=False)
        except AuthenticationError:
            raise ConfigError(f"no token to join the Ray cluster at {address!r} with: {_TOKEN_HELP}") from None
        except ConnectionError as error:
            # All Ray says when the cluster refused this driver's token (its log lines above say so).
            raise ConfigError(
                f"cannot join the Ray cluster at {address!r}: {error} (a cluster with token authentication also "
                "refuses a missing or wrong token)"
            ) from None


def _init(**options) -> None:
    """``ray.init``, keeping this thread's SIGTERM handler: Ray replaces it with one that exits at once.

    A SIGTERM that arrives while Ray's handler is in place still reaches the handler that was there before.
    """
    import ray

    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(**options)
    except SystemExit:
        if not callable(previous):
            raise
        previous(signal.SIGTERM, None)
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def _loopback_only() -> Iterator[None]:
    """Ray reads its "windows or osx cluster" switch when imported; this driver may have imported Ray before
    the switch was set (the child processes read it from the environment)."""
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def _check_loopback() -> None:
    """Refuse to go on with an embedded cluster that is not on loopback (a Ray upgrade changing the switch)."""
    import ray

    gcs_host = _split(ray.get_runtime_context().gcs_address)[0]
    node_ip = ray.util.get_node_ip_address()
    if (gcs_host, node_ip) != (_LOOPBACK, _LOOPBACK):
        ray.shutdown()
        raise RuntimeError(f"the embedded Ray cluster came up on {gcs_host} / {node_ip}, not on loopback only; stopped it")


def _resolve(address: str) -> tuple[str, int]:
    """``host`` and ``port`` of ``address``; ``"auto"`` is the cluster started on this machine (``ray start``)."""
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address_or_die

        try:
            with _loopback_only():  # a cluster recorded at 127.0.0.1 stays there
                address = canonicalize_bootstrap_address_or_die("auto")
        except (ConnectionError, ValueError) as error:
            raise ConfigError(f"no Ray cluster found for --address auto: {error}") from None
    try:
        return _split(address)
    except ValueError:
        raise ConfigError(f"Ray address {address!r} must be HOST:PORT or 'auto'") from None


def _split(address: str) -> tuple[str, int]:
    host, colon, port = address.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(address)
    return host, int(port)


def _join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: whatever it resolves to, treat it as another machine
        return False


def _check_token(address: str) -> None:
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        raise ConfigError(f"refusing to join the Ray cluster at {address!r} without authentication: {_TOKEN_HELP}")
    token_file = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    if not os.environ.get("RAY_AUTH_TOKEN") and not Path(token_file).is_file():
        raise ConfigError(f"RAY_AUTH_MODE=token but no token to join the Ray cluster at {address!r}: {_TOKEN_HELP}")


def _check_reachable(address: str, host: str, port: int, timeout: float) -> None:
    """Raise :class:`ConfigError` unless ``host:port`` answers as a gRPC server does (Ray's GCS is one) within
    ``timeout`` seconds. A signal interrupts the wait (its handler runs), unlike ``ray.init``'s."""
    deadline = time.monotonic() + timeout
    header = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
                return  # a TLS server does not speak plain HTTP/2; reaching it has to do
            connection.sendall(_HTTP2_HELLO)
            while len(header) < 4:
                connection.settimeout(max(deadline - time.monotonic(), 1e-3))
                received = connection.recv(9)
                if not received:
                    break
                header += received
    except TimeoutError:
        raise ConfigError(f"the Ray cluster at {address!r} did not answer within {timeout:g} s") from None
    except OSError as error:
        raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {error.strerror or error}") from None
    if len(header) < 4 or header[3] != _HTTP2_SETTINGS:
        raise ConfigError(f"{address!r} does not answer like a Ray cluster (no gRPC server there)")
