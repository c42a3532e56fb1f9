"""Issue 18.3 and 18.6: joining a Ray cluster (``--address``) safely and in bounded time, and an embedded
cluster that nothing outside this machine can reach."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from vmat.cli.main import main
from vmat.errors import ConfigError
from vmat.pipelines.cluster import ClusterConfig, _scratch_root

from tests.pipelines.archive import pattern_clip_with_audio
from tests.pipelines.stopping import processes_mentioning, short_scratch, signal_and_wait, start_batch


# Joining an --address goes through Ray even where no local cluster is started.
requires_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install 'vmat[ray]')"
)


@pytest.fixture(scope="module")
def one_clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("one")
    pattern_clip_with_audio(root / "c.mp4")
    return root


class SilentServer:
    """Accepts connections and never says a word: a hung or firewalled service, as a Ray driver sees it."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self._held.append(connection)
            self.accepted.set()

    def close(self) -> None:
        for connection in self._held:
            connection.close()
        self.socket.close()


@pytest.fixture()
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def _batch(one_clip, tmp_path, capsys, *options):
    status = main(["-q", "batch", str(one_clip), str(tmp_path / "out"), *options])
    return status, capsys.readouterr().err.strip().splitlines()


@requires_ray
@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"RAY_AUTH_MODE": "disabled"}, "refusing to join the Ray cluster at '192.0.2.1:6379' without authentication"),
        ({}, "refusing to join the Ray cluster at '192.0.2.1:6379' without authentication"),
        ({"RAY_AUTH_MODE": "token"}, "RAY_AUTH_MODE=token but no token"),
    ],
)
def test_another_machine_is_joined_only_with_token_auth(one_clip, tmp_path, capsys, monkeypatch, environment, message):
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    status, lines = _batch(one_clip, tmp_path, capsys, "--address", "192.0.2.1:6379")
    assert status == 2 and len(lines) == 1 and message in lines[0], lines
    assert "RAY_AUTH_TOKEN" in lines[0]


@requires_ray
def test_nothing_listening_fails_at_once(one_clip, tmp_path, capsys):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    started = time.monotonic()
    status, lines = _batch(one_clip, tmp_path, capsys, "--address", f"127.0.0.1:{port}")
    assert status == 2 and len(lines) == 1 and f"cannot reach the Ray cluster at '127.0.0.1:{port}'" in lines[0], lines
    assert time.monotonic() - started < 30


@requires_ray
def test_an_address_that_never_answers_times_out(one_clip, tmp_path, capsys, silent_server):
    # Before, Ray waited for minutes (for ever on a silent port), where no signal is handled.
    started = time.monotonic()
    status, lines = _batch(one_clip, tmp_path, capsys, "--address", f"127.0.0.1:{silent_server.port}", "--connect-timeout", "2")
    seconds = time.monotonic() - started
    assert status == 2 and len(lines) == 1 and "did not answer within 2 s" in lines[0], lines
    assert silent_server.accepted.is_set()
    assert seconds < 20  # 2 s of waiting, the rest is importing Ray on a loaded machine


@requires_ray
def test_sigterm_while_waiting_for_an_address(one_clip, tmp_path, silent_server):
    (tmp_path / "tmp").mkdir()
    address = f"127.0.0.1:{silent_server.port}"
    process = start_batch(one_clip, tmp_path / "out", tmp_path / "tmp", "--address", address, "--connect-timeout", "600")
    assert silent_server.accepted.wait(120), process.communicate()
    seconds, err = signal_and_wait(process, 15)
    assert seconds < 5 and process.returncode == 143, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmat batch: stopped by SIGTERM: 0 done"), err


def test_ray_scratch_stays_short_enough_for_its_sockets(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / ("deep" * 20)))
    assert _scratch_root() == "/tmp"
    monkeypatch.setattr(tempfile, "tempdir", "/tmp/x")
    assert _scratch_root() == "/tmp/x"


def test_connect_timeout_must_be_positive():
    with pytest.raises(ConfigError):
        ClusterConfig(address="auto", connect_timeout=0)


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


@pytest.mark.ray
def test_embedded_cluster_listens_on_loopback_only(ray_address):
    """Before, the GCS, the raylets, the actors and the driver listened on 0.0.0.0 / :: (and Ray's token
    auth was off): anyone who could reach the machine could join and run code."""
    import ray  # noqa: F401 - puts Ray's own psutil on the path
    import psutil

    from vmat.pipelines.runner import RayRunner, RayRunnerConfig
    from tests.pipelines.toy_stages import Double, RunningSum, toy_info, toy_records

    assert ray_address.startswith("127.0.0.1:")
    runner = RayRunner(RayRunnerConfig(workers=2))
    try:
        assert len(list(runner.run(toy_records(6), [Double, RunningSum], toy_info(6), 2))) == 6  # actors up and used
        me = psutil.Process()
        ray_processes = {me.pid, *(child.pid for child in me.children(recursive=True))}
        bound = [
            (connection.pid, connection.laddr)
            for connection in psutil.net_connections(kind="inet")
            if connection.pid in ray_processes
            and (connection.status == psutil.CONN_LISTEN or (connection.type == socket.SOCK_DGRAM and not connection.raddr))
        ]
    finally:
        runner.close()
    names = {psutil.Process(pid).name() for pid, _ in bound if psutil.pid_exists(pid)}
    assert {"gcs_server", "raylet"} <= names, bound  # the check sees Ray's servers
    assert [(pid, address) for pid, address in bound if not _is_loopback(address.ip)] == []


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "the Ray head did not start"
            time.sleep(0.2)


@pytest.mark.ray
def test_a_cluster_with_token_auth_is_joined_with_its_token(one_clip, tmp_path):
    """What docs/reliability.md tells users to do: RAY_AUTH_MODE=token and the cluster's token. A wrong token
    is refused with one line of vmat's (after Ray's own log lines)."""
    token = secrets.token_hex(16)
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    ray_cli = str(Path(sys.executable).parent / "ray")
    with short_scratch() as scratch:
        head_environment = {
            **os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        head = subprocess.Popen(
            [ray_cli, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", f"--temp-dir={scratch}/ray"],
            env=head_environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            _wait_for_port(port, head)
            joined = {}
            for name, given in (("right", token), ("wrong", "not-" + token)):
                environment = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": given, "OMP_NUM_THREADS": "1"}
                command = [
                    sys.executable, "-m", "vmat", "-q", "batch", str(one_clip), str(tmp_path / name),
                    "--address", f"127.0.0.1:{port}",
                ]
                joined[name] = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
        finally:
            head.send_signal(signal.SIGTERM)
            try:
                head.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
                head.wait()
            deadline = time.monotonic() + 10
            while processes_mentioning(scratch) and time.monotonic() < deadline:
                time.sleep(0.1)
        assert not processes_mentioning(scratch)
    assert joined["right"].returncode == 0, joined["right"].stderr
    assert (tmp_path / "right" / "c.mp4" / "c.vmat.mp4").is_file()
    wrong = joined["wrong"]
    assert wrong.returncode == 2, wrong.stderr
    last_line = wrong.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"vmat batch: error: cannot join the Ray cluster at '127.0.0.1:{port}'")
