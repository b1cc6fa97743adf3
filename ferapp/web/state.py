"""What the app holds between requests (``AppState``) and its configuration defaults."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import current_app

from ferapp.system import cores
from ferapp.vision.motion import DEFAULT_DETECT_EVERY
from ferapp.vision.pipeline import LockedPipeline
from ferapp.vision.tracking import DEFAULT_SMOOTH_S
from ferapp.web.budget import MemoryBudget
from ferapp.web.pacing import Pacer
from ferapp.web.visitors import BrowserSessions


def decode_slots() -> int:
    """Threads decoding and analysing uploads: one core stays free for the live stream."""
    return max(1, cores() - 1)


def defaults() -> dict:
    """The app's configuration defaults (each can be set as $FER_<NAME>)."""
    return {
        "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,  # upload limit: 10 MiB
        "SOURCE": None,
        "SOURCES": None,  # several sources to pick from in the page (default: [SOURCE])
        "LOOP": True,
        "SMOOTH_S": DEFAULT_SMOOTH_S,  # seconds of scores averaged per face
        "LIVE_MAX_SESSIONS": 8,  # browser cameras analysed at once
        "LIVE_MAX_PER_CLIENT": 4,  # ... of them from one client address
        "LIVE_MAX_FPS": 30.0,  # per browser camera
        "LIVE_MAX_BYTES": 2 * 1024 * 1024,  # one browser camera frame
        "LIVE_MAX_PIXELS": 1920 * 1920,
        "DETECTOR": "centerface",
        "DETECT_EVERY": DEFAULT_DETECT_EVERY,  # detector passes; motion carries faces between
        "STAGED": True,  # a stream on two threads: detect frame n+1 while n is classified
        "DECODE_SLOTS": decode_slots(),  # threads (memory is bounded by the budget)
        "DECODE_BUDGET_MB": 256,  # bytes all decodes in flight may hold (web/budget.py)
        "DECODE_WAIT_S": 10.0,  # an upload waits this long for the budget, then gets 503
        "LIVE_WAIT_S": 1.0,  # ... a camera frame this long
        "MAX_VIEWERS": 32,  # streams at once, all sources: below the server's 48 threads
        "STATUS_INTERVAL_S": 0.05,  # /api/status: one answer per client address this often
        "TOKEN": None,  # required on every route but /healthz when set (web/auth.py)
        "AUTH_MAX_FAILURES": 5,  # wrong tokens per client and window before 429
        "AUTH_WINDOW_S": 60.0,
        "AUTH_DAYS": 7,  # lifetime of the session cookie a ?token= URL sets
    }


@dataclass
class AppState:
    """The model, the sources' cameras and the shared analysis state of one app."""

    model: object
    cameras: list  # one VideoCamera per source, by index (the page picks by index only)
    browser: BrowserSessions  # visitors' cameras: one tracked, smoothed state per tab
    stills: LockedPipeline  # the API's own pipeline: uploads are searched as stills
    decode_budget: MemoryBudget  # bytes the decodes in flight hold, uploads and frames
    workers: ThreadPoolExecutor  # the DECODE_SLOTS threads uploads are analysed on
    viewer_slots: threading.BoundedSemaphore  # streams watched at once (each holds a thread)
    status_pacer: Pacer  # /api/status answers per client and second
    # the in-page mode's settings and files, made on first use (web/inpage.py)
    inpage: dict = field(default_factory=dict)

    @classmethod
    def create(cls, model, cameras, browser, stills, slots: int, budget_mb: float = 256,
               max_viewers: int = 32, status_interval: float = 0.05) -> AppState:
        return cls(model, list(cameras), browser, stills, MemoryBudget(budget_mb * 2**20),
                   ThreadPoolExecutor(slots, "upload"), threading.BoundedSemaphore(max_viewers),
                   Pacer(status_interval))


def app_state() -> AppState:
    """The AppState of the app handling the current request."""
    return current_app.extensions["fer"]
