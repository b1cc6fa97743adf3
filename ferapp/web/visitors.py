"""Frames from the visitors' own cameras: one tracked, smoothed session per browser tab.

The browser sends a frame, waits for the answer, then sends the next: frames the server
has not answered yet are dropped by the page, never queued. The server enforces it too:
a session with a frame in analysis gets 429 for the next one, a session may not send
faster than ``max_fps`` on average (BURST_FRAMES above it, for timer jitter), and at most
``max_sessions`` sessions exist at once, at most ``per_client`` of one client, each
opened by a frame that decoded (idle ones are forgotten). Nothing is stored: a frame
lives for the time of its analysis.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# frames a camera may send in a burst above max_fps: a browser's timers jitter, so a
# camera at 28 frames/s sends some frames closer than 1/30 s apart; the mean rate is held
BURST_FRAMES = 5.0


class LiveError(Exception):
    """A frame refused before analysis; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Session:
    def __init__(self, annotator, client: str, now: float):
        self.annotator, self.client = annotator, client
        self.busy = threading.Lock()
        self.seen = now  # last request (idle sessions are forgotten)
        self.last_frame = float("-inf")  # last accepted frame (rate limit)
        self.allowance = BURST_FRAMES  # frames it may send now (a token bucket)
        self.frames = 0


class BrowserSessions:
    """Tracked, smoothed analysis of frames from browser cameras, one state per session.

    A session exists only once one of its frames was decoded: junk (refused with 4xx)
    takes no slot. At most ``max_sessions`` exist, at most ``per_client`` for one client
    address; when all are taken, the one idle longest gives way if it has sent nothing for
    ``stale_s`` seconds (a closed tab), so nobody holds the slots by opening and leaving.
    """

    def __init__(self, make_annotator, max_sessions: int = 8, idle_s: float = 30.0,
                 max_fps: float = 30.0, clock=time.monotonic, per_client: int = 4,
                 stale_s: float = 5.0):
        self.make_annotator, self.max_sessions = make_annotator, max_sessions
        self.idle_s, self.min_interval, self.clock = idle_s, 1.0 / max_fps, clock
        self.per_client, self.stale_s = per_client, stale_s
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._sessions)

    def _existing(self, sid: str) -> _Session | None:
        if not SESSION_ID.match(sid or ""):
            raise LiveError(400, "missing or malformed 'session': 8-64 letters, digits, - or _")
        now = self.clock()
        with self._lock:
            for old in [k for k, s in self._sessions.items() if now - s.seen > self.idle_s]:
                del self._sessions[old]
            session = self._sessions.get(sid)
            if session is not None:
                session.seen = now
                self._sessions.move_to_end(sid)
            return session

    def _open(self, sid: str, client: str) -> _Session:
        now = self.clock()
        with self._lock:
            if sid in self._sessions:  # opened meanwhile by a parallel first frame
                return self._sessions[sid]
            mine = sum(1 for s in self._sessions.values() if s.client == client)
            if mine >= self.per_client:
                raise LiveError(503, f"{self.per_client} cameras of this client are already "
                                     "connected; stop one first")
            if len(self._sessions) >= self.max_sessions:
                oldest_id, oldest = next(iter(self._sessions.items()))
                if now - oldest.seen < self.stale_s:
                    raise LiveError(503, f"{self.max_sessions} cameras are already "
                                         "connected; try again when one stops")
                del self._sessions[oldest_id]
            session = self._sessions[sid] = _Session(self.make_annotator(), client, now)
            return session

    def analyze(self, sid: str, decode, client: str = ""):
        """Analyse one frame of session ``sid`` from ``client`` (its address);
        ``decode()`` returns the BGR image or raises LiveError. For a known session it is
        called only once the frame is accepted; a new session opens only after it
        succeeded. Returns (results, frame number, ms)."""
        session = self._existing(sid)
        if session is not None:
            return self._track(session, decode)
        started = time.perf_counter()
        image = decode()
        return self._track(self._open(sid, client), lambda: image, started)

    def _track(self, session: _Session, decode, started: float | None = None):
        if not session.busy.acquire(blocking=False):
            raise LiveError(429, "frame dropped: the previous frame of this camera is still "
                                 "being analysed; send the next one after its answer")
        try:
            now = self.clock()
            allowance = min(BURST_FRAMES, session.allowance
                            + (now - session.last_frame) / self.min_interval)
            if allowance < 1:
                raise LiveError(429, f"frame dropped: at most {1 / self.min_interval:.0f} "
                                     "frames/s per camera")
            session.allowance, session.last_frame = allowance - 1, now
            started = started if started is not None else time.perf_counter()
            image = decode()
            results = session.annotator.track(image)
            session.frames += 1
            return results, session.frames, (time.perf_counter() - started) * 1000
        finally:
            session.busy.release()
