"""Analyse a recorded video, a photo or a folder of photos: annotated copy, per-face CSV,
timeline plots and a summary; or many recordings at once, on this machine or a Ray cluster.

    python analyze.py INPUT [--out DIR] [--every N] [--no-video] [--smooth SECONDS]
    python analyze.py DIR_OR_GLOB_OR_LIST... --out DIR [--engine local|ray]
                      [--address ray://host:10001|auto] [--workers N] [--force]

From Python: ``analyze_video(path, ...) -> pandas.DataFrame`` (one row per face per
analysed frame).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from camera import IMAGE_EXTENSIONS, quiet_native_logs
from ferapp.tracking import DEFAULT_SMOOTH_S, FaceTracker, iou  # noqa: F401  (iou: API)
from labels import EMOTIONS
from pipeline import ExpressionPipeline, draw_results

COLUMNS = ["frame", "time_s", "face_id", "x", "y", "w", "h", "emotion", "confidence",
           *EMOTIONS]


class InputError(Exception):
    """An input that does not exist or cannot be decoded."""


class Mp4Writer:
    """H.264 MP4 through the ffmpeg binary that imageio-ffmpeg ships; OpenCV mp4v otherwise."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.path, self.proc, self.cv = path, None, None
        w, h = size
        try:
            import imageio_ffmpeg

            exe = imageio_ffmpeg.get_ffmpeg_exe()
        except Exception:
            exe = None
        if exe and w % 2 == 0 and h % 2 == 0:
            cmd = [exe, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
                   "-s", f"{w}x{h}", "-r", f"{fps:.6f}", "-i", "-", "-an", "-c:v", "libx264",
                   "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
                   "-movflags", "+faststart", str(path)]
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        else:
            self.cv = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))

    def write(self, frame: np.ndarray):
        if self.proc is not None:
            self.proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        else:
            self.cv.write(frame)

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            if self.proc.wait() != 0:
                raise RuntimeError(f"ffmpeg failed to write {self.path}")
        elif self.cv is not None:
            self.cv.release()


def _rows(frame_no, time_s, results):
    """CSV rows of one frame's results (FaceResults with face ids)."""
    for r in results:
        yield [frame_no, time_s, r.face_id, *r.box, r.emotion, round(r.confidence, 4),
               *(round(r.scores[e], 4) for e in EMOTIONS)]


def _progress(total, unit="frame"):
    from tqdm import tqdm

    return tqdm(total=total or None, unit=unit, dynamic_ncols=True, file=sys.stderr,
                disable=None)


def analyze_video(path, out_dir=None, every: int = 1, write_video: bool = True,
                  smooth: float = DEFAULT_SMOOTH_S, pipeline: ExpressionPipeline | None = None,
                  progress: bool = True) -> pd.DataFrame:
    """Analyse every ``every``-th frame of a video; return one row per face per frame.

    With ``out_dir``, also write the annotated MP4 (unless ``write_video`` is False).
    Each face's scores (and so its label) are averaged over the last ``smooth`` seconds of
    video, as in the live stream; 0 gives each frame's own scores.
    """
    if every < 1:
        raise ValueError("every must be at least 1")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist")
    cap = cv2.VideoCapture(str(path))
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok:
        cap.release()
        raise InputError(f"cannot decode a frame of {path}: not a video OpenCV can read")
    pipeline = pipeline or ExpressionPipeline(_load_model())
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    tracker = FaceTracker(max_gap=max(1, round(fps / every)), smooth_s=smooth)
    writer = None
    if out_dir is not None and write_video:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        h, w = first.shape[:2]
        writer = Mp4Writer(Path(out_dir) / f"{path.stem}_annotated.mp4", fps / every, (w, h))
    rows, frame_no, frame = [], 0, first
    bar = _progress(total) if progress else None
    try:
        while frame is not None:
            if frame_no % every == 0:
                results = tracker.update(frame_no // every, pipeline.analyze(frame),
                                         t=frame_no / fps)
                rows.extend(_rows(frame_no, round(frame_no / fps, 4), results))
                if writer is not None:
                    draw_results(frame, results)
                    writer.write(frame)
            frame_no += 1
            if bar is not None:
                bar.update(1)
            ok, frame = cap.read()
            frame = frame if ok else None
    finally:
        cap.release()
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    return pd.DataFrame(rows, columns=COLUMNS)


def analyze_images(paths, out_dir=None, pipeline: ExpressionPipeline | None = None,
                   progress: bool = True) -> pd.DataFrame:
    """Analyse photos independently (face ids per photo); write annotated copies to out_dir."""
    pipeline = pipeline or ExpressionPipeline(_load_model(), still=True)
    rows = []
    bar = _progress(len(paths), "image") if progress else None
    from ferapp.intake import InvalidImage, decode_image

    for i, p in enumerate(paths):
        try:  # EXIF orientation applied: boxes are those of the upright photo
            image = decode_image(Path(p).read_bytes(), work_side=None).image
        except (InvalidImage, OSError) as exc:
            raise InputError(f"cannot decode image {p}: {exc}") from None
        results = [replace(r, face_id=k) for k, r in enumerate(pipeline.analyze(image))]
        for row in _rows(i, float("nan"), results):
            rows.append([*row, Path(p).name])
        if out_dir is not None:
            draw_results(image, results)
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(Path(out_dir) / f"{Path(p).stem}_annotated.jpg"), image)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows, columns=[*COLUMNS, "file"])


def summarize(df: pd.DataFrame) -> dict:
    """Per face: analysed frames, time span, share of frames per emotion, dominant emotion."""
    faces = {}
    for face_id, g in df.groupby("face_id"):
        share = g["emotion"].value_counts(normalize=True)
        faces[str(face_id)] = {
            "frames": int(len(g)),
            "first_s": None if g["time_s"].isna().all() else float(g["time_s"].min()),
            "last_s": None if g["time_s"].isna().all() else float(g["time_s"].max()),
            "share": {e: round(float(share.get(e, 0.0)), 4) for e in EMOTIONS},
            "dominant": str(share.idxmax()),
        }
    return {"rows": int(len(df)), "faces": faces}


def plot_timelines(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One PNG per face: the probability of each emotion over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline import COLORS

    paths = []
    for face_id, g in df.groupby("face_id"):
        fig, ax = plt.subplots(figsize=(9, 3.2), dpi=100)
        timed = not g["time_s"].isna().all()
        t = g["time_s"] if timed else g["frame"]
        for e in EMOTIONS:
            b, gr, r = COLORS[e]
            ax.plot(t, g[e], label=e, color=(r / 255, gr / 255, b / 255), lw=1.5)
        ax.set_ylim(0, 1)
        ax.set_xlabel("time (s)" if timed else "image")
        ax.set_ylabel("probability")
        ax.set_title(f"face {face_id}: emotion probabilities over time")
        ax.legend(ncol=7, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"timeline_face{face_id}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def _load_model():
    from model import default_model

    return default_model()


def _inputs(path: Path):
    """('video', path) | ('images', [paths]) for a video, an image or a folder of images."""
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            raise InputError(f"folder {path} holds no images or videos")
        return "images", images
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return "images", [path]
    return "video", path


def _is_batch(inputs: list[str], engine: str | None) -> bool:
    """Many recordings: several inputs, a glob, a list file, a folder holding videos, or an
    explicit --engine. One video, one image or a folder of images: the single mode."""
    from ferapp.batch import VIDEO_EXTENSIONS

    if engine or len(inputs) > 1:
        return True
    spec = inputs[0]
    if any(ch in spec for ch in "*?["):
        return True
    path = Path(spec)
    if path.is_file() and path.suffix.lower() in (".txt", ".lst"):
        return True
    return path.is_dir() and any(f.suffix.lower() in VIDEO_EXTENSIONS
                                 for f in path.rglob("*") if f.is_file())


def main_batch(args) -> int:
    """Many recordings -> per-recording outputs, one Parquet dataset, summary and failures."""
    from ferapp import batch

    if args.out is None:
        print("analyze.py: error: give --out DIR for many recordings", file=sys.stderr)
        return 2
    opts = batch.Options(every=args.every, write_video=not args.no_video, smooth=args.smooth,
                         detector=args.detector)
    try:
        report = batch.run(args.input, args.out, engine=args.engine or "local",
                           address=args.address, workers=args.workers, force=args.force,
                           retry_failed=args.retry_failed, opts=opts)
    except batch.BatchError as exc:
        print(f"analyze.py: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    failed = report.failed_before + report.failed
    print(f"{len(report.done)} analysed, {len(report.skipped)} already done, "
          f"{len(report.failed)} failed"
          + (f", {len(report.failed_before)} failed before (--retry-failed)"
             if report.failed_before else "")
          + f" -> {out}/summary.csv, {out}/faces.parquet"
          + (f", {out}/failures.csv" if failed else ""))
    for f in report.failed:
        print(f"  failed: {f['path']}: {f['error']}")
    return 1 if failed else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input", nargs="+",
                   help="a video file, an image, or a folder of images; or many recordings: "
                        "folders of videos, globs ('data/**/*.mp4'), .txt lists of paths")
    p.add_argument("--out", default=None, help="output folder (default: outputs/<input name>)")
    p.add_argument("--every", type=int, default=1, help="analyse every N-th frame")
    p.add_argument("--no-video", action="store_true", help="skip the annotated video")
    p.add_argument("--smooth", type=float, default=DEFAULT_SMOOTH_S, metavar="SECONDS",
                   help="average each face's scores over this many seconds of video, as the "
                        f"live stream does (default {DEFAULT_SMOOTH_S:g}; 0: per frame)")
    p.add_argument("--detector", choices=("centerface", "yunet", "haar"), default="centerface",
                   help="face detector (haar needs no extra package)")
    p.add_argument("--engine", choices=("local", "ray"), default=None,
                   help="many recordings: a process pool on this machine (local, the "
                        "default) or a Ray cluster (ray)")
    p.add_argument("--address", default=None,
                   help="Ray cluster: ray://HOST:10001, HOST:6379 or 'auto' (a cluster "
                        "started with 'ray start'); default: a local Ray")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel recordings (default: the cores; Ray: of a local cluster)")
    p.add_argument("--force", action="store_true", help="redo recordings already done")
    p.add_argument("--retry-failed", action="store_true",
                   help="try again the recordings that failed before (a changed file is "
                        "always tried again)")
    args = p.parse_args(argv)
    if args.every < 1 or args.smooth < 0:
        p.error("--every must be at least 1 and --smooth at least 0")
    if args.workers is not None and args.workers < 1:
        p.error("--workers must be at least 1")
    if args.address and args.engine != "ray":
        p.error("--address goes with --engine ray")
    quiet_native_logs()
    if _is_batch(args.input, args.engine):
        return main_batch(args)
    args.input = args.input[0]
    from ferapp.detect import DetectorUnavailable, make_detector
    from model import ModelLoadError

    src = Path(args.input)
    out = Path(args.out or Path("outputs") / src.stem)
    try:
        kind, target = _inputs(src)
        detector = make_detector(args.detector)
        pipeline = ExpressionPipeline(_load_model(), detector, still=kind == "images")
        out.mkdir(parents=True, exist_ok=True)
        if kind == "video":
            df = analyze_video(target, out, args.every, not args.no_video, args.smooth,
                               pipeline=pipeline)
        else:
            df = analyze_images(target, None if args.no_video else out / "annotated",
                                pipeline=pipeline)
    except (InputError, ModelLoadError, DetectorUnavailable) as exc:
        print(f"analyze.py: error: {exc}", file=sys.stderr)
        return 2
    df.to_csv(out / "faces.csv", index=False)
    summary = {"input": str(src), "every": args.every, "smooth": args.smooth,
               **summarize(df)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if df.empty:
        print(f"no faces found in {src}; wrote an empty {out / 'faces.csv'}")
        return 0
    plots = plot_timelines(df, out)
    print(f"{len(df)} face rows, {len(summary['faces'])} face(s) -> {out}/faces.csv, "
          f"summary.json, {len(plots)} timeline plot(s)")
    for face_id, f in summary["faces"].items():
        top = ", ".join(f"{e} {s:.0%}" for e, s in sorted(f["share"].items(),
                                                          key=lambda kv: -kv[1])[:3])
        print(f"  face {face_id}: {f['frames']} frames, dominant {f['dominant']} ({top})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
