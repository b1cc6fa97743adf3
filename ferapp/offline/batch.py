"""Batch analysis of many recordings (engines.py: a local process pool or a Ray cluster).

Layout of an output folder::

    OUT/recordings/<id>/faces.csv, summary.json, timeline_face*.png, <name>_annotated.mp4
    OUT/faces.parquet/recording=<id>/part.parquet    one dataset, partitioned by recording
    OUT/summary.csv      recording, path, duration, faces, share of time per emotion
    OUT/failures.csv     recording, path, error, attempts, size, mtime (failed recordings)

A recording is done when ``OUT/recordings/<id>`` exists: it is built under
``OUT/.partial/`` and renamed into place last, after its Parquet part (itself written to
a temporary file and renamed). A killed run leaves no half outputs, and a rerun skips
what is done (``force`` redoes it) and rewrites a Parquet part it finds without its
folder, so no row is duplicated. A recording that failed is not tried again while the
file is unchanged (same size and modification time), unless ``retry_failed`` or ``force``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pandas as pd

from ferapp.offline.engines import run_local, run_ray
from ferapp.offline.inputs import collect_inputs, recording_ids
from ferapp.offline.jobs import BatchError, Job, Options, Report
from ferapp.offline.worker import is_done
from ferapp.system import atomic_path, cores, progress_bar


def check_output(out: Path):
    """Create the output folder and prove it is writable (before any work starts)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise BatchError(f"cannot write to the output folder {out}: "
                         f"{exc.strerror or exc}") from None


def _stamp(path: str) -> tuple:
    """(size, mtime, ctime) of a file: a chmod changes only its ctime."""
    try:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns, st.st_ctime_ns
    except OSError:
        return None, None, None


def _earlier_failures(out: Path) -> dict:
    f = out / "failures.csv"
    if not f.is_file():
        return {}
    try:
        df = pd.read_csv(f, dtype={"recording": str})
    except Exception:
        return {}
    return {r["recording"]: r for r in df.to_dict("records")}


def _plan(out: Path, ids, paths, report: Report, force: bool, retry_failed: bool) -> list[Job]:
    """The recordings to analyse now; those done (unless ``force``) go to report.skipped,
    those that failed before on the same, unchanged file to report.failed_before."""
    earlier = {} if force or retry_failed else _earlier_failures(out)
    jobs = []
    for rec_id, path in zip(ids, paths, strict=True):
        old = earlier.get(rec_id)
        stamp = _stamp(str(path))
        if not force and is_done(out, rec_id):
            report.skipped.append(rec_id)
        elif old is not None and old["path"] == str(path) and _same(old, stamp):
            report.failed_before.append(old)
        else:
            jobs.append(Job(rec_id, str(path)))
    return jobs


def run(inputs, out, engine: str = "local", address: str | None = None,
        workers: int | None = None, force: bool = False, opts: Options | None = None,
        progress: bool = True, retry_failed: bool = False) -> Report:
    """Analyse every recording of ``inputs`` into ``out`` with the chosen engine."""
    opts = opts or Options()
    out = Path(out)
    if address and engine != "ray":
        raise BatchError("--address goes with --engine ray")
    report = Report()
    paths = collect_inputs(inputs, report.notes)
    check_output(out)
    ids = recording_ids(paths)
    jobs = _plan(out, ids, paths, report, force, retry_failed)
    shutil.rmtree(out / ".partial", ignore_errors=True)  # leftovers of a killed run
    workers = workers or cores()
    # one worker per core; a worker uses two (detect | classify) only where cores are spare
    opts = replace(opts, staged=2 * min(workers, max(1, len(jobs))) <= cores())
    bar = progress_bar(len(jobs), "rec") if progress and jobs else None
    started, face_rows = time.perf_counter(), [0]

    def on_result(job: Job, row: dict):
        if "error" in row:
            size, mtime, ctime = _stamp(job.path)
            report.failed.append({**row, "attempts": job.attempts, "size": size,
                                  "mtime": mtime, "ctime": ctime})
        else:
            report.done.append(row)
            face_rows[0] += row["face_rows"]
        if bar is not None:
            bar.set_postfix(done=len(report.done), failed=len(report.failed),
                            faces_per_s=f"{face_rows[0] / (time.perf_counter() - started):.0f}")
            bar.update(1)

    try:
        if jobs and engine == "ray":
            run_ray(jobs, out, opts, on_result, address=address, cpus=workers)
        elif jobs:
            run_local(jobs, out, opts, workers, on_result)
    finally:
        if bar is not None:
            bar.close()
        _write_tables(out, ids, report)
    return report


def _write_tables(out: Path, ids, report: Report):
    """summary.csv over every done recording of these inputs; failures.csv of this run."""
    rows = []
    for rec_id in ids:
        f = out / "recordings" / rec_id / "summary.json"
        if f.is_file():
            rows.append(json.loads(f.read_text())["table"])
    _atomic_csv(pd.DataFrame(rows), out / "summary.csv")
    _atomic_csv(pd.DataFrame(report.failed_before + report.failed,
                             columns=["recording", "path", "error", "attempts", "size",
                                      "mtime", "ctime"]), out / "failures.csv")


def _same(old: dict, stamp: tuple) -> bool:
    """The file of an earlier failure is unchanged (content, time and permissions)."""
    def num(v):
        try:
            return int(v)
        except (TypeError, ValueError):
            return None

    return (num(old.get("size")), num(old.get("mtime")), num(old.get("ctime"))) == stamp


def _atomic_csv(df, path: Path):
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
