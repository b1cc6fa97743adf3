"""ferapp.offline.batch: many recordings, Parquet and summary outputs, reruns and killed runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.helpers import ROOT


def make_clips(folder: Path, photo: np.ndarray, n: int = 4, frames: int = 20,
               corrupt: bool = True) -> list[Path]:
    """n short clips of a real face moving differently, plus one corrupt 'video'."""
    folder.mkdir(parents=True, exist_ok=True)
    face = cv2.resize(photo, (160, 188), interpolation=cv2.INTER_AREA)
    paths = []
    for k in range(n):
        path = folder / ("nested" if k == n - 1 and n > 1 else "") / f"clip{k}.mp4"
        path.parent.mkdir(exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
        for i in range(frames):
            frame = np.full((240, 320, 3), 40 + 10 * k, np.uint8)
            x = 20 + (3 + k) * i % 120
            frame[26:214, x:x + 160] = face
            writer.write(frame)
        writer.release()
        paths.append(path)
    if corrupt:
        (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 but no video at all")
    return paths


def analyze(*args, timeout=600):
    return subprocess.run([sys.executable, "analyze.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def outputs(out: Path) -> dict[str, pd.DataFrame]:
    return {p.parent.name: pd.read_csv(p) for p in sorted((out / "recordings").glob("*/faces.csv"))}


@pytest.fixture(scope="module")
def clips(tmp_path_factory, grace_hopper):
    folder = tmp_path_factory.mktemp("recordings")
    make_clips(folder, grace_hopper)
    return folder


@pytest.fixture(scope="module")
def local_run(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    proc = analyze(clips, "--out", out, "--no-video", "--workers", "2")
    return out, proc


@pytest.mark.parametrize("make_args, needle", [
    (lambda t: [t / "empty", "--out", t / "o"], "holds no images or videos"),
    (lambda t: [t / "empty", "--out", t / "o", "--engine", "ray"], "holds no video"),
    (lambda t: [str(t / "*.mkv"), "--out", t / "o"], "matches no file"),
    (lambda t: [t / "nothing-here", "--out", t / "o", "--engine", "local"], "does not exist"),
    (lambda t: [t / "one.mp4", "--out", t / "file.txt" / "sub", "--engine", "local"],
     "cannot write to the output folder"),
    (lambda t: [t / "one.mp4", "--out", t / "o", "--engine", "ray", "--address",
                "ray://127.0.0.1:9"], "cannot reach the Ray cluster"),
    (lambda t: [t / "one.mp4", "--engine", "local"], "give --out DIR"),
])
def test_bad_batch_input_is_one_line_before_any_work(tmp_path, grace_hopper, make_args, needle):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("a file, not a folder")
    make_clips(tmp_path / "src", grace_hopper, n=1, frames=2)
    (tmp_path / "src" / "clip0.mp4").rename(tmp_path / "one.mp4")
    t = time.monotonic()
    proc = analyze(*make_args(tmp_path), timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "recordings").exists()  # no work started
    assert time.monotonic() - t < 60


@pytest.mark.slow
def test_local_engine_outputs_parquet_summary_failures_and_reruns_nothing(local_run, clips):
    out, proc = local_run
    assert proc.returncode == 1, proc.stderr  # one recording failed
    assert "4 analysed, 0 already done, 1 failed" in proc.stdout
    per_rec = outputs(out)
    assert sorted(per_rec) == ["clip0.mp4", "clip1.mp4", "clip2.mp4", "nested__clip3.mp4"]
    assert all(len(df) == 20 for df in per_rec.values())  # one face in each of 20 frames
    data = pd.read_parquet(out / "faces.parquet")
    assert sorted(data["recording"].unique()) == sorted(per_rec)
    assert len(data) == 80
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["recording"]) == sorted(per_rec)
    assert (summary["duration_s"] == 2.0).all() and (summary["faces"] == 1).all()
    shares = summary.filter(like="share_").sum(axis=1)
    assert np.allclose(shares, 1)
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures["recording"]) == ["broken.mp4"]
    assert "cannot decode" in failures["error"][0]
    assert not list((out / ".partial").glob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    again = analyze(clips, "--out", out, "--no-video", "--workers", "2")
    assert "0 analysed, 4 already done, 0 failed, 1 failed before" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == stamps


@pytest.mark.slow
def test_a_killed_run_resumes_without_duplicate_rows(tmp_path, grace_hopper):
    src = tmp_path / "many"
    make_clips(src, grace_hopper, n=6, frames=40, corrupt=False)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "analyze.py", str(src), "--out", str(out),
                             "--no-video", "--workers", "1"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list((out / "recordings").glob("*")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # mid-way: one or more done, others not
    proc.wait(30)
    done_before = len(list((out / "recordings").glob("*")))
    assert 1 <= done_before < 6
    resumed = analyze(src, "--out", out, "--no-video", "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{6 - done_before} analysed, {done_before} already done" in resumed.stdout
    data = pd.read_parquet(out / "faces.parquet")
    assert len(data) == 6 * 40
    assert not data.duplicated(["recording", "frame", "face_id"]).any()
    assert not list((out / ".partial").glob("*"))
