"""Background jobs of the app: a worker process each (:mod:`vmat.app.worker`), its progress read from its
progress bars, cancelled by SIGTERM. :class:`JobManager` allows one job at a time per session and a few
at once in all, so a second tab (a second session) never touches the first one's job or its files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# A vmat progress bar as tqdm draws it: "masks forward:  40%|####  | 4/10 [...]" or "layers: 4frame [...]".
_BAR = re.compile(r"^\s*(?P<stage>[^:\r\n|]{1,40}):\s+(?:\d+%\|[^|]*\|\s*)?(?P<done>\d+)(?:/(?P<total>\d+))?")


class JobRefused(Exception):
    """A job cannot start now (``status`` is the HTTP status the server answers with)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Job:
    """One worker process and what is known about it. ``state``: running, done, failed or cancelled."""

    id: str
    kind: str
    folder: Path
    spec: dict
    process: subprocess.Popen[bytes] = field(repr=False)
    state: str = "running"
    stage: str = ""
    done: int = 0
    total: int | None = None
    message: str = ""
    result: dict | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    cancel_requested: bool = False

    def to_json(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "state": self.state, "stage": self.stage, "done": self.done,
            "total": self.total, "message": self.message, "result": self.result,
            "seconds": round((self.finished or time.time()) - self.started, 1),
        }

    @property
    def running(self) -> bool:
        return self.state == "running"


class JobManager:
    """Starts, watches and cancels jobs; at most one running job per session, ``max_jobs`` in all."""

    def __init__(self, max_jobs: int = 2, grace_seconds: float = 15.0) -> None:
        self.max_jobs = max_jobs
        self.grace_seconds = grace_seconds
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}  # the latest job of each session

    def start(self, session: str, kind: str, folder: Path, spec: dict) -> Job:
        """Start ``spec`` (see :mod:`.worker`) in ``folder``; refused while this session has a job running or
        ``max_jobs`` jobs run in all."""
        with self._lock:
            mine = self._jobs.get(session)
            if mine is not None and mine.running:
                raise JobRefused(f"a {mine.kind} job is still running in this tab: wait for it or cancel it.", 409)
            if sum(job.running for job in self._jobs.values()) >= self.max_jobs:
                raise JobRefused(f"{self.max_jobs} jobs are running already (other tabs); try again when one ends.", 429)
            folder.mkdir(parents=True, exist_ok=True)
            spec = {**spec, "kind": kind, "result": str(folder / "result.json")}
            (folder / "spec.json").write_text(json.dumps(spec, indent=1))
            process = subprocess.Popen(
                [sys.executable, "-m", "vmat.app.worker", str(folder / "spec.json")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                cwd=folder, start_new_session=True,  # a Ctrl-C in the server's terminal is the server's to handle
            )
            job = Job(id=folder.name, kind=kind, folder=folder, spec=spec, process=process)
            self._jobs[session] = job
        threading.Thread(target=self._watch, args=(job,), name=f"vmat-job-{job.id}", daemon=True).start()
        return job

    def get(self, session: str) -> Job | None:
        return self._jobs.get(session)

    def cancel(self, session: str) -> Job | None:
        """Ask this session's running job to stop (SIGTERM; SIGKILL after the grace period)."""
        job = self._jobs.get(session)
        if job is None or not job.running:
            return job
        job.cancel_requested = True
        _signal(job.process, signal.SIGTERM)
        killer = threading.Timer(self.grace_seconds, _signal, (job.process, signal.SIGKILL))
        killer.daemon = True
        killer.start()
        return job

    def forget(self, session: str) -> None:
        """Cancel and drop a session's job (the session is going away)."""
        self.cancel(session)
        self._jobs.pop(session, None)

    def shutdown(self) -> None:
        """Stop every running job and wait for each to unwind."""
        jobs = [job for job in self._jobs.values() if job.running]
        for job in jobs:
            job.cancel_requested = True
            _signal(job.process, signal.SIGTERM)
        for job in jobs:
            try:
                job.process.wait(self.grace_seconds)
            except subprocess.TimeoutExpired:
                _signal(job.process, signal.SIGKILL)

    def _watch(self, job: Job) -> None:
        last_error = last_line = ""
        tail = ""
        assert job.process.stderr is not None
        stderr = job.process.stderr.fileno()
        for chunk in iter(lambda: os.read(stderr, 4096), b""):
            pieces = re.split(r"[\r\n]", tail + chunk.decode("utf-8", "replace"))
            tail = pieces.pop()
            for piece in pieces:
                if piece.startswith("error: "):
                    last_error = piece[len("error: "):]
                match = _BAR.match(piece)
                if match:
                    job.stage, job.done = match["stage"].strip(), int(match["done"])
                    # A bar without a total (propagation's) counts the clip's frames.
                    job.total = int(match["total"]) if match["total"] else job.spec.get("frames")
                elif piece.strip():
                    last_line = piece.strip()
        code = job.process.wait()
        result = job.folder / "result.json"
        if code == 0 and result.is_file():
            job.result = json.loads(result.read_text())
            job.state, job.message = "done", ""
        elif job.cancel_requested:
            job.state, job.message = "cancelled", "cancelled: unfinished outputs were removed"
        else:
            job.state = "failed"
            job.message = last_error or last_line or f"the worker ended with status {code}"
        job.finished = time.time()


def _signal(process: subprocess.Popen, signum: int) -> None:
    if process.poll() is None:
        try:
            os.kill(process.pid, signum)
        except ProcessLookupError:
            pass
