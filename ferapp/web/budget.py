"""One memory budget for the server's image decodes, in bytes, whatever the cores.

Each upload or camera frame holds its decode's cost (``intake.probe``: read from the
header, before a pixel is decoded) while it is decoded and analysed; one that would pass
the budget waits its turn, first come first served, up to a timeout (then the caller
answers 503 with Retry-After). An image whose cost alone passes the budget can never be
decoded here: ``TooLarge``, for a 413.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque


class TooLarge(ValueError):
    """A cost above the whole budget."""


class MemoryBudget:
    """``total`` bytes shared by the decodes in flight (see the module's docstring)."""

    def __init__(self, total: int):
        self.total = int(total)
        self.used = 0
        self._cond = threading.Condition()
        self._queue: deque = deque()  # waiting tickets, oldest first

    def acquire(self, cost: int, timeout: float) -> bool:
        """Take ``cost`` bytes, waiting up to ``timeout`` s for the ones ahead; False if
        the wait ran out. Raises TooLarge when ``cost`` exceeds the whole budget."""
        cost = max(0, int(cost))
        if cost > self.total:
            raise TooLarge(f"needs {cost} bytes, the budget is {self.total}")
        deadline = time.monotonic() + timeout
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or self.used + cost > self.total:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                self.used += cost
                return True
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the next in line may fit now

    def release(self, cost: int) -> None:
        with self._cond:
            self.used -= max(0, int(cost))
            self._cond.notify_all()

    @contextlib.contextmanager
    def hold(self, cost: int, timeout: float):
        """``with budget.hold(cost, timeout) as admitted:`` (see ``acquire``)."""
        admitted = self.acquire(cost, timeout)
        try:
            yield admitted
        finally:
            if admitted:
                self.release(cost)

    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)
