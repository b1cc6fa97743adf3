"""ferapp.offline.recording: one video to per-face rows, on a short clip built from a real photo."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from ferapp.labels import EMOTIONS
from ferapp.labels import FACE_COLUMNS as COLUMNS
from ferapp.offline.recording import analyze_video
from ferapp.vision.pipeline import ExpressionPipeline
from tests.helpers import BLANK, FRAMES


@pytest.fixture(scope="module")
def pipeline(shipped_model):
    return ExpressionPipeline(shipped_model)


def test_rows_ids_probabilities(clip, pipeline, tmp_path):
    df = analyze_video(clip, tmp_path, pipeline=pipeline, progress=False)
    assert list(df.columns) == list(COLUMNS)
    assert sorted(df["frame"]) == [i for i in range(FRAMES) if i not in BLANK]
    assert df["face_id"].nunique() == 1  # one person, one id, across the blank frame
    np.testing.assert_allclose(df[list(EMOTIONS)].sum(axis=1), 1, atol=1e-3)
    assert df["time_s"].iloc[1] == pytest.approx(0.1)
    video = cv2.VideoCapture(str(tmp_path / "interview_annotated.mp4"))
    count = 0
    while video.read()[0]:
        count += 1
    assert count == FRAMES


def test_every_n(clip, pipeline, tmp_path):
    df = analyze_video(clip, tmp_path, every=3, pipeline=pipeline, progress=False)
    assert set(df["frame"]) == {0, 3, 6, 9}
    video = cv2.VideoCapture(str(tmp_path / "interview_annotated.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES // 3


def _ffmpeg_clip(path, photo, frames: int, setpts: str | None = None, fps: int = 10):
    """An H.264 MP4 of a real face, made by ffmpeg (imageio-ffmpeg's binary): ``setpts``
    gives the frames their own times (a variable frame rate); moov first (faststart)."""
    import subprocess

    import imageio_ffmpeg

    face = cv2.resize(photo, (160, 188))
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "bgr24", "-s", "320x240", "-r", str(fps), "-i", "-"]
    if setpts:
        cmd += ["-vf", f"setpts='{setpts}'", "-fps_mode", "vfr"]
    cmd += ["-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
            str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for i in range(frames):
        frame = np.full((240, 320, 3), 50, np.uint8)
        frame[26:214, 40 + i % 80:200 + i % 80] = face
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return path


def _duration(path) -> float:
    cap = cv2.VideoCapture(str(path))
    times = []
    while cap.read()[0]:
        times.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000)
    cap.release()
    return times[-1] + (times[-1] - times[-2])


def test_a_variable_frame_rate_gives_true_times_and_a_true_length_copy(tmp_path, pipeline,
                                                                        grace_hopper):
    """20 frames at 10 frames/s (2 s), then 20 at 40 frames/s (0.5 s): each row's time is
    its frame's timestamp, and the annotated copy lasts 2.5 s like the recording."""
    clip = _ffmpeg_clip(tmp_path / "vfr.mp4", grace_hopper, 40,
                        "if(lt(N,20),N/10/TB,(2+(N-20)/40)/TB)", fps=40)
    df = analyze_video(clip, tmp_path / "out", pipeline=pipeline, progress=False)
    times = df.groupby("frame")["time_s"].first()
    assert len(times) >= 30
    for frame, t in times.items():  # 10 frames/s to frame 20, then 40 frames/s
        assert t == pytest.approx(frame / 10 if frame < 20 else 2 + (frame - 20) / 40,
                                  abs=0.03), (frame, t)  # within one tick (25 ms)
    assert df.attrs["video"]["duration_s"] == pytest.approx(2.5, abs=0.03)
    assert not df.attrs["video"]["truncated"]
    assert _duration(tmp_path / "out" / "vfr_annotated.mp4") == pytest.approx(2.5, abs=0.1)


def test_a_cut_recording_is_analysed_as_far_as_it_decodes_and_said_to_be_truncated(
        tmp_path, grace_hopper):
    from tests.offline.clips import analyze, name_of

    whole = _ffmpeg_clip(tmp_path / "whole.mp4", grace_hopper, 60)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    proc = analyze(cut, "--out", tmp_path / "single", "--no-video")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "cut.mp4 ends after" in proc.stderr and "truncated or damaged" in proc.stderr
    summary = json.loads((tmp_path / "single" / "summary.json").read_text())
    assert summary["video"]["truncated"] and summary["video"]["declared_frames"] == 60
    assert 5 < summary["video"]["frames"] < 60
    batch = analyze(cut, whole, "--out", tmp_path / "batch", "--no-video")
    assert batch.returncode == 0, batch.stderr[-2000:]
    assert "cut.mp4 ends before its last frame" in batch.stderr
    table = pd.read_csv(tmp_path / "batch" / "summary.csv")
    assert dict(zip(map(name_of, table["recording"]), table["truncated"], strict=True)) == \
        {"cut.mp4": True, "whole.mp4": False}


@pytest.mark.slow
def test_a_killed_single_run_leaves_no_partial_video(tmp_path, grace_hopper):
    import signal
    import subprocess
    import sys
    import time

    from tests.helpers import ROOT

    clip = _ffmpeg_clip(tmp_path / "long.mp4", grace_hopper, 600, fps=30)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "analyze.py", str(clip), "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def writing() -> bool:  # the annotated copy has bytes in its temporary file
        for p in out.glob(".tmp-*long_annotated.mp4"):
            try:
                if p.stat().st_size > 0:
                    return True
            except FileNotFoundError:  # renamed meanwhile
                pass
        return False

    deadline = time.monotonic() + 120
    while not writing() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed mid-way"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    visible = [p.name for p in out.iterdir() if not p.name.startswith(".")]
    assert visible == [], visible  # no half-written video, no table
    from tests.offline.clips import analyze

    again = analyze(clip, "--out", out, "--every", "10")
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir() if p.suffix in (".mp4", ".csv", ".json")) == [
        "faces.csv", "long_annotated.mp4", "summary.json"]  # the killed run's temp file gone


@pytest.mark.parametrize("detect_every", [1, 3])
def test_two_stages_give_the_sequential_rows_every_frame_in_order(clip, pipeline, tmp_path,
                                                                  detect_every):
    import threading

    runs = {staged: analyze_video(clip, tmp_path / str(staged), pipeline=pipeline,
                                  progress=False, staged=staged, detect_every=detect_every)
            for staged in (False, True)}
    pd.testing.assert_frame_equal(runs[True], runs[False])
    assert runs[True].attrs["video"] == runs[False].attrs["video"]
    assert sorted(runs[True]["frame"]) == [i for i in range(FRAMES) if i not in BLANK]
    assert not [t for t in threading.enumerate() if t.name == "analyze-detect"]
