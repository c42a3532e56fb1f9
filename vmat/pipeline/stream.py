"""The one pass over a clip: decode once, every stage in the same stream, nothing on disk unless asked.

``decode (own thread) -> masks (ordered, bounded backward window) -> shrink -> depth -> decomposition ->
temporal`` run as :class:`~vmat.pipeline.stage.Stage`\\ s (in this process or on Ray actors); the full-size
frames stay in this process beside the records (only as many as are in flight) for what needs them last:
``completion (bounded look-ahead) -> upsample -> edits -> render -> encode (own thread)``. Files (layers,
masks, each person's videos, the preview) are sinks on the same stream.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import torch

from vmat.io.frame import Frame
from vmat.layers import LayerStack
from vmat.pipeline.record import FrameRecord

T = TypeVar("T")

_END = object()


def stored(stack: LayerStack) -> LayerStack:
    """``stack`` as the layers file gives it back (:func:`~vmat.layers.store.encode_stack` then
    :func:`~vmat.layers.store.decode_stack`: 8-bit colour, 16-bit alpha, each person only over the box of their
    alpha), without the file: edits made in the run and edits redone later from the saved layers give the same
    pictures."""
    colour_in, alpha_in = stack.colour.detach().cpu(), stack.alpha.detach().cpu()
    colour, alpha = torch.zeros_like(colour_in), torch.zeros_like(alpha_in)
    colour[0] = _rounded(colour_in[0], 255)
    alpha[0] = 1.0
    for plane in range(1, len(stack.ids)):
        present = alpha_in[plane] * 65535 > 0.5  # what rounds to a non-zero 16-bit alpha
        rows, cols = torch.nonzero(present.any(dim=1)), torch.nonzero(present.any(dim=0))
        if len(rows):
            box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
            alpha[plane][box] = _rounded(alpha_in[plane][box], 65535)
            colour[plane][(slice(None), *box)] = _rounded(colour_in[plane][(slice(None), *box)], 255)
    return LayerStack(colour, alpha, stack.depth.detach().cpu().float(), tuple(stack.ids))


def _rounded(values: torch.Tensor, scale: float) -> torch.Tensor:
    return values.clamp(0, 1).mul_(scale).round_().div_(scale)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Torch's intra-op and OpenCV's thread counts set to ``count`` while the block runs (``None``: unchanged)."""
    import cv2
    import torch

    if count is None:
        yield
        return
    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(count)
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def in_thread(items: Iterable[T], ahead: int = 4) -> Generator[T, None, None]:
    """Yield ``items``, produced by a thread of their own at most ``ahead`` items in advance (decoding
    overlaps the stages; the codec releases the GIL). An error in the thread is raised here; closing the
    generator stops the thread. Close it before what ``items`` reads from (``with closing(in_thread(reader))``
    inside the reader's ``with``): an error on its way out keeps an unclosed generator alive."""
    buffer: queue.Queue = queue.Queue(ahead)
    stop = threading.Event()

    def hand_over(entry: tuple) -> bool:
        """Queue ``entry`` unless the consumer has gone; ``False`` once it has."""
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over((item, None)):
                    return
            hand_over((_END, None))
        except BaseException as error:  # handed to the consumer, which raises it
            hand_over((_END, error))

    thread = threading.Thread(target=produce, name="vmat-decode", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()


class BackgroundSink:
    """Calls ``write(item)`` on a thread of its own (encoding overlaps the stages), at most ``ahead`` items
    queued; :meth:`close` waits for the rest and raises the thread's error, if any."""

    def __init__(self, write: Callable[[object], None], ahead: int = 4) -> None:
        self._write = write
        self._queue: queue.Queue = queue.Queue(ahead)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="vmat-encode", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._error is None:
                try:
                    self._write(item)
                except BaseException as error:  # raised by put() or close() in the caller's thread
                    self._error = error

    def put(self, item: object) -> None:
        if self._error is not None:
            self.close()
        self._queue.put(item)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


class Alongside(Generic[T]):
    """Values kept in step with a stream that a later stage may hold back (completion's look-ahead): each is
    :meth:`keep`-ed when its frame enters and :meth:`take`-n, in order, when that frame comes out."""

    def __init__(self) -> None:
        self._waiting: deque[T] = deque()

    def keep(self, value: T) -> None:
        self._waiting.append(value)

    def take(self) -> T:
        return self._waiting.popleft()


def paired(records: Iterable[FrameRecord], frames: Alongside[Frame]) -> Iterator[tuple[Frame, FrameRecord]]:
    """Each processed record with its full-size decoded frame (records come back in frame order)."""
    for record in records:
        frame = frames.take()
        if frame.index != record.index:
            raise RuntimeError(f"the stages returned frame {record.index} where frame {frame.index} was due")
        yield frame, record
