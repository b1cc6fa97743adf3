"""Batch analysis of many recordings (engines.py: a local process pool or a Ray cluster).

Layout of an output folder::

    OUT/recordings/<id>/faces.csv, summary.json, timeline_face*.png, <name>_annotated.mp4
    OUT/faces.parquet/recording=<id>/part.parquet    one dataset, partitioned by recording
    OUT/summary.csv      recording, path, duration, faces, share of time per emotion
    OUT/failures.csv     recording, path, error, attempts, size, mtime (failed recordings)

A recording's id is its file name and a hash of its path (``inputs.recording_id``); a path
analysed by an earlier version keeps the id it had then. A recording is done when
``OUT/recordings/<id>`` holds the summary of the same path, same size and modification
time, beside its Parquet part: it is built under ``OUT/.partial/`` and renamed into place
last, after its Parquet part (itself written to a temporary file and renamed). A killed
run leaves no half outputs, and a rerun skips what is done (``force`` redoes it; a file
changed since is redone) and rewrites a Parquet part it finds without its folder, so no
row is duplicated. A recording that failed is not tried again while the file is
unchanged (same size and modification time), unless ``retry_failed`` or ``force``. Nothing
under OUT is an input, and a file that is not a regular one (a named pipe, a device) is a
failure before any read.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pandas as pd

from ferapp.offline.engines import run_local, run_ray
from ferapp.offline.inputs import collect_inputs, recording_id, why_unreadable
from ferapp.offline.jobs import BatchError, Job, Options, Report, failure_row
from ferapp.offline.report import write_csv
from ferapp.offline.worker import done_summary, source_stamp
from ferapp.system import cores, progress_bar


def check_output(out: Path):
    """Create the output folder and prove it is writable (before any work starts)."""
    if out.exists() and not out.is_dir():
        raise BatchError(f"the output folder {out} is a file: give a folder to --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise BatchError(f"cannot write to the output folder {out}: "
                         f"{exc.strerror or exc} (give another --out)") from None


def _stamp(path: str) -> tuple:
    """(size, mtime, ctime) of a file: a chmod changes only its ctime."""
    try:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns, st.st_ctime_ns
    except OSError:
        return None, None, None


def _earlier_failures(out: Path) -> dict:
    """The failure rows of the last run, by path."""
    f = out / "failures.csv"
    if not f.is_file():
        return {}
    try:
        df = pd.read_csv(f, dtype={"recording": str, "path": str})
    except Exception:
        return {}
    return {r["path"]: r for r in df.to_dict("records")}


def known_ids(out: Path) -> dict[str, str]:
    """path -> id of the recordings already in ``out``, read from their summary.json: an
    earlier version's id (its sanitised relative path) stays that path's id."""
    known: dict[str, str] = {}
    for f in sorted((out / "recordings").glob("*/summary.json")):
        try:
            path = json.loads(f.read_text()).get("input")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(path, str) and (path not in known
                                      or f.parent.name == recording_id(Path(path))):
            known[path] = f.parent.name
    return known


def assign_ids(out: Path, paths: list[Path]) -> list[str]:
    """Each path's id: the one it has in ``out`` already, else ``recording_id``."""
    known = known_ids(out)
    return [known.get(str(p)) or recording_id(p) for p in paths]


def _plan(out: Path, ids, paths, report: Report, force: bool, retry_failed: bool) -> list[Job]:
    """The recordings to analyse now; those done (unless ``force``) go to report.skipped,
    those that failed before on the same, unchanged file to report.failed_before, and
    those that are not regular readable files to report.failed (nothing read)."""
    earlier = {} if force or retry_failed else _earlier_failures(out)
    jobs = []
    for rec_id, path in zip(ids, paths, strict=True):
        old = earlier.get(str(path))
        stamp = _stamp(str(path))
        if not force and done_summary(out, rec_id, str(path), source_stamp(path)):
            report.skipped.append(rec_id)
        elif old is not None and _same(old, stamp):
            report.failed_before.append({**old, "recording": rec_id})
        elif problem := why_unreadable(path):
            report.failed.append({**failure_row(Job(rec_id, str(path)), f"{path}: {problem}"),
                                  "attempts": 0, "size": stamp[0], "mtime": stamp[1],
                                  "ctime": stamp[2]})
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
    paths = collect_inputs(inputs, report.notes, out=out)
    check_output(out)
    ids = assign_ids(out, paths)
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
        _write_tables(out, ids, paths, report)
        with contextlib.suppress(OSError):  # empty once every worker is done
            (out / ".partial").rmdir()
    return report


def _write_tables(out: Path, ids, paths, report: Report):
    """summary.csv: each input of this run once, under its own path, if its outputs are
    those of the file as it is now; failures.csv of this run."""
    rows = []
    for rec_id, path in zip(ids, paths, strict=True):
        done = done_summary(out, rec_id, str(path), source_stamp(path))
        if done is not None:
            rows.append(done["table"])
    write_csv(pd.DataFrame(rows), out / "summary.csv")
    write_csv(pd.DataFrame(report.failed_before + report.failed,
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

