"""``vmat app``: the command starts the page on loopback, warns when shared, and fails in one line."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from vmat.cli.main import main


def test_serves_the_page_and_stops_on_ctrl_c(generated_clip, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "vmat", "app", str(generated_clip.path), "--port", "0", "--work", str(tmp_path / "work")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("vmat app: open http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[3]
        page = ""
        for _ in range(100):  # the line is printed just before the server binds
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    page = response.read().decode()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.1)
        assert '<canvas id="canvas"' in page
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    assert (tmp_path / "work").is_dir()


def test_shared_host_warns(generated_clip, tmp_path, monkeypatch, capsys):
    uvicorn = pytest.importorskip("uvicorn")
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, log_level: served.update(host=host, port=port))
    monkeypatch.chdir(tmp_path)
    assert main(["app", str(generated_clip.path), "--host", "0.0.0.0", "--port", "0"]) == 0
    assert served["host"] == "0.0.0.0" and served["port"] > 0
    assert "warning: listening on 0.0.0.0: the page has no login" in capsys.readouterr().err
    assert main(["app", "--port", "0"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_user_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["app", str(tmp_path / "missing.mp4")]) == 2
    assert capsys.readouterr().err.strip() == f"vmat app: error: the clip {str(tmp_path / 'missing.mp4')!r} does not exist."
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
    assert capsys.readouterr().err.startswith(f"vmat app: error: cannot listen on 127.0.0.1:{port}")
    assert main(["app", "--root", str(tmp_path / "nowhere")]) == 2
