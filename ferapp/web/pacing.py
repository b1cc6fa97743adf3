"""Per-client pacing of a polled route: each client address gets at most one answer per
``interval`` seconds; an earlier request waits for its turn (so a client that polls as
fast as it can costs no CPU while it waits), and one that would wait longer than
``max_wait`` gets 429 with Retry-After. At most ``max_waiting`` requests wait at once (each
holds a server thread)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class Busy(Exception):
    """Refused: the client asks too often; ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"polling too fast: at most one answer per client every so often; "
                         f"retry in {retry_after} s")
        self.retry_after = retry_after


class Pacer:
    def __init__(self, interval: float = 0.05, max_wait: float = 1.0, max_waiting: int = 8,
                 max_clients: int = 4096, clock=time.monotonic, sleep=time.sleep):
        self.interval, self.max_wait, self.max_waiting = interval, max_wait, max_waiting
        self.max_clients, self.clock, self.sleep = max_clients, clock, sleep
        self._next: OrderedDict[str, float] = OrderedDict()
        self._waiting = 0
        self._lock = threading.Lock()

    def wait_turn(self, client: str):
        """Return when ``client`` may be answered, or raise Busy."""
        with self._lock:
            now = self.clock()
            turn = max(now, self._next.get(client, now))
            wait = turn - now
            if wait > self.max_wait or (wait > 0 and self._waiting >= self.max_waiting):
                raise Busy(max(1, round(wait)))
            self._next[client] = turn + self.interval
            self._next.move_to_end(client)
            while len(self._next) > self.max_clients:
                self._next.popitem(last=False)
            if wait > 0:
                self._waiting += 1
        if wait > 0:
            try:
                self.sleep(wait)
            finally:
                with self._lock:
                    self._waiting -= 1
