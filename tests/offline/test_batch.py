"""ferapp.offline.batch: many recordings, Parquet and summary outputs, reruns and killed runs."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from tests.helpers import ROOT
from tests.offline.clips import analyze, analyze_as_user, make_clips, name_of, outputs


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
    proc = analyze(*make_args(tmp_path), timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "recordings").exists()  # no work started


@pytest.mark.slow
def test_local_engine_outputs_parquet_summary_failures_and_reruns_nothing(local_run, clips):
    out, proc = local_run
    assert proc.returncode == 1, proc.stderr  # one recording failed
    assert "4 analysed, 0 already done, 1 failed" in proc.stdout
    per_rec = outputs(out)
    assert sorted(map(name_of, per_rec)) == ["clip0.mp4", "clip1.mp4", "clip2.mp4", "clip3.mp4"]
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
    assert list(map(name_of, failures["recording"])) == ["broken.mp4"]
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


@pytest.mark.slow
def test_link_loops_and_unreadable_files_are_failures_and_a_chmod_retries(tmp_path,
                                                                         grace_hopper):
    """A list naming a symbolic link loop and a mode-000 recording: each is a failure row
    saying why (not "not a video", no traceback); after a chmod (content and mtime
    unchanged) the rerun tries the unreadable one again, and it is analysed."""
    import os

    src = tmp_path / "src"
    (clip,) = make_clips(src, grace_hopper, n=1, frames=4, corrupt=False)
    (src / "self.mp4").symlink_to("self.mp4")
    os.chmod(clip, 0)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{src / 'self.mp4'}\n{clip}\n")
    out = tmp_path / "out"
    first = analyze_as_user(listing, "--out", out, "--no-video")
    assert first.returncode == 1 and "Traceback" not in first.stderr, first.stderr[-2000:]
    failures = pd.read_csv(out / "failures.csv")
    errors = dict(zip(map(name_of, failures["recording"]), failures["error"], strict=True))
    assert errors["self.mp4"].endswith("self.mp4: a symbolic link loop"), errors
    assert errors["clip0.mp4"].endswith("clip0.mp4: permission denied"), errors
    assert "OpenCV" not in first.stderr  # no decoder warning for a file it never opened
    os.chmod(clip, 0o644)
    again = analyze_as_user(listing, "--out", out, "--no-video")
    assert "1 analysed" in again.stdout and "1 failed before" in again.stdout, again.stdout
    assert list(map(name_of, pd.read_csv(out / "failures.csv")["recording"])) == ["self.mp4"]


@pytest.mark.slow
def test_a_batch_serves_the_ensemble_it_is_given(tmp_path, grace_hopper, two_exports):
    make_clips(tmp_path / "src", grace_hopper, n=2, frames=6, corrupt=False)
    for name, dirs in (("a", two_exports[:1]), ("ab", two_exports)):
        proc = analyze(tmp_path / "src", "--out", tmp_path / name, "--workers", "1",
                       "--smooth", "0", "--no-video", "--model-dir", *dirs, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
    one, two = outputs(tmp_path / "a"), outputs(tmp_path / "ab")
    assert one.keys() == two.keys() and len(one) == 2
    for rec in one:
        assert len(one[rec]) == len(two[rec]) > 0
        assert not np.allclose(one[rec]["happy"], two[rec]["happy"])  # the ensemble scored
    bad = analyze(tmp_path / "src", "--out", tmp_path / "bad", "--model-dir", tmp_path)
    assert bad.returncode == 2 and "no weights file" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "bad").exists()
