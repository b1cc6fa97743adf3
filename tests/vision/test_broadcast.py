"""ferapp.vision.broadcast: one capture thread per source, shared by every viewer."""

import itertools
import threading
import time

import cv2
import numpy as np
import pytest

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


def _run_to_end(cam):
    statuses = [f.status for f in cam.frames()]
    cam.stop()
    return statuses, [faces for _, _, faces in cam.results_since(-1, 10_000)]


def _stage_threads():
    return [t.name for t in threading.enumerate()
            if t.name.startswith("video-camera") and t.is_alive()]


def test_two_stages_give_the_sequential_faces_and_scores_in_order(clip, shipped_model):
    from ferapp.vision.pipeline import ExpressionPipeline, LockedPipeline
    from ferapp.vision.stream import StreamAnnotator

    runs = {}
    for staged in (False, True):
        live = LockedPipeline(ExpressionPipeline(shipped_model))
        cam = VideoCamera(parse_source(str(clip)), StreamAnnotator(live, smooth_s=0),
                          loop=False, staged=staged)
        statuses, runs[staged] = _run_to_end(cam)
        assert statuses[-1] == "ended" and not _stage_threads()
    assert len(runs[True]) == len(runs[False]) == 12  # every frame of the file, in order
    assert runs[True] == runs[False]
    assert sum(len(f) for f in runs[True]) >= 10


class _Staged:
    """A two-stage process that fails in one stage at a given frame."""

    def __init__(self, fail_in=None, at=3):
        self.fail_in, self.at, self.n = fail_in, at, {"locate": 0, "finish": 0}

    def _step(self, stage):
        self.n[stage] += 1
        if stage == self.fail_in and self.n[stage] == self.at:
            raise RuntimeError(f"{stage} failed")

    def locate(self, frame):
        self._step("locate")
        return []

    def finish(self, frame, faces):
        self._step("finish")
        return frame, []


@pytest.mark.parametrize("stage", ["locate", "finish"])
def test_an_error_in_either_stage_shows_error_and_ends_both_threads(stage, caplog):
    cam = VideoCamera(parse_source("demo"), _Staged(stage), opener=lambda s: FakeCapture())
    statuses = []
    for frame in cam.frames():
        statuses.append(frame.status)
        if frame.status == "error":
            break
    deadline = time.monotonic() + 5
    while _stage_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert statuses[-1] == "error" and statuses.count("live") <= 2
    assert not _stage_threads()
    assert f"{stage} failed" in caplog.text


def test_stopping_or_the_last_viewer_leaving_ends_both_stages():
    log = []
    cam = VideoCamera(parse_source("demo"), _Staged(), opener=lambda s: FakeCapture(log=log),
                      idle_timeout=0.3)
    frames = cam.frames()
    next(frames)
    assert "video-camera-detect" in _stage_threads()
    frames.close()  # the last viewer leaves: idle after 0.3 s
    deadline = time.monotonic() + 5
    while _stage_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _stage_threads() and log == ["released"]
    next(cam.frames())  # a new viewer starts it again; stop() ends it at once
    cam.stop()
    assert not _stage_threads()


def test_a_live_source_faster_than_the_analysis_skips_frames_and_never_reorders():
    class SlowFinish(_Staged):
        def finish(self, frame, faces):
            time.sleep(0.02)  # the analysis takes 20 ms, the camera gives a frame every 2
            return frame, []

    capture = FakeCapture(fps=500)
    cam = VideoCamera(parse_source("0"), SlowFinish(), opener=lambda s: capture)
    values = []
    for frame in cam.frames():
        gray = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        values.append(int(gray[0, 0]))  # the capture's frame number (mod 255)
        if len(values) >= 12:
            break
    cam.stop()
    steps = [b - a for a, b in itertools.pairwise(values)]
    assert all(s > 0 for s in steps)  # in order
    assert sum(steps) > 2 * len(steps)  # frames were skipped: the viewer sees the newest
    assert cam.frames_analyzed < capture.n  # skipped frames were never analysed
