"""ferapp.vision.sources: parsing and opening sources, and the demo's real moving video."""

import numpy as np
import pytest

from ferapp.vision.sources import (
    DemoCapture,
    SourceError,
    open_capture,
    parse_source,
    resolve_source,
)


def test_parse_source_kinds(tmp_path, grace_hopper_path):
    assert parse_source("0").kind == "webcam" and parse_source("0").target == 0
    assert parse_source("demo").kind == "demo"
    assert parse_source("rtsp://cam.local/stream").kind == "url"
    assert parse_source(str(grace_hopper_path)).kind == "image"
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")
    assert parse_source(str(video)).kind == "file"
    with pytest.raises(SourceError, match="not a webcam index"):
        parse_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(SourceError, match="unsupported stream scheme"):
        parse_source("file:///etc/passwd")


def test_explicit_source_that_cannot_open_is_an_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(SourceError, match="cannot"):
        resolve_source(str(bad))


def test_default_webcam_missing_falls_back_to_demo(monkeypatch):
    monkeypatch.delenv("FER_SOURCE", raising=False)

    def opener(source):
        if source.kind == "webcam":
            raise SourceError("cannot open webcam 0")
        return open_capture(source)

    assert resolve_source(None, opener).kind == "demo"


def test_demo_source_is_real_moving_video():
    cap = DemoCapture()
    ok1, a = cap.read()
    for _ in range(10):
        ok2, b = cap.read()
    assert ok1 and ok2 and a.shape == (480, 640, 3)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1  # the demo pans
