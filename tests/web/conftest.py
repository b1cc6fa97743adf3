"""Fixtures of the web tests: an app around a fake model and camera, and the real one."""

from __future__ import annotations

import pytest

from ferapp.vision.broadcast import VideoCamera
from ferapp.vision.sources import parse_source
from main import create_app
from tests.helpers import FakeCapture, FakeModel


@pytest.fixture
def fake_app():
    model = FakeModel()
    cam = VideoCamera(parse_source("demo"), lambda f: (f, []), opener=lambda s: FakeCapture())
    app = create_app({"TESTING": True}, model=model, camera=cam)
    yield app
    cam.stop()


@pytest.fixture(scope="module")
def real_app(shipped_model):
    """The real model and the real demo source."""
    app = create_app({"TESTING": True, "SOURCE": "demo"}, model=shipped_model)
    yield app
    app.extensions["fer"].cameras[0].stop()
