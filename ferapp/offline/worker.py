"""One recording of a batch, analysed in a worker process (local pool or Ray task) into its
own folder, atomically; the worker keeps its model and detector between recordings."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

from ferapp.offline.jobs import Job, Options, error_text, failure_row
from ferapp.offline.recording import analyze_video
from ferapp.offline.report import emotion_shares, plot_timelines, summarize, write_csv
from ferapp.system import atomic_path
from ferapp.vision.detect import make_detector
from ferapp.vision.models import default_model
from ferapp.vision.pipeline import ExpressionPipeline


def source_stamp(path) -> dict | None:
    """What tells a recording's file from another under the same path: size and
    modification time (None when it cannot be read)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def done_summary(out: Path, rec_id: str, path: str, stamp: dict | None) -> dict | None:
    """The summary of a recording that is done, or None: its folder and its Parquet part
    are both in place, and its summary is of ``path`` and of that file (``stamp``, when
    the summary records one: earlier versions did not)."""
    summary = out / "recordings" / rec_id / "summary.json"
    if not (summary.is_file() and
            (out / "faces.parquet" / f"recording={rec_id}" / "part.parquet").is_file()):
        return None
    try:
        done = json.loads(summary.read_text())
    except (OSError, ValueError):
        return None
    recorded = done.get("source")
    fits = done.get("input") == path and (recorded is None or recorded == stamp)
    return done if fits else None


_PIPELINE = {}


def worker_pipeline(opts: Options):
    """The model and detector of this worker process, loaded once and reused."""
    key = (opts.detector, opts.model_dir)
    if key not in _PIPELINE:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        model = default_model(opts.model_dir)
        _PIPELINE[key] = ExpressionPipeline(model, make_detector(opts.detector))
    return _PIPELINE[key]


def analyze_recording(job: Job, out: str, opts: Options) -> dict:
    """Analyse one recording into ``out``; return its summary row, or a failure row
    (``{"error": ...}``) for a recording that cannot be read. Writes atomically."""
    out = Path(out)
    started = time.perf_counter()
    stamp = source_stamp(job.path)  # before reading: a file changed meanwhile is redone
    partial = out / ".partial" / f"{job.rec_id}.{uuid.uuid4().hex[:8]}"
    partial.mkdir(parents=True)
    try:
        try:
            df = analyze_video(job.path, partial, opts.every, opts.write_video, opts.smooth,
                               pipeline=worker_pipeline(opts), progress=False,
                               detect_every=opts.detect_every, staged=opts.staged,
                               max_pixels=opts.max_pixels)
        except Exception as exc:  # corrupt file, no video stream, missing file
            return failure_row(job, error_text(exc))
        video = df.attrs["video"]
        write_csv(df, partial / "faces.csv")
        summary = summarize(df)
        plot_timelines(df, partial)
        rows = df.reset_index(drop=True)
        share = emotion_shares(rows["emotion"])
        row = {"recording": job.rec_id, "path": job.path, "duration_s": video["duration_s"],
               "truncated": video["truncated"],
               "analysed_frames": int(rows["frame"].nunique()) if len(rows) else 0,
               "face_rows": int(len(rows)), "faces": len(summary["faces"]),
               **{f"share_{e}": s for e, s in share.items()},
               "seconds": round(time.perf_counter() - started, 2)}
        (partial / "summary.json").write_text(json.dumps(
            {"input": job.path, "source": stamp, "every": opts.every, "smooth": opts.smooth,
             "table": row, "video": video, **summary}, indent=2))
        part_dir = out / "faces.parquet" / f"recording={job.rec_id}"
        part_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(part_dir / "part.parquet") as tmp:
            rows.to_parquet(tmp, index=False)
        final = out / "recordings" / job.rec_id
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # --force: the old outputs go only once the new ones exist
            shutil.rmtree(final)
        os.replace(partial, final)
        return row
    finally:
        shutil.rmtree(partial, ignore_errors=True)
