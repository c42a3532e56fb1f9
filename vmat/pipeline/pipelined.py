"""Both cores busy: a clip's leading stages in a second process, the rest in this one, frames in order.

:class:`PipelinedRunner` is a :class:`~vmat.pipeline.stage.StageRunner`: the stages up to a split point
(mask propagation and depth, say) run in a child process on the next frames while this process runs the
stages after it and whatever the caller does with the records (completion, upsampling, edits, render). The
split is chosen from :data:`STAGE_MS`, the measured cost of every stage, so that the two processes carry
about the same work; ``split`` names it instead.

- The child is forked when this process runs no other thread and it runs on one, else spawned (:class:`_Child`); it builds its
  stages from the factories (models load there, as on a Ray actor) and runs torch and OpenCV at
  ``threads`` threads, like this process.
- Records cross in batches through two pipes, each read by a thread of its own at the far end, so neither
  process waits for the other to be free to read. At most ``ahead`` batches are sent that the child's
  stages have not taken yet: memory stays bounded whatever the clip's length.
- Both sides batch each stage's input as :func:`~vmat.pipeline.stage.run_stages` does, so every stage sees
  the same batches as in one process and the records come back in frame order with the same contents.
- An error in the child is raised here (a :class:`~vmat.errors.VmatError` as the same one-line error, any
  other with the child's traceback as a note); a child that dies ends the run with
  :class:`SecondProcessError`; closing the records' iterator (Ctrl-C, an error here) stops the child.
- The child's stage times are added to the run's ``clock`` at the end of the clip; ``wait`` is this process
  waiting for the child, ``idle`` the child waiting for this process, ``handoff`` both sending records.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import queue
import resource
import signal
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import torch

from vmat.errors import ConfigError, VmatError
from vmat.io.metadata import VideoInfo
from vmat.pipeline.clock import StageClock
from vmat.pipeline.record import FrameRecord
from vmat.pipeline.stage import Stage, StageFactory, batched, run_stages, stage_names, timed
from vmat.pipeline.stream import torch_threads

# Milliseconds per frame of each stage at 1280x720 on the shared 2-core machine, one thread each, in one process
# (docs/results/pipeline.md, "Current": the removal row at the source size; render and edit from the new-background
# row and upsample from the --process-size 640 rows, where it runs, each scaled by the stages the rows share; all
# scaled by 1.38 so that masks to quantise sum as in the earlier table HANDOFF_MS was set beside; the layers file
# not measured again). Stages working at the processing size scale with its pixel count.
STAGE_MS: dict[str, float] = {
    "masks": 64.0, "depth": 23.0, "decompose": 81.0, "camera": 13.5, "temporal": 56.0, "quantise": 13.5,
    "completion": 710.0, "upsample": 34.0, "edit": 7.5, "render": 31.5, "layers file": 29.0,
}
AT_PROCESSING_SIZE = frozenset({"depth", "decompose", "camera", "temporal", "quantise", "completion", "layers file"})
# The stages that give a record its layers: after them, a record crossing to this process carries them too.
LAYERED_AFTER = frozenset({"decompose"})
HANDOFF_MS = {"frame": 5.0, "layers": 25.0}


def core_to_spare() -> bool:
    """Whether a second process would find a CPU of its own: two CPUs or more, and a load average (the last
    minute's) at least one CPU below their number. On a busy machine it would not: under Linux's per-session
    scheduling (autogroup) both processes share one session's share of the CPUs, and pipelining only adds the
    records' handoff (measured: docs/results/pipeline.md)."""
    cpus = os.cpu_count() or 1
    return cpus >= 2 and os.getloadavg()[0] <= cpus - 1


class SecondProcessError(VmatError):
    """The pipeline's second process stopped before the end of the clip (killed, out of memory)."""


def split_point(
    names: Sequence[Sequence[str]],
    downstream: Iterable[str] = (),
    scale: float = 1.0,
    costs: dict[str, float] = STAGE_MS,
    handoff: dict[str, float] = HANDOFF_MS,
) -> int:
    """How many of the leading stages (``names``: the stage names each factory builds) to run in the second
    process so that the busier process has the least to do: this one runs the rest and ``downstream`` (what
    the caller does with the records), and both pay for the records crossing (dearer once they carry layers).
    ``scale``: the processing size's share of the source's pixels."""

    def cost(name: str) -> float:
        return costs.get(name, 0.0) * (scale if name in AT_PROCESSING_SIZE else 1.0)

    stage_ms = [sum(cost(name) for name in group) for group in names]
    after = sum(cost(name) for name in downstream)
    best, best_load, layered = 1, float("inf"), False
    for count in range(1, len(names) + 1):
        layered = layered or any(name in LAYERED_AFTER for name in names[count - 1])
        crossing = handoff["layers"] * scale if layered else handoff["frame"]
        load = max(sum(stage_ms[:count]), sum(stage_ms[count:]) + after) + crossing
        if load < best_load:
            best, best_load = count, load
    return best


class PipelinedRunner:
    """Runs a clip's leading stages in a second process and the rest here (see the module docstring).

    ``split``: the name of the last stage the second process runs (default: chosen by :func:`split_point` from
    ``downstream`` and ``scale``). ``threads``: torch and OpenCV threads of the second process. ``ahead``:
    batches sent and not yet taken. A run's ``clock`` is charged every stage's time, both processes'.
    """

    def __init__(
        self,
        split: str | None = None,
        *,
        downstream: Iterable[str] = (),
        scale: float = 1.0,
        threads: int | None = 1,
        ahead: int = 2,
    ) -> None:
        self.split, self.downstream, self.scale = split, tuple(downstream), scale
        self.threads, self.ahead = threads, ahead
        self.peak_rss_mb = 0.0  # the second process's peak resident memory, over every clip run so far
        self._child: _Child | None = None

    def split_of(self, factories: list[StageFactory]) -> int:
        """How many of ``factories``' stages the second process runs."""
        names = [stage_names(factory) for factory in factories]
        if self.split is None:
            return split_point(names, self.downstream, self.scale)
        for count, group in enumerate(names, start=1):
            if self.split in group:
                return count
        known = ", ".join(name for group in names for name in group)
        raise ConfigError(f"pipeline split {self.split!r} is not one of this run's stages: {known}")

    def start(self) -> None:
        """Start the second process now, for the next :meth:`run`: called before this process starts any other
        thread (decoding, encoding), it is forked, at once, instead of spawned."""
        if self._child is None:
            self._child = _Child(self.threads)

    def close(self) -> None:
        """Stop a second process started and not used."""
        if self._child is not None:
            self._child.stop()
            self._child = None

    def run(
        self,
        records: Iterable[FrameRecord],
        factories: list[StageFactory],
        info: VideoInfo,
        batch_size: int,
        clock: StageClock | None = None,
    ) -> Iterator[FrameRecord]:
        clock = clock if clock is not None else StageClock()  # untimed: charged to a clock nobody reads
        count = self.split_of(factories) if factories else 0
        here = [timed(factory(), clock) for factory in factories[count:]]
        if not count:
            return run_stages(records, here, info, batch_size)
        return self._run(records, factories[:count], here, info, batch_size, clock)

    def _run(
        self, records: Iterable[FrameRecord], factories: list[StageFactory], here: list[Stage], info: VideoInfo,
        batch_size: int, clock: StageClock,
    ) -> Iterator[FrameRecord]:
        with clock.measure("wait"):
            self.start()
        child, self._child = self._child, None  # one process per clip: its stages' state is the clip's
        assert child is not None
        try:
            with clock.measure("wait"):
                child.wait_ready()
            child.send((factories, info, batch_size))
            yield from run_stages(self._exchange(records, child, batch_size, clock), here, info, batch_size)
        finally:  # also when the caller closes this iterator early
            child.stop()

    def _exchange(
        self, records: Iterable[FrameRecord], child: _Child, batch_size: int, clock: StageClock
    ) -> Iterator[FrameRecord]:
        batches = batched(records, batch_size)
        waiting, more = 0, True  # batches sent that the child's stages have not taken yet
        while True:
            while more and waiting < self.ahead:
                batch = next(batches, None)
                with clock.measure("handoff"):
                    child.send(batch)
                more, waiting = batch is not None, waiting + (batch is not None)
            with clock.measure("wait"):
                kind, payload = child.outbox.get()
            if kind == "taken":
                waiting -= 1
            elif kind == "record":
                yield payload
            elif kind == "end":
                child.finished = True
                seconds, peak_rss_mb = payload
                clock.add(seconds)
                self.peak_rss_mb = max(self.peak_rss_mb, peak_rss_mb)
                return
            else:
                raise _child_error(payload)


class _Child:
    """The second process and both ends of its pipes: ``inbox`` to send to it, ``outbox`` to read from it.

    It is forked when this process runs no other Python thread (nothing can then be held across the fork by
    another thread, and the modules are already loaded: it starts at once) and the child runs torch on one
    thread: torch's OpenMP runtime (GNU libgomp) hangs a forked child at its first parallel operation on more
    threads once this process has run some of its own. Otherwise it is spawned, a fresh interpreter that
    imports the stages' modules (a second or two, while this process waits in short slices that a signal can
    interrupt: a forkserver would be quicker from the second run on, but waiting for it to start cannot be
    interrupted)."""

    def __init__(self, threads: int | None) -> None:
        one_thread = (torch.get_num_threads() if threads is None else threads) == 1  # None: it inherits ours
        forked = threading.active_count() == 1 and one_thread
        context = multiprocessing.get_context("fork") if forked else multiprocessing.get_context("spawn")
        child_inbox, self.inbox = context.Pipe(duplex=False)
        outbox, child_outbox = context.Pipe(duplex=False)
        # A forked child inherits this process's ends too, and must close them for its pipes to end when we go.
        inherited = (self.inbox, outbox) if forked else ()
        self.process = context.Process(
            target=_serve, args=(child_inbox, child_outbox, threads, inherited), name="vmat-stages", daemon=True
        )
        with _main_module_hidden(), _opencv_workers_stopped() if forked else nullcontext():
            self.process.start()
        # Only the child holds its ends now: when it dies, this process reads the end of its pipe at once.
        child_inbox.close()
        child_outbox.close()
        self.outbox = _Receiver(outbox, self.process)
        self.finished = False  # the child has sent the end of the clip

    def send(self, message: Any) -> None:
        """Send ``message``; a child that stopped reading has said why (an error), which is raised, or died."""
        try:
            _send(self.inbox, message)
        except OSError:
            while True:  # its records and acknowledgements no longer matter; the end of the pipe raises
                kind, payload = self.outbox.get()
                if kind == "error":
                    raise _child_error(payload) from None

    def wait_ready(self) -> None:
        """Until the child reads its pipe (a spawned one imports the stages first): until then a large message
        would hold this thread in a write that no signal interrupts."""
        kind, payload = self.outbox.get()
        if kind != "ready":
            raise _child_error(payload)

    def stop(self) -> None:
        """End the child: once it has sent the end of the clip, closing its inbox ends it; before (an error, an
        interruption), nothing it could still send is wanted, so it is terminated at once."""
        self.inbox.close()
        self.process.join(2.0 if self.finished else 0.0)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.outbox.join()


@contextmanager
def _opencv_workers_stopped() -> Iterator[None]:
    """OpenCV's worker threads stopped while a child is forked, and started again after.

    A forked child inherits the state of OpenCV's thread pool but none of its threads; when the child then
    sets another thread count (as :func:`~vmat.pipeline.stream.torch_threads` does), OpenCV tears the pool
    down, waiting on its workers' condition variable for threads that do not exist there, forever. It hung
    whenever this process had run OpenCV on several threads and its workers had gone idle before the fork
    (``pytest tests/editing tests/pipeline``). With one thread there is no worker to inherit."""
    import cv2

    count = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(count)


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While a child starts: the caller's ``__main__`` unnamed, so that a spawned child does not import it again
    (multiprocessing's way, which would rerun a script without a ``__main__`` guard). The child runs only
    vmat's code; its factories must not be defined in ``__main__``."""
    main = sys.modules["__main__"]
    saved: dict[str, Any] = {name: main.__dict__.pop(name) for name in ("__spec__", "__file__") if name in main.__dict__}
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _serve(inbox_end: Connection, outbox: Connection, threads: int | None, inherited: tuple[Connection, ...]) -> None:
    """The second process: build the stages, run the clip's batches through them, send each record back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops this process
    for connection in inherited:
        connection.close()
    inbox = _Receiver(inbox_end)
    _send(outbox, ("ready", None))
    clock = StageClock()

    def taken() -> Iterator[FrameRecord]:
        while True:
            with clock.measure("idle"):
                batch = inbox.get()
            if batch is None:
                return
            _send(outbox, ("taken", None))  # so the parent sends the next batch while these are worked on
            yield from batch

    try:
        with torch_threads(threads):
            factories, info, batch_size = inbox.get()
            stages: list[Stage] = [timed(factory(), clock) for factory in factories]
            for record in run_stages(taken(), stages, info, batch_size):
                with clock.measure("handoff"):
                    _send(outbox, ("record", record))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
        _send(outbox, ("end", (clock.seconds, peak_mb)))
    except _ParentGone:
        pass
    except BaseException as error:  # the parent raises it
        try:
            _send(outbox, ("error", _error_report(error)))
        except OSError:
            pass  # the parent is gone


class _ParentGone(Exception):
    """The parent closed its end: the run is over (finished, stopped, or the parent died)."""


class _Receiver:
    """Messages from a pipe, read and unpickled by a thread of its own as soon as they come, so that the
    sender never waits for this process to be free. :meth:`get` raises :class:`_ParentGone` at the end of the
    pipe, or :class:`SecondProcessError` when ``sender`` (the child) stops without finishing."""

    def __init__(self, connection: Connection, sender: BaseProcess | None = None) -> None:
        self.connection, self.sender = connection, sender
        self._messages: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, name="vmat-receive", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                message = _receive(self.connection)
            except (EOFError, OSError):
                self._messages.put(_CLOSED)
                return
            self._messages.put(message)

    def get(self) -> Any:
        while True:
            try:
                message = self._messages.get(timeout=0.5)  # in slices: Ctrl-C reaches a waiting main thread
            except queue.Empty:
                continue
            if message is _CLOSED:
                self._messages.put(_CLOSED)  # for any later get
                if self.sender is None:
                    raise _ParentGone
                self.sender.join(5.0)
                raise SecondProcessError(
                    f"the pipeline's second process stopped before the end of the clip ({_exit(self.sender.exitcode)}); "
                    "run with --no-pipelining to use one process"
                )
            return message

    def join(self) -> None:
        self._thread.join()
        self.connection.close()


_CLOSED = object()


def _exit(code: int | None) -> str:
    if code is None:
        return "it closed its pipe"
    if code < 0:
        name = signal.Signals(-code).name
        return f"killed by {name}" + (", perhaps for lack of memory" if name == "SIGKILL" else "")
    return f"exit status {code}"


class _Pickler(pickle.Pickler):
    """Pickles CPU tensors as numpy arrays: torch's own pickling goes through ``torch.save``, several times slower."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is torch.Tensor and obj.device.type == "cpu" and not obj.requires_grad and obj.dtype in _NUMPY_DTYPES:
            return torch.from_numpy, (obj.numpy(),)
        return NotImplemented


_NUMPY_DTYPES = frozenset(
    {torch.float32, torch.float64, torch.float16, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool}
)


def _send(connection: Connection, message: Any) -> None:
    """``message`` pickled with its arrays out of band: a framed header (the pickle and the arrays' sizes), then
    each array's memory written to the pipe as it is and read by :func:`_receive` straight into the memory of
    the array it rebuilds (multiprocessing's own framing would copy each array three more times)."""
    buffers: list[pickle.PickleBuffer] = []
    stream = io.BytesIO()
    _Pickler(stream, protocol=5, buffer_callback=buffers.append).dump(message)
    views = [buffer.raw() for buffer in buffers]
    connection.send_bytes(pickle.dumps((stream.getvalue(), [view.nbytes for view in views])))
    for view in views:
        while view:
            view = view[os.write(connection.fileno(), view) :]


def _receive(connection: Connection) -> Any:
    stream, sizes = pickle.loads(connection.recv_bytes())
    buffers = [bytearray(size) for size in sizes]
    for buffer in buffers:
        view = memoryview(buffer)
        while view:
            read = os.readv(connection.fileno(), [view])
            if not read:
                raise EOFError
            view = view[read:]
    return pickle.loads(stream, buffers=buffers)


def _error_report(error: BaseException) -> tuple[bytes | None, bool, str, str, str]:
    """``error`` as the parent can raise it: pickled when it comes back whole, and by kind, message and traceback."""
    blob: bytes | None = None
    try:
        pickled = pickle.dumps(error)
        pickle.loads(pickled)  # an exception whose constructor takes more than its message does not come back
        blob = pickled
    except Exception:
        pass
    return blob, isinstance(error, VmatError), type(error).__name__, str(error), traceback.format_exc()


def _child_error(report: tuple[bytes | None, bool, str, str, str]) -> BaseException:
    blob, user_error, kind, message, trace = report
    if blob is not None:
        error: BaseException = pickle.loads(blob)
    else:
        error = VmatError(message) if user_error else RuntimeError(f"{kind}: {message}")
    if not user_error:
        error.add_note(f"in the pipeline's second process:\n{trace}")
    return error
