"""Analyse a recorded video, a photo or a folder of photos: annotated copy, per-face CSV,
timeline plots and a summary; or many recordings at once, on this machine or a Ray cluster.

    python analyze.py INPUT [--out DIR] [--every N] [--no-video] [--smooth SECONDS]
    python analyze.py DIR_OR_GLOB_OR_LIST... --out DIR [--engine local|ray]
                      [--address ray://host:10001|auto] [--workers N] [--force]

From Python: ``ferapp.offline.recording.analyze_video(path, ...) -> pandas.DataFrame`` (one
row per face per analysed frame); ``ferapp.offline.batch.run`` for many recordings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from ferapp.offline import batch
from ferapp.offline.inputs import InputError, is_batch, single_input
from ferapp.offline.recording import analyze_images, analyze_video
from ferapp.offline.report import plot_timelines, summarize, write_csv
from ferapp.system import atomic_write_text, quiet_native_logs
from ferapp.vision.classifier import ModelLoadError
from ferapp.vision.detect import DETECTORS, DetectorUnavailable, make_detector
from ferapp.vision.models import check_members, default_model, model_dirs
from ferapp.vision.motion import DEFAULT_DETECT_EVERY
from ferapp.vision.pipeline import ExpressionPipeline
from ferapp.vision.sources import FRAME_LIMIT_ENV, MAX_FRAME_PIXELS, SourceError, frame_limit
from ferapp.vision.tracking import DEFAULT_SMOOTH_S


def fail(message) -> int:
    print(f"analyze.py: error: {message}", file=sys.stderr)
    return 2


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input", nargs="+",
                   help="a video file, an image, or a folder of images; or many recordings: "
                        "folders of videos, globs ('data/**/*.mp4'), .txt lists of paths")
    p.add_argument("--out", default=None, help="output folder (default: outputs/<input name>)")
    p.add_argument("--every", type=int, default=1, help="analyse every N-th frame")
    p.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY, metavar="K",
                   help="run the face detector on every K-th analysed frame and carry the "
                        "faces by motion in between (default "
                        f"{DEFAULT_DETECT_EVERY}; 1: detect on every frame)")
    p.add_argument("--no-video", action="store_true", help="skip the annotated video")
    p.add_argument("--smooth", type=float, default=DEFAULT_SMOOTH_S, metavar="SECONDS",
                   help="average each face's scores over this many seconds of video, as the "
                        f"live stream does (default {DEFAULT_SMOOTH_S:g}; 0: per frame)")
    p.add_argument("--detector", choices=DETECTORS, default="centerface",
                   help="face detector (haar needs no extra package)")
    p.add_argument("--model-dir", nargs="+", default=None, metavar="EXPORT",
                   help="the model's export folder (default: $FER_MODEL_DIR or the shipped "
                        "model); several folders: their ensemble, the mean of their "
                        "probabilities, every face with its mirror image")
    p.add_argument("--engine", choices=("local", "ray"), default=None,
                   help="many recordings: a process pool on this machine (local, the "
                        "default) or a Ray cluster (ray)")
    p.add_argument("--address", default=None,
                   help="Ray cluster: ray://HOST:10001, HOST:6379 or 'auto' (a cluster "
                        "started with 'ray start'); default: a local Ray")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel recordings (default: the cores; Ray: of a local cluster)")
    p.add_argument("--force", action="store_true", help="redo recordings already done")
    p.add_argument("--max-frame-pixels", type=int, default=None, metavar="N",
                   help="refuse a recording whose frames have more pixels than this "
                        f"(default ${FRAME_LIMIT_ENV} or {MAX_FRAME_PIXELS:,}: 4096x4096); "
                        "memory grows with it")
    p.add_argument("--retry-failed", action="store_true",
                   help="try again the recordings that failed before (a changed file is "
                        "always tried again)")
    args = p.parse_args(argv)
    if args.every < 1 or args.detect_every < 1 or args.smooth < 0:
        p.error("--every and --detect-every must be at least 1 and --smooth at least 0")
    if args.workers is not None and args.workers < 1:
        p.error("--workers must be at least 1")
    if args.max_frame_pixels is not None and args.max_frame_pixels < 1:
        p.error("--max-frame-pixels must be at least 1")
    if args.address and args.engine != "ray":
        p.error("--address goes with --engine ray")
    return args


def main_batch(args) -> int:
    """Many recordings -> per-recording outputs, one Parquet dataset, summary and failures."""
    if args.out is None:
        return fail("give --out DIR for many recordings")
    # the exports named here or in $FER_MODEL_DIR, absolute: Ray workers start elsewhere
    # and do not see this process's environment
    models = tuple(str(d.resolve()) for d in model_dirs(args.model_dir))
    opts = batch.Options(every=args.every, write_video=not args.no_video, smooth=args.smooth,
                         detector=args.detector, detect_every=args.detect_every,
                         model_dir=models, max_pixels=args.max_frame_pixels)
    try:
        report = batch.run(args.input, args.out, engine=args.engine or "local",
                           address=args.address, workers=args.workers, force=args.force,
                           retry_failed=args.retry_failed, opts=opts)
    except batch.BatchError as exc:
        return fail(exc)
    for note in report.notes:
        print(f"analyze.py: note: {note}", file=sys.stderr)
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
    for row in report.done:
        if row.get("truncated"):
            print(f"analyze.py: warning: {row['path']} ends before its last frame (truncated "
                  "or damaged): analysed as far as it decodes", file=sys.stderr)
    return 1 if failed else 0


def analyze_one(args, src: Path, out: Path):
    """The faces table of one video, image or folder of images (written outputs: the
    annotated video or photos)."""
    notes: list[str] = []
    kind, target = single_input(src, out, notes)
    for note in notes:
        print(f"analyze.py: note: {note}", file=sys.stderr)
    pipeline = ExpressionPipeline(default_model(args.model_dir), make_detector(args.detector),
                                  still=kind == "images")
    batch.check_output(out)
    _remove_temporary(out)  # what a killed run was writing
    if kind == "video":
        return analyze_video(target, out, args.every, not args.no_video, args.smooth,
                             pipeline=pipeline, detect_every=args.detect_every,
                             max_pixels=args.max_frame_pixels)
    return analyze_images(target, None if args.no_video else out / "annotated",
                          pipeline=pipeline)


def _remove_temporary(out: Path):
    """The temporary files of an unfinished run in ``out`` (best effort: a folder that
    cannot be written keeps them, and the next run there removes them)."""
    for stale in out.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            stale.unlink(missing_ok=True)


def main_single(args) -> int:
    """One video, image or folder of images -> faces.csv, summary.json, timelines."""
    src = Path(args.input[0])
    out = Path(args.out or Path("outputs") / src.stem)
    try:
        return write_single(args, src, out)
    except (InputError, ModelLoadError, DetectorUnavailable, batch.BatchError) as exc:
        return fail(exc)
    except OSError as exc:  # the outputs could not be written: one line, no temporary file
        if out.is_dir():
            _remove_temporary(out)
        where = exc.filename or out
        return fail(f"cannot write {where}: {exc.strerror or exc}; check that {out} is a "
                    "folder you can write to, with free space (or give another --out)")


def write_single(args, src: Path, out: Path) -> int:
    """Analyse one input into ``out`` and print what was found (main_single's body)."""
    df = analyze_one(args, src, out)
    video = df.attrs.get("video")
    if video and video["truncated"]:
        print(f"analyze.py: warning: {src} ends after {video['frames']} of the "
              f"{video['declared_frames']} frames it declares (truncated or damaged): "
              "analysed as far as it decodes", file=sys.stderr)
    write_csv(df, out / "faces.csv")
    summary = {"input": str(src), "every": args.every, "smooth": args.smooth,
               **({"video": video} if video else {}), **summarize(df)}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
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


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_native_logs()
    try:  # a wrong export is one error before any work, not one per recording
        check_members(model_dirs(args.model_dir))
        # resolved here: a Ray worker does not see this process's environment
        args.max_frame_pixels = args.max_frame_pixels or frame_limit()
    except (ModelLoadError, SourceError) as exc:
        return fail(exc)
    out = Path(args.out) if args.out else None
    return main_batch(args) if is_batch(args.input, args.engine, out) else main_single(args)


if __name__ == "__main__":
    sys.exit(main())
