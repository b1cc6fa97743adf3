"""Fixtures of the batch tests: a folder of clips and one local run over it, shared by the
local and Ray engine tests (computed once)."""

from __future__ import annotations

import pytest

from tests.offline.clips import analyze, make_clips


@pytest.fixture(scope="session")
def clips(tmp_path_factory, grace_hopper):
    folder = tmp_path_factory.mktemp("recordings")
    make_clips(folder, grace_hopper)
    return folder


@pytest.fixture(scope="session")
def local_run(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    proc = analyze(clips, "--out", out, "--no-video", "--workers", "2")
    return out, proc
