"""VideoCamera: one background thread reads, analyses and JPEG-encodes each frame once and
broadcasts it to every viewer (the pattern of Miguel Grinberg's "Video Streaming with Flask").
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from ferapp.vision.draw import draw_banner, encode_jpeg
from ferapp.vision.sources import Source, SourceError, open_capture
from ferapp.vision.stages import overlapped

log = logging.getLogger(__name__)


@dataclass
class Frame:
    """One analysed frame as the viewers get it."""

    number: int
    jpeg: bytes
    faces: list = field(default_factory=list)
    width: int = 0
    height: int = 0
    status: str = "live"


class VideoCamera:
    """Capture and analyse frames in one background thread; broadcast them to all viewers.

    The thread starts with the first viewer and stops, releasing the capture, when
    nobody has asked for a frame for ``idle_timeout`` seconds.

    Args:
        source: a Source (see parse_source).
        process: called with each BGR frame; returns (annotated frame, results).
        opener: opens a Source (replaced by fakes in tests).
        loop: replay a video file from the start when it ends.
        reconnect_delay: seconds between attempts to reopen a live source that stopped.
        staged: with a two-stage ``process`` (``locate`` and ``finish``, a StreamAnnotator),
            locate the faces of the next frame on a second thread while this one is
            classified, drawn and encoded (both cores on one stream; a frame or two of
            latency, bounded). Frames are never reordered.
    """

    def __init__(self, source: Source, process, opener=open_capture, loop: bool = True,
                 idle_timeout: float = 5.0, reconnect_delay: float = 1.0,
                 jpeg_quality: int = 80, history: int = 3600, staged: bool = True):
        self.source, self.process, self.opener = source, process, opener
        self.staged = staged
        self._thread_name = "video-camera"
        self.loop, self.idle_timeout = loop, idle_timeout
        self.reconnect_delay, self.jpeg_quality = reconnect_delay, jpeg_quality
        self.frames_analyzed = 0
        self.fps = 0.0
        self._latest: Frame | None = None
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_access = 0.0
        self._stop = threading.Event()
        self._viewers = 0
        # the results of the last frames, for timelines and recordings: (number, unix
        # time, faces); 3600 frames = 2 minutes at 30 frames/s
        self._history: deque = deque(maxlen=history)

    # -- viewer side -------------------------------------------------------------------
    @property
    def viewers(self) -> int:
        return self._viewers

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def latest(self) -> Frame | None:
        """The newest frame, without waiting (for status polling)."""
        return self._latest

    def results_since(self, after: int, limit: int = 120) -> list:
        """(number, unix time, faces as dicts) of the analysed frames numbered after
        ``after``, oldest first, at most ``limit``: a client pages forward from the last
        number it got, and each answer costs at most ``limit`` frames."""
        with self._cond:
            start = bisect.bisect_right(self._history, after, key=lambda h: h[0])
            return list(itertools.islice(self._history, start, start + max(0, limit)))

    def wait_frame(self, after: int = -1, timeout: float = 5.0) -> Frame | None:
        """Block until a frame newer than ``after`` exists; None on timeout or end of video."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._last_access = time.monotonic()
            self._ensure_running()
            while self._latest is None or self._latest.number <= after:
                if self._latest is not None and self._latest.status == "ended":
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.5))
                self._last_access = time.monotonic()
                self._ensure_running()
            return self._latest

    def frames(self):
        """Yield each new frame to one viewer until the stream ends or it disconnects."""
        with self._cond:
            self._viewers += 1
        try:
            number = -1
            while True:
                frame = self.wait_frame(number)
                if frame is None:
                    if self._latest is not None and self._latest.status == "ended":
                        return
                    continue
                number = frame.number
                yield frame
        finally:
            with self._cond:
                self._viewers -= 1

    def stop(self, timeout: float = 5.0):
        """Stop the capture thread and release the source."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._stop.clear()

    # -- capture side ------------------------------------------------------------------
    def _ensure_running(self):
        if self.running or (self._latest is not None and self._latest.status == "ended"):
            return
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def _publish(self, jpeg: bytes, faces, width: int, height: int, status: str = "live"):
        """Make a frame the newest one (numbered after the previous) and wake the viewers."""
        with self._cond:
            number = self._latest.number + 1 if self._latest else 1
            self._latest = Frame(number, jpeg, faces, width, height, status)
            if status == "live":
                # as dicts once here, not on every poll of every client
                self._history.append((number, time.time(), [r.to_dict() for r in faces]))
            self._cond.notify_all()

    def _status_frame(self, text: str, status: str):
        last = self._latest
        base = np.full((480, 640, 3), 30, np.uint8)
        if last is not None and last.jpeg:
            decoded = cv2.imdecode(np.frombuffer(last.jpeg, np.uint8), cv2.IMREAD_COLOR)
            base = decoded if decoded is not None else base
        draw_banner(base, text)
        self._publish(encode_jpeg(base), [], base.shape[1], base.shape[0], status)

    def _idle(self) -> bool:
        return time.monotonic() - self._last_access > self.idle_timeout

    def _run(self):
        log.info("capture thread started for %s", self.source.text)
        staged = self.staged and hasattr(self.process, "locate")
        items = self._captured()
        # two stages: this thread classifies, draws and encodes frame n while the
        # "-detect" thread reads and locates the faces of frame n+1
        # (a live source's frames that come while the capture thread is behind are skipped
        # there, before their detection; a file's wait their turn: none is lost)
        skippable = (lambda item: item[0] == "frame") if self.source.live else None
        steps = (overlapped(items, self._locate, name=f"{self._thread_name}-detect",
                            skippable=skippable)
                 if staged else ((item, None) for item in items))
        try:
            for item, faces in steps:
                if item[0] == "status":
                    self._status_frame(item[1], item[2])
                    continue
                image = item[1]
                annotated, results = (self.process.finish(image, faces) if staged
                                      else self.process(image))
                jpeg = encode_jpeg(annotated, self.jpeg_quality)
                self.frames_analyzed += 1
                h, w = annotated.shape[:2]
                self._publish(jpeg, results, w, h)
                self._update_fps()
        except Exception:
            log.exception("capture thread failed")
            self._status_frame("error: see the server log", "error")
        finally:
            steps.close()
            with contextlib.suppress(ValueError):  # still reading in a stuck "-detect" thread
                items.close()
            log.info("capture thread stopped (%s)", "idle" if self._idle() else "stopped")

    def _locate(self, item):
        return self.process.locate(item[1]) if item[0] == "frame" else None

    def _captured(self):
        """Yield ("frame", image) for each frame read, paced to a file's frame rate, and
        ("status", text, status) where the viewers should be told something, until stopped,
        idle or (without loop) at the end of a file; the capture is released at the end."""
        cap = None
        try:
            while not self._stop.is_set() and not self._idle():
                if cap is None:
                    try:
                        cap = self.opener(self.source)
                    except SourceError as exc:
                        log.warning("%s; retrying in %.1fs", exc, self.reconnect_delay)
                        yield ("status", "source unavailable: reconnecting...", "reconnecting")
                        self._stop.wait(self.reconnect_delay)
                        continue
                    period = 1.0 / (cap.get(cv2.CAP_PROP_FPS) or 30.0)
                    if self.source.live:
                        period = 0.0  # a live source paces itself
                    next_due = time.monotonic()
                ok, image = cap.read()
                if not ok or image is None:
                    cap.release()
                    cap = None
                    if self.source.kind == "file" and not self.loop:
                        yield ("status", "end of video", "ended")
                        return
                    if self.source.live:
                        yield ("status", "source stopped: reconnecting...", "reconnecting")
                    continue  # files reopen from the start: loop
                yield ("frame", image)
                if period:
                    next_due = max(next_due + period, time.monotonic() - period)
                    self._stop.wait(max(0.0, next_due - time.monotonic()))
        finally:
            if cap is not None:
                cap.release()

    def _update_fps(self):
        now = time.monotonic()
        last = getattr(self, "_last_frame_time", None)
        if last is not None:
            inst = 1.0 / max(now - last, 1e-6)
            self.fps = inst if self.fps == 0 else 0.9 * self.fps + 0.1 * inst
        self._last_frame_time = now
