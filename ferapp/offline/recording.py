"""Analyse one recording or a set of photos: one row per face per analysed frame (the
columns of ``FACE_COLUMNS``), tracked and smoothed as in the live stream, and the annotated
copy.

    from ferapp.offline.recording import analyze_video
    df = analyze_video("clip.mp4", out_dir="outputs/clip")   # pandas.DataFrame
"""

from __future__ import annotations

import errno
from dataclasses import replace
from pathlib import Path

import cv2
import pandas as pd

from ferapp.labels import EMOTIONS, FACE_COLUMNS
from ferapp.offline.inputs import InputError, check_readable
from ferapp.offline.mp4 import Mp4Writer
from ferapp.system import progress_bar
from ferapp.vision.draw import draw_results
from ferapp.vision.intake import InvalidImage, decode_image
from ferapp.vision.models import default_model
from ferapp.vision.motion import DEFAULT_DETECT_EVERY, FaceLocator
from ferapp.vision.pipeline import ExpressionPipeline
from ferapp.vision.sources import declared_oversize, frame_limit, oversized
from ferapp.vision.stages import overlapped
from ferapp.vision.tracking import DEFAULT_SMOOTH_S, FaceTracker


def face_rows(frame_no, time_s, results):
    """CSV rows of one frame's results (FaceResults with face ids)."""
    for r in results:
        yield [frame_no, time_s, r.face_id, *r.box, r.emotion, round(r.confidence, 4),
               *(round(r.scores[e], 4) for e in EMOTIONS)]


def _frame_time(cap, frame_no: int, fps: float, previous: float) -> float:
    """The frame just read's time in the recording, from the container's timestamps (a
    variable frame rate stays true); frame number / rate where the container has none."""
    ms = cap.get(cv2.CAP_PROP_POS_MSEC)
    t = ms / 1000 if ms > 0 or frame_no == 0 else frame_no / fps
    return max(t, previous)


def _open_video(path: Path, max_pixels: int):
    """(capture, first frame) of a recording, or InputError saying why not: a recording
    whose frames are above ``max_pixels`` is refused before a frame is decoded."""
    check_readable(path)
    cap = cv2.VideoCapture(str(path))
    why = declared_oversize(cap, max_pixels) if cap.isOpened() else None
    if why:
        cap.release()
        raise InputError(f"{path}: {why}")
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok:
        cap.release()
        raise InputError(f"cannot decode a frame of {path}: not a video OpenCV can read")
    return cap, first


def _read_frames(cap, first, fps: float, path: Path, max_pixels: int):
    """Yield (frame number, time in the recording, BGR frame) from ``first`` on: the
    container's timestamps are read right after each frame, in the reading thread. A
    frame above ``max_pixels`` (a stream that changes size) ends it with InputError."""
    frame_no, frame, t = 0, first, 0.0
    while frame is not None:
        why = oversized(frame.shape[1], frame.shape[0], max_pixels)
        if why:
            raise InputError(f"{path}, frame {frame_no}: {why}")
        t = _frame_time(cap, frame_no, fps, t)
        yield frame_no, t, frame
        frame_no += 1
        ok, frame = cap.read()
        frame = frame if ok else None


def analyze_video(path, out_dir=None, every: int = 1, write_video: bool = True,
                  smooth: float = DEFAULT_SMOOTH_S, pipeline: ExpressionPipeline | None = None,
                  progress: bool = True, detect_every: int = DEFAULT_DETECT_EVERY,
                  staged: bool = True, max_pixels: int | None = None) -> pd.DataFrame:
    """Analyse every ``every``-th frame of a video; return one row per face per frame.

    With ``out_dir``, also write the annotated MP4 (unless ``write_video`` is False), of
    the recording's true length. Each face's scores (and so its label) are averaged over
    the last ``smooth`` seconds of video, as in the live stream; 0 gives each frame's own
    scores. ``time_s`` is the frame's timestamp in the container. The detector runs on
    every ``detect_every``-th analysed frame and faces are carried by motion in between
    (``FaceLocator``; 1: detect on every frame). ``staged``: read and locate the faces of
    the next frames on a second thread while this one classifies and writes (both cores;
    every frame, in order; False for one core, as a batch worker per core does). A
    recording whose frames have more than ``max_pixels`` (default: ``frame_limit()``) is
    refused with InputError.

    ``df.attrs["video"]``: frames read, the frames the container declares, the duration,
    and ``truncated`` when it ends before its declared frames (a cut or damaged file: what
    decodes is analysed).
    """
    if every < 1:
        raise ValueError("every must be at least 1")
    path = Path(path)
    max_pixels = max_pixels or frame_limit()
    cap, first = _open_video(path, max_pixels)
    pipeline = pipeline or ExpressionPipeline(default_model())
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    locate = FaceLocator(pipeline.detect, every=detect_every)
    frames = _read_frames(cap, first, fps, path, max_pixels)

    def faces_of(item):  # stage one: where the faces of an analysed frame are
        return locate(item[2]) if item[0] % every == 0 else None

    steps = (overlapped(frames, faces_of, depth=2, name="analyze-detect") if staged
             else ((item, faces_of(item)) for item in frames))
    try:
        rows, (frame_no, t, step) = _analyze_frames(
            steps, pipeline, FaceTracker(max_gap=max(1, round(fps / every)), smooth_s=smooth),
            every, fps, total, first.shape, path, out_dir if write_video else None, progress)
    finally:
        steps.close()
        frames.close()
        cap.release()
    df = pd.DataFrame(rows, columns=list(FACE_COLUMNS))
    df.attrs["video"] = {"frames": frame_no, "declared_frames": total,
                         "duration_s": round(t + step, 3), "fps": round(fps, 3),
                         "truncated": bool(total and frame_no + 2 < total)}
    return df


def _analyze_frames(steps, pipeline, tracker, every, fps, total, shape, path, video_dir,
                    progress):
    """Stage two of analyze_video: classify, track, keep rows, draw and write. Returns
    (rows, (frames read, last frame's time, last frame's duration))."""
    writer = None
    if video_dir is not None:
        Path(video_dir).mkdir(parents=True, exist_ok=True)
        writer = Mp4Writer(Path(video_dir) / f"{path.stem}_annotated.mp4", fps / every,
                           (shape[1], shape[0]))
    rows, frame_no, t, step = [], 0, 0.0, 1 / fps
    bar = progress_bar(total, "frame") if progress else None
    finished = False
    try:
        for (frame_no, now, frame), faces in steps:
            step, t = (now - t if frame_no else step), now
            if faces is not None:
                results = tracker.update(frame_no // every, pipeline.analyze(frame, faces), t=t)
                rows.extend(face_rows(frame_no, round(t, 4), results))
                if writer is not None:
                    draw_results(frame, results)
                    writer.write(frame, t)
            if bar is not None:
                bar.update(1)
        finished = True
    finally:
        if bar is not None:
            bar.close()
        if writer is not None and finished:
            writer.close(t + step)  # held to the end of the last frame
        elif writer is not None:
            writer.abort()
    return rows, (frame_no + 1, t, step)


def analyze_images(paths, out_dir=None, pipeline: ExpressionPipeline | None = None,
                   progress: bool = True) -> pd.DataFrame:
    """Analyse photos independently (face ids per photo); write annotated copies to out_dir."""
    pipeline = pipeline or ExpressionPipeline(default_model(), still=True)
    rows = []
    bar = progress_bar(len(paths), "image") if progress else None
    for i, p in enumerate(paths):
        try:  # EXIF orientation applied: boxes are those of the upright photo
            image = decode_image(Path(p).read_bytes(), work_side=None).image
        except (InvalidImage, OSError) as exc:
            raise InputError(f"cannot decode image {p}: {exc}") from None
        results = [replace(r, face_id=k) for k, r in enumerate(pipeline.analyze(image))]
        for row in face_rows(i, float("nan"), results):
            rows.append([*row, Path(p).name])
        if out_dir is not None:
            draw_results(image, results)
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            target = Path(out_dir) / f"{Path(p).stem}_annotated.jpg"
            if not cv2.imwrite(str(target), image):  # OpenCV says no more than False
                raise OSError(errno.EIO, "the annotated photo could not be written", str(target))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows, columns=[*FACE_COLUMNS, "file"])
