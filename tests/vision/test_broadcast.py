"""ferapp.vision.broadcast: one capture thread per source, shared by every viewer."""

import threading
import time

import cv2
import numpy as np

from ferapp.vision.broadcast import VideoCamera
from ferapp.vision.sources import (
    SourceError,
    parse_source,
)
from tests.helpers import FakeCapture


def passthrough(counter):
    def process(frame):
        counter.append(1)
        return frame, []
    return process


def test_analysis_runs_once_per_frame_for_many_viewers():
    calls = []
    cam = VideoCamera(parse_source("demo"), passthrough(calls),
                      opener=lambda s: FakeCapture(fps=200))
    seen = {i: [] for i in range(4)}

    def viewer(i):
        for frame in cam.frames():
            seen[i].append(frame.number)
            if len(seen[i]) >= 20:
                break

    threads = [threading.Thread(target=viewer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    cam.stop()
    for numbers in seen.values():
        assert numbers == sorted(set(numbers)) and len(numbers) == 20
    # every viewer got frames from the one analysis stream: no frame analysed twice
    assert cam.frames_analyzed == len(calls)
    assert len(calls) < 4 * 20


def test_idle_camera_stops_and_releases():
    log = []
    cam = VideoCamera(parse_source("demo"), passthrough([]),
                      opener=lambda s: FakeCapture(log=log), idle_timeout=0.3)
    frames = cam.frames()
    next(frames)
    frames.close()
    assert cam.viewers == 0
    deadline = time.monotonic() + 5
    while cam.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cam.running and log == ["released"]


def test_live_source_that_stops_reconnects_and_recovers():
    attempts = []

    def opener(source):
        attempts.append(1)
        if len(attempts) == 1:
            return FakeCapture(fail_after=5, fps=20)  # 5 frames, then the camera dies
        if len(attempts) < 4:
            raise SourceError("camera unplugged")
        return FakeCapture()  # and comes back

    cam = VideoCamera(parse_source("0"), passthrough([]), opener=opener,
                      reconnect_delay=0.05)
    statuses = []
    for frame in cam.frames():
        statuses.append(frame.status)
        if statuses.count("live") >= 10 and "reconnecting" in statuses:
            break
    cam.stop()
    first_gap = statuses.index("reconnecting")
    assert first_gap >= 1 and set(statuses[:first_gap]) == {"live"}
    assert statuses[-1] == "live" and len(attempts) >= 4


def _write_video(path, n=6, fps=50.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    for i in range(n):
        writer.write(np.full((48, 64, 3), 40 * i % 255, np.uint8))
    writer.release()


def test_video_file_loops_by_default(tmp_path):
    _write_video(tmp_path / "clip.mp4")
    cam = VideoCamera(parse_source(str(tmp_path / "clip.mp4")), passthrough([]))
    frames = cam.frames()
    for _ in range(15):  # more frames than the file holds
        frame = next(frames)
    frames.close()
    cam.stop()
    assert frame.status == "live" and cam.frames_analyzed >= 15


def test_video_file_without_loop_ends(tmp_path):
    _write_video(tmp_path / "clip.mp4")
    cam = VideoCamera(parse_source(str(tmp_path / "clip.mp4")), passthrough([]), loop=False)
    got = [f.status for f in cam.frames()]
    cam.stop()
    assert got[-1] == "ended" and got.count("live") == 6
