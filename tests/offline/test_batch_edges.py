"""analyze.py at its edges: names that collide once sanitised and a rename between runs,
an output folder inside the input folder, named pipes and devices, outputs that cannot be
written, and frames too large to hold (issue 41)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from ferapp.offline import inputs
from tests.helpers import ROOT
from tests.offline.clips import analyze, analyze_as_user, make_clips, name_of, outputs

pytestmark = pytest.mark.slow

COLLIDING = ["a_b.mp4", "a b.mp4", "été.mp4", "n" * 200 + ".mp4", "=cmd.mp4", "new\nline.mp4",
             "x.mp4"]


def _folder_of(tmp_path: Path, grace_hopper, names) -> Path:
    src = tmp_path / "study"
    (clip,) = make_clips(tmp_path / "made", grace_hopper, n=1, frames=3, corrupt=False)
    src.mkdir()
    for name in names:
        shutil.copy(clip, src / name)
    return src


def _one_line_error(proc, needle: str):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def _summary_paths(out: Path) -> list[str]:
    return list(pd.read_csv(out / "summary.csv", dtype={"path": str})["path"])


def test_colliding_names_and_a_rename_are_each_analysed_once(tmp_path, grace_hopper):
    """Run 1 on names that sanitise alike; rename x.mp4 to a,b.mp4 (a new recording under
    a name that collides with a_b.mp4); run 2 analyses it and nothing else, and
    summary.csv lists each current file once under its own path."""
    src = _folder_of(tmp_path, grace_hopper, COLLIDING)
    out = tmp_path / "out"
    first = analyze(src, "--out", out, "--no-video", "--workers", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    assert f"{len(COLLIDING)} analysed, 0 already done" in first.stdout
    (src / "x.mp4").rename(src / "a,b.mp4")
    second = analyze(src, "--out", out, "--no-video", "--workers", "1")
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"1 analysed, {len(COLLIDING) - 1} already done" in second.stdout
    current = sorted(os.path.realpath(p) for p in src.iterdir())
    assert sorted(_summary_paths(out)) == current  # each once, under its own path
    summary = pd.read_csv(out / "summary.csv", dtype={"recording": str})
    assert summary["recording"].is_unique
    data = pd.read_parquet(out / "faces.parquet")
    assert set(summary["recording"]) <= set(data["recording"].astype(str))
    assert not (out / ".partial").exists()  # no empty leftover folder


def test_an_earlier_versions_output_folder_is_neither_redone_nor_duplicated(tmp_path,
                                                                           grace_hopper):
    """Outputs whose ids are the old sanitised names and whose summaries record no file
    stamp: a rerun counts them done, lists each once, and analyses a changed file anew."""
    src = _folder_of(tmp_path, grace_hopper, ["a_b.mp4", "c.mp4"])
    out = tmp_path / "out"
    assert analyze(src, "--out", out, "--no-video", "--workers", "1").returncode == 0
    for rec in list((out / "recordings").iterdir()):  # back to the old layout
        old = name_of(rec.name)
        summary = json.loads((rec / "summary.json").read_text())
        summary.pop("source")
        summary["table"]["recording"] = old
        (rec / "summary.json").write_text(json.dumps(summary))
        rec.rename(rec.with_name(old))
        part = out / "faces.parquet" / f"recording={rec.name}"
        part.rename(part.with_name(f"recording={old}"))
    again = analyze(src, "--out", out, "--no-video", "--workers", "1")
    assert "0 analysed, 2 already done" in again.stdout, again.stdout + again.stderr[-2000:]
    assert sorted(pd.read_csv(out / "summary.csv")["recording"]) == ["a_b.mp4", "c.mp4"]
    # a summary that records the file's size and time (as this version writes them) of
    # another file under the same path: redone, under the id the path already has
    rec = out / "recordings" / "c.mp4"
    summary = json.loads((rec / "summary.json").read_text())
    summary["source"] = {"size": 1, "mtime_ns": 1}
    (rec / "summary.json").write_text(json.dumps(summary))
    third = analyze(src, "--out", out, "--no-video", "--workers", "1")
    assert "1 analysed, 1 already done" in third.stdout, third.stdout
    assert sorted(p.name for p in (out / "recordings").iterdir()) == ["a_b.mp4", "c.mp4"]
    assert sorted(_summary_paths(out)) == sorted(os.path.realpath(p) for p in src.iterdir())


def test_an_output_folder_inside_the_input_folder_is_never_an_input(tmp_path, grace_hopper):
    """--out nested in the input folder, three runs with annotated videos: the same
    recordings each time, a note that the outputs were left out, single mode too."""
    src = _folder_of(tmp_path, grace_hopper, ["a.mp4", "b.mp4"])
    out = src / "results" / "deeper"
    for run in range(3):
        proc = analyze(src, "--out", out, "--workers", "1")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"{2 if run == 0 else 0} analysed, {0 if run == 0 else 2} already done" \
            in proc.stdout, proc.stdout
        if run:
            assert "under the output folder" in proc.stderr
        assert sorted(map(name_of, outputs(out))) == ["a.mp4", "b.mp4"]
        assert sorted(pd.read_parquet(out / "faces.parquet")["recording"].astype(str)
                      .map(name_of).unique()) == ["a.mp4", "b.mp4"]
        assert len(pd.read_csv(out / "summary.csv")) == 2
    annotated = next(out.rglob("*_annotated.mp4"))
    _one_line_error(analyze(annotated, "--out", out), "inside the output folder")
    found = inputs.collect_inputs([str(src / "**" / "*.mp4")], out=out)
    assert sorted(p.name for p in found) == ["a.mp4", "b.mp4"]


def test_pipes_and_devices_are_refused_before_any_read(tmp_path, grace_hopper):
    """A FIFO with no writer (open() would block for ever) and /dev/zero, in single mode,
    in a .txt list and inside a folder: a one-line reason and a failures.csv row, the
    other recordings analysed; nothing hangs (each run has a bounded time)."""
    src = _folder_of(tmp_path, grace_hopper, ["good.mp4"])
    os.mkfifo(src / "pipe.mp4")
    lone = tmp_path / "lone.mp4"
    os.mkfifo(lone)
    _one_line_error(analyze(lone, "--out", tmp_path / "o1", timeout=120), "named pipe")
    _one_line_error(analyze("/dev/zero", "--out", tmp_path / "o2", timeout=120),
                    "character device")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{lone}\n/dev/zero\n{src / 'good.mp4'}\n")
    for spec, out in ((listing, tmp_path / "o3"), (src, tmp_path / "o4")):
        proc = analyze(spec, "--out", out, "--no-video", "--workers", "1", timeout=300)
        assert proc.returncode == 1, proc.stderr[-2000:]
        assert "1 analysed" in proc.stdout
        failures = pd.read_csv(out / "failures.csv")
        assert all("not a regular file" in e for e in failures["error"]), failures
        assert len(failures) == (2 if spec == listing else 1)
        assert (failures["attempts"] == 0).all()  # never handed to a worker
        assert len(pd.read_csv(out / "summary.csv")) == 1


def test_single_mode_write_failures_are_one_line_and_leave_no_temporary_file(tmp_path,
                                                                             grace_hopper):
    """--out that is a file, a read-only folder, a folder under a read-only parent: one
    line naming the path and what to do, exit 2, no .tmp-* file."""
    (clip,) = make_clips(tmp_path / "src", grace_hopper, n=1, frames=3, corrupt=False)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    _one_line_error(analyze(clip, "--out", a_file), "is a file")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    (readonly / "inner").mkdir()
    os.chmod(readonly, 0o555)
    os.chmod(readonly / "inner", 0o555)
    try:
        for out in (readonly / "inner", readonly / "new"):
            proc = analyze_as_user(clip, "--out", out)
            _one_line_error(proc, str(out))
            assert "--out" in proc.stderr
        assert not list(readonly.rglob(".tmp-*"))
    finally:
        os.chmod(readonly / "inner", 0o755)
        os.chmod(readonly, 0o755)


def test_a_video_writer_that_cannot_write_says_so_and_leaves_nothing(tmp_path):
    """Real ffmpeg into a folder that is gone: an OSError naming the file, no temporary
    file; a rename that fails at the end drops the temporary file too."""
    from ferapp.offline.mp4 import Mp4Writer

    frame = np.zeros((64, 64, 3), np.uint8)
    folder = tmp_path / "gone"
    folder.mkdir()
    writer = Mp4Writer(folder / "x.mp4", 10, (64, 64))
    shutil.rmtree(folder)
    with pytest.raises(OSError, match="ffmpeg could not write") as info:
        for _ in range(400):  # until ffmpeg has given up and the pipe breaks
            writer.write(frame)
        writer.close()
    assert info.value.filename == str(folder / "x.mp4")
    writer = Mp4Writer(tmp_path / "y.mp4", 10, (64, 64))
    writer.write(frame)
    (tmp_path / "y.mp4").mkdir()  # the final name is taken by a folder: os.replace fails
    (tmp_path / "y.mp4" / "keep").write_text("x")
    with pytest.raises(OSError):
        writer.close()
    assert not list(tmp_path.glob(".tmp-*"))


def _huge_clip(path: Path, side: int):
    """Two frames of side x side, H.264 through the ffmpeg that imageio-ffmpeg ships."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f",
                    "lavfi", "-i", f"color=c=gray:s={side}x{side}:r=2:d=1", "-c:v",
                    "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
                   check=True, timeout=120)


def _peak_rss_mb(tmp_path: Path, *args) -> tuple[subprocess.CompletedProcess, float]:
    """Run analyze.py; its exit, output and peak resident memory in MB (wait4's rusage
    of that one process)."""
    log = tmp_path / f"log-{len(list(tmp_path.glob('log-*')))}"
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        proc = subprocess.Popen([sys.executable, "analyze.py", *map(str, args)], cwd=ROOT,
                                stdout=out, stderr=err,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return (subprocess.CompletedProcess(proc.args, proc.returncode,
                                        log.with_suffix(".out").read_text(),
                                        log.with_suffix(".err").read_text()),
            usage.ru_maxrss / 1024)


def test_frames_above_the_limit_are_refused_before_they_are_decoded(tmp_path, grace_hopper):
    """An 8192x8192 recording: one line naming the limit and the option, exit 2 in single
    mode and a failure row in a batch; the refusal costs no more memory than analysing a
    small clip. The limit can be lowered and raised."""
    big = tmp_path / "big.mp4"
    _huge_clip(big, 8192)
    cap = cv2.VideoCapture(str(big))  # a real video, declared at its size
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == \
        (8192, 8192)
    cap.release()
    (clip,) = make_clips(tmp_path / "src", grace_hopper, n=1, frames=3, corrupt=False)
    proc, big_mb = _peak_rss_mb(tmp_path, big, "--out", tmp_path / "o1")
    _one_line_error(proc, "--max-frame-pixels")
    assert "8192x8192" in proc.stderr and "16,777,216" in proc.stderr
    small, small_mb = _peak_rss_mb(tmp_path, clip, "--out", tmp_path / "o0")
    assert small.returncode == 0, small.stderr[-2000:]
    assert big_mb < small_mb + 100, (big_mb, small_mb)  # one 8192x8192 frame is 192 MB
    _one_line_error(analyze(clip, "--out", tmp_path / "o2", "--max-frame-pixels", "10000"),
                    "above the limit of 10,000 pixels")
    limited = analyze(clip, "--out", tmp_path / "o3", timeout=300,
                      env_extra={"FER_MAX_FRAME_PIXELS": "10000"})
    _one_line_error(limited, "FER_MAX_FRAME_PIXELS")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{big}\n{clip}\n")
    batch = analyze(listing, "--out", tmp_path / "o4", "--no-video", "--workers", "1",
                    timeout=300)
    assert batch.returncode == 1 and "1 analysed" in batch.stdout, batch.stderr[-2000:]
    assert "above the limit" in pd.read_csv(tmp_path / "o4" / "failures.csv")["error"][0]


def test_the_stream_sources_have_the_same_frame_limit(tmp_path, grace_hopper, monkeypatch):
    from ferapp.vision.sources import SourceError, open_capture, parse_source

    (clip,) = make_clips(tmp_path / "src", grace_hopper, n=1, frames=3, corrupt=False)
    source = parse_source(str(clip))
    cap = open_capture(source)
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (240, 320, 3)
    monkeypatch.setenv("FER_MAX_FRAME_PIXELS", str(320 * 240 - 1))
    with pytest.raises(SourceError, match="320x240.*above the limit"):
        open_capture(source)
    monkeypatch.setenv("FER_MAX_FRAME_PIXELS", "lots")
    with pytest.raises(SourceError, match="whole number"):
        open_capture(source)


def test_a_frame_that_grows_past_the_limit_ends_a_stream_capture(tmp_path):
    """A capture whose declared size fits but whose frames grow: read() says no frame."""
    from ferapp.vision.sources import BoundedCapture

    class Growing:
        def __init__(self):
            self.sizes = [(240, 320), (4800, 6400)]

        def read(self):
            h, w = self.sizes.pop(0)
            return True, np.zeros((h, w, 3), np.uint8)

        def release(self):
            pass

    cap = BoundedCapture(Growing(), 1_000_000, "file x.mp4")
    assert cap.read()[0] and cap.read() == (False, None)
    cap.release()


def test_force_redoes_and_retry_failed_tries_again(tmp_path, grace_hopper):
    """The README's promises: a rerun skips what is done and what failed on an unchanged
    file; --retry-failed tries the failures again; --force redoes everything."""
    src = _folder_of(tmp_path, grace_hopper, ["good.mp4"])
    (src / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 but no video at all")
    out = tmp_path / "out"
    runs = [analyze(src, "--out", out, "--no-video", "--workers", "1", *extra)
            for extra in ([], [], ["--retry-failed"], ["--force"])]
    assert [r.returncode for r in runs] == [1, 1, 1, 1]
    assert "1 analysed, 0 already done, 1 failed" in runs[0].stdout
    assert "0 analysed, 1 already done, 0 failed, 1 failed before" in runs[1].stdout
    assert "0 analysed, 1 already done, 1 failed" in runs[2].stdout  # tried again
    assert "1 analysed, 0 already done, 1 failed" in runs[3].stdout  # everything redone
    failures = pd.read_csv(out / "failures.csv")
    assert list(map(name_of, failures["recording"])) == ["broken.mp4"]
    assert failures["attempts"].tolist() == [1]
