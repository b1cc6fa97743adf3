"""Frames from the visitors' own cameras: one tracked, smoothed session per browser tab.

The browser sends a frame, waits for the answer, then sends the next: frames the server
has not answered yet are dropped by the page, never queued. The server enforces it too:
a session with a frame in analysis gets 429 for the next one, a session may not send
faster than ``max_fps``, and at most ``max_sessions`` sessions exist at once (idle ones
are forgotten). Nothing is stored: a frame lives for the time of its analysis.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class LiveError(Exception):
    """A frame refused before analysis; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Session:
    def __init__(self, annotator, now: float):
        self.annotator = annotator
        self.busy = threading.Lock()
        self.seen = now  # last request (idle sessions are forgotten)
        self.last_frame = float("-inf")  # last accepted frame (rate limit)
        self.frames = 0


class BrowserSessions:
    """Tracked, smoothed analysis of frames from browser cameras, one state per session."""

    def __init__(self, make_annotator, max_sessions: int = 8, idle_s: float = 30.0,
                 max_fps: float = 30.0, clock=time.monotonic):
        self.make_annotator, self.max_sessions = make_annotator, max_sessions
        self.idle_s, self.min_interval, self.clock = idle_s, 1.0 / max_fps, clock
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._sessions)

    def _session(self, sid: str) -> _Session:
        if not SESSION_ID.match(sid or ""):
            raise LiveError(400, "missing or malformed 'session': 8-64 letters, digits, - or _")
        now = self.clock()
        with self._lock:
            for old in [k for k, s in self._sessions.items() if now - s.seen > self.idle_s]:
                del self._sessions[old]
            session = self._sessions.get(sid)
            if session is None:
                if len(self._sessions) >= self.max_sessions:
                    raise LiveError(503, f"{self.max_sessions} cameras are already connected; "
                                         "try again when one stops")
                session = self._sessions[sid] = _Session(self.make_annotator(), now)
            session.seen = now
            self._sessions.move_to_end(sid)
            return session

    def analyze(self, sid: str, decode):
        """Analyse one frame of session ``sid``; ``decode()`` returns the BGR image (it is
        called only once the frame is accepted). Returns (results, frame number, ms)."""
        session = self._session(sid)
        if not session.busy.acquire(blocking=False):
            raise LiveError(429, "frame dropped: the previous frame of this camera is still "
                                 "being analysed; send the next one after its answer")
        try:
            now = self.clock()
            if now - session.last_frame < self.min_interval:
                raise LiveError(429, f"frame dropped: at most {1 / self.min_interval:.0f} "
                                     "frames/s per camera")
            session.last_frame = now
            started = time.perf_counter()
            image = decode()
            results = session.annotator.track(image)
            session.frames += 1
            return results, session.frames, (time.perf_counter() - started) * 1000
        finally:
            session.busy.release()
