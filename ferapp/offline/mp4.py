"""Annotated video output: H.264 MP4 through the ffmpeg binary that imageio-ffmpeg ships.

Frames carry their time in the recording: the writer keeps a constant frame rate,
repeating a frame until the next one's time (or dropping one that comes early), so a
variable-frame-rate recording gives an annotated copy of its true length. The file is
written under a hidden temporary name and renamed when closed: a run that is killed
leaves no half-written video under the name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import uuid
from pathlib import Path

import cv2
import numpy as np


class Mp4Writer:
    """H.264 MP4 through the ffmpeg binary that imageio-ffmpeg ships; OpenCV mp4v otherwise."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.path, self.proc, self.cv = Path(path), None, None
        self.tmp = self.path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{self.path.name}")
        self.fps, self.written, self.last = fps, 0, None
        w, h = size
        try:
            import imageio_ffmpeg

            exe = imageio_ffmpeg.get_ffmpeg_exe()
        except Exception:
            exe = None
        if exe and w % 2 == 0 and h % 2 == 0:
            cmd = [exe, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
                   "-s", f"{w}x{h}", "-r", f"{fps:.6f}", "-i", "-", "-an", "-c:v", "libx264",
                   "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
                   "-movflags", "+faststart", "-f", "mp4", str(self.tmp)]
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        else:
            self.cv = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                      (w, h))

    def _put(self, frame: np.ndarray):
        if self.proc is not None:
            try:
                self.proc.stdin.write(np.ascontiguousarray(frame).tobytes())
            except BrokenPipeError:  # ffmpeg stopped: it could not write its output
                self.abort()
                raise self._ffmpeg_failed() from None
        else:
            self.cv.write(frame)
        self.written += 1

    def _fill_to(self, t: float):
        """Repeat the last frame until the output reaches time ``t``."""
        while self.last is not None and self.written < round(t * self.fps):
            self._put(self.last)

    def write(self, frame: np.ndarray, t: float | None = None):
        """Add ``frame``, shown from time ``t`` (seconds; None: right after the last); one
        that comes before its slot at the writer's rate (a faster stretch of a variable
        rate) is dropped."""
        if t is not None:
            if self.written > round(t * self.fps):
                return
            self._fill_to(t)
        self._put(frame)
        self.last = frame.copy() if t is not None else frame

    def close(self, end: float | None = None):
        """Finish the video (held to time ``end`` if given) and give it its name."""
        if end is not None:
            self._fill_to(end)
        if self.proc is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
            if self.proc.wait() != 0:
                self.abort()
                raise self._ffmpeg_failed()
        elif self.cv is not None:
            self.cv.release()
        try:
            os.replace(self.tmp, self.path)
        except OSError:
            self.abort()
            raise

    def _ffmpeg_failed(self) -> OSError:
        return OSError(errno.EIO, "ffmpeg could not write the video (a folder that cannot "
                       "be written, a full disk?)", str(self.path))

    def abort(self):
        """Drop the video: nothing is left under its name or the temporary one."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
            self.proc.wait()
        elif self.cv is not None:
            self.cv.release()
        # a folder that can no longer be written keeps it: the next run removes it
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)
