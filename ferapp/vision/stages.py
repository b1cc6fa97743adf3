"""Two stages on two cores: the first stage of the next items runs in a background thread
while the caller works on the current one (ONNX Runtime and OpenCV release the GIL, so the
two overlap). The live stream, the visitors' cameras and the offline analysis use it to
detect frame n+1 while frame n is classified, drawn and encoded."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator

log = logging.getLogger(__name__)

_END = object()


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


def overlapped(items: Iterable, first: Callable, depth: int = 1, name: str = "stage",
               join_s: float = 10.0, skippable: Callable | None = None
               ) -> Iterator[tuple[object, object]]:
    """Yield ``(item, first(item))`` for every item, in order, nothing dropped (but see
    ``skippable``).

    A background thread iterates ``items`` (reading a video there decodes it there too) and
    computes ``first(item)``; at most ``depth`` results wait for the caller, so the thread
    is at most ``depth + 1`` items ahead and memory stays bounded. An exception raised by
    ``items`` or ``first`` is raised in the caller at that item's place. Closing the
    generator (``break``, an exception in the caller, garbage collection) stops the thread
    and closes ``items`` in it, before ``close`` returns (after ``join_s`` seconds, a thread
    stuck in a read is left behind with a warning: it ends when its read does).

    ``skippable(item)``: True for an item that may be dropped, before its first stage,
    when ``depth`` results already wait (a live camera's frames: the source goes on at its
    own pace, the newest frames win and latency stays bounded); items are never reordered.
    """
    if depth < 1:
        raise ValueError("depth must be at least 1")
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(items, first, q, stop, name, skippable),
                              name=name, daemon=True)
    thread.start()
    try:
        while True:
            entry = q.get()
            if entry is _END:
                return
            if isinstance(entry, _Failed):
                raise entry.exc
            yield entry
    finally:
        stop.set()
        deadline = time.monotonic() + join_s
        while thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):  # free a put that waits
                q.get_nowait()
            thread.join(0.05)
        if thread.is_alive():
            log.warning("%s thread still busy after %.0f s; left to end on its own", name, join_s)


def _put(q: queue.Queue, stop: threading.Event, entry) -> bool:
    """Put ``entry`` once there is room; False when stopped first."""
    while not stop.is_set():
        try:
            q.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _produce(items, first, q: queue.Queue, stop: threading.Event, name: str,
             skippable: Callable | None = None):
    """The background stage: (item, first(item)) for each item, then _END or _Failed."""
    it = iter(items)
    try:
        for item in it:
            if stop.is_set():
                return
            if skippable is not None and q.full() and skippable(item):
                continue  # the caller is behind: a live frame it would see late
            if not _put(q, stop, (item, first(item))):
                return
        _put(q, stop, _END)
    except BaseException as exc:  # handed to the caller, who raises it
        _put(q, stop, _Failed(exc))
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("closing the items of %s failed", name)
