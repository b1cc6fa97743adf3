"""Fixtures of the vision tests: the default face detector, loaded once per module."""

from __future__ import annotations

import pytest

from ferapp.vision.detect import make_detector


@pytest.fixture(scope="module")
def detector():
    return make_detector("centerface")
