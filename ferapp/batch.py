"""Batch analysis of many recordings: a local process pool or a Ray cluster, same code.

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

import glob
import json
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                    ".flv", ".3gp", ".ts"}
MAX_ATTEMPTS = 3  # a recording whose worker died is tried this many times in all


class BatchError(Exception):
    """A problem with the inputs, the output folder or the cluster, found before any work."""


@dataclass
class Job:
    """One recording to analyse."""

    rec_id: str
    path: str
    attempts: int = 0


@dataclass
class Options:
    every: int = 1
    write_video: bool = True
    smooth: float = 1.0
    detector: str = "centerface"
    model_dir: str | None = None  # default: the shipped model (or $FER_MODEL_DIR)


@dataclass
class Report:
    done: list = field(default_factory=list)  # per-recording summary rows of this run
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # {recording, path, error, attempts}
    failed_before: list = field(default_factory=list)  # earlier failures, file unchanged


# -- inputs ------------------------------------------------------------------------------
def collect_inputs(specs) -> list[Path]:
    """Recordings named by folders (searched recursively for videos), globs, files, or
    text files listing one path per line (``.txt``/``.lst``); errors name the culprit."""
    found: list[Path] = []
    for spec in specs:
        spec = str(spec)
        p = Path(spec).expanduser()
        if any(ch in spec for ch in "*?["):
            matches = [Path(m) for m in sorted(glob.glob(spec, recursive=True))]
            matches = [m for m in matches if m.is_file()]
            if not matches:
                raise BatchError(f"the pattern {spec!r} matches no file")
            found += matches
        elif p.is_dir():
            videos = sorted(f for f in p.rglob("*") if f.is_file()
                            and f.suffix.lower() in VIDEO_EXTENSIONS)
            if not videos:
                raise BatchError(f"the folder {p} holds no video "
                                 f"({', '.join(sorted(VIDEO_EXTENSIONS))})")
            found += videos
        elif p.is_file() and p.suffix.lower() in (".txt", ".lst"):
            lines = [ln.strip() for ln in p.read_text().splitlines()]
            listed = [Path(ln).expanduser() if Path(ln).is_absolute() else p.parent / ln
                      for ln in lines if ln and not ln.startswith("#")]
            if not listed:
                raise BatchError(f"the list {p} names no recording")
            found += listed  # a listed file that is missing becomes a failure row
        elif p.is_file():
            found.append(p)
        else:
            raise BatchError(f"{spec} does not exist")
    unique = list(dict.fromkeys(f.resolve() for f in found))
    if not unique:
        raise BatchError("no recording to analyse")
    return unique


def recording_ids(paths: list[Path]) -> list[str]:
    """A stable, unique, filesystem- and partition-safe id per recording: its path
    relative to the inputs' common folder, '/' -> '__'."""
    if len(paths) == 1:
        rel = [paths[0].name]
    else:
        root = Path(os.path.commonpath([str(p.parent) for p in paths]))
        rel = [str(p.relative_to(root)) for p in paths]
    ids = [re.sub(r"[^A-Za-z0-9._-]", "_", r.replace(os.sep, "__")) for r in rel]
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        n = seen.get(i, 0)
        seen[i] = n + 1
        out.append(i if n == 0 else f"{i}~{n}")
    return out


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


def is_done(out: Path, rec_id: str) -> bool:
    return ((out / "recordings" / rec_id / "summary.json").is_file()
            and (out / "faces.parquet" / f"recording={rec_id}" / "part.parquet").is_file())


# -- one recording (runs in a worker) ------------------------------------------------------
_PIPELINE = {}


def worker_pipeline(opts: Options):
    """The model and detector of this worker process, loaded once and reused."""
    key = (opts.detector, opts.model_dir)
    if key not in _PIPELINE:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        from ferapp.detect import make_detector
        from model import FacialExpressionModel, default_model
        from pipeline import ExpressionPipeline

        model = (FacialExpressionModel(Path(opts.model_dir) / "model.json",
                                       Path(opts.model_dir) / "model_weights.h5")
                 if opts.model_dir else default_model())
        _PIPELINE[key] = ExpressionPipeline(model, make_detector(opts.detector))
    return _PIPELINE[key]


def _duration(path: str) -> tuple[float, float]:
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        frames = cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0
    finally:
        cap.release()
    return frames / fps, fps


def analyze_recording(job: Job, out: str, opts: Options) -> dict:
    """Analyse one recording into ``out``; return its summary row, or a failure row
    (``{"error": ...}``) for a recording that cannot be read. Writes atomically."""
    import pandas as pd

    from analyze import analyze_video, plot_timelines, summarize
    from labels import EMOTIONS

    out = Path(out)
    started = time.perf_counter()
    partial = out / ".partial" / f"{job.rec_id}.{uuid.uuid4().hex[:8]}"
    partial.mkdir(parents=True)
    try:
        try:
            df = analyze_video(job.path, partial, opts.every, opts.write_video, opts.smooth,
                               pipeline=worker_pipeline(opts), progress=False)
        except Exception as exc:  # corrupt file, no video stream, missing file
            return {"recording": job.rec_id, "path": job.path,
                    "error": f"{exc.__class__.__name__}: {exc}".splitlines()[0]}
        duration, _ = _duration(job.path)
        df.to_csv(partial / "faces.csv", index=False)
        summary = summarize(df)
        plot_timelines(df, partial)
        rows = df.reset_index(drop=True)
        share = (rows["emotion"].value_counts(normalize=True) if len(rows)
                 else pd.Series(dtype=float))
        row = {"recording": job.rec_id, "path": job.path, "duration_s": round(duration, 3),
               "analysed_frames": int(rows["frame"].nunique()) if len(rows) else 0,
               "face_rows": int(len(rows)), "faces": len(summary["faces"]),
               **{f"share_{e}": round(float(share.get(e, 0.0)), 4) for e in EMOTIONS},
               "seconds": round(time.perf_counter() - started, 2)}
        (partial / "summary.json").write_text(json.dumps(
            {"input": job.path, "every": opts.every, "smooth": opts.smooth, "table": row,
             **summary}, indent=2))
        part_dir = out / "faces.parquet" / f"recording={job.rec_id}"
        part_dir.mkdir(parents=True, exist_ok=True)
        tmp = part_dir / f".part-{uuid.uuid4().hex[:8]}.parquet"
        rows.to_parquet(tmp, index=False)
        os.replace(tmp, part_dir / "part.parquet")
        final = out / "recordings" / job.rec_id
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # --force: the old outputs go only once the new ones exist
            shutil.rmtree(final)
        os.replace(partial, final)
        return row
    finally:
        shutil.rmtree(partial, ignore_errors=True)


# -- engines -------------------------------------------------------------------------------
def _local_init(opts: Options):
    _die_with_parent()
    worker_pipeline(opts)  # load the model once per worker, before the first recording


def _die_with_parent():
    """Linux: a worker ends when the run that started it is killed (no orphan writers)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_local(jobs: list[Job], out: Path, opts: Options, workers: int, on_result,
              task=None):
    """A process pool of ``workers``; a dead worker's recordings are retried in a new pool.
    ``task`` replaces analyze_recording (tests)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pending = list(jobs)
    ctx = mp.get_context("spawn")  # no fork of a process that holds ONNX/TF threads
    while pending:
        retry = []
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_local_init,
                                 initargs=(opts,)) as pool:
            futures = {}
            for job in pending:
                job.attempts += 1
                futures[pool.submit(task or analyze_recording, job, str(out), opts)] = job
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    row = fut.result()
                except BrokenProcessPool:
                    _retry_or_fail(job, retry, on_result, "the worker process died")
                    continue
                except Exception as exc:  # e.g. the output folder vanished
                    row = {"recording": job.rec_id, "path": job.path,
                           "error": f"{exc.__class__.__name__}: {exc}".splitlines()[0]}
                on_result(job, row)
        pending = retry


def _retry_or_fail(job, retry, on_result, why):
    if job.attempts < MAX_ATTEMPTS:
        retry.append(job)
    else:
        on_result(job, {"recording": job.rec_id, "path": job.path,
                        "error": f"{why} ({job.attempts} attempts)"})


def connect_ray(address: str | None, cpus: int | None = None):
    """Join the cluster at ``address`` (``ray://host:10001``, ``host:6379`` or ``auto``),
    or start a local one; BatchError when it cannot be reached."""
    if address and address != "auto":
        _check_reachable(address)
    try:
        import ray
    except ImportError:
        raise BatchError("the Ray engine needs Ray: pip install -r requirements-ray.txt") \
            from None
    root = str(Path(__file__).resolve().parent.parent)
    env = {"env_vars": {"PYTHONPATH": root, "OMP_NUM_THREADS": "1",
                        "TF_CPP_MIN_LOG_LEVEL": "3"}}
    if address and address.startswith("ray://"):
        # a remote cluster: ship the code (not the data: recordings and --out must be on a
        # filesystem every node sees)
        env = {"working_dir": root, "excludes": [".venv", "runs", "outputs", ".git",
                                                 "notebooks", "docs", "tests", "bench"],
               "env_vars": {"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}}
    kwargs = {"runtime_env": env, "logging_level": "ERROR", "log_to_driver": False,
              "include_dashboard": False}
    if address:
        kwargs["address"] = address
    elif cpus:
        kwargs["num_cpus"] = cpus
    if address and address.startswith("ray://"):
        kwargs.pop("include_dashboard")
    try:
        ray.init(**kwargs)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise BatchError(f"cannot reach the Ray cluster at {address or 'local'}: {msg}") \
            from None
    return ray


def _check_reachable(address: str, timeout: float = 5.0):
    """Fail fast (one line) on a cluster address nobody answers at."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise BatchError(f"malformed cluster address {address!r}: use ray://HOST:10001, "
                         "HOST:6379 or auto")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise BatchError(f"cannot reach the Ray cluster at {address}: "
                         f"{exc.strerror or exc}") from None


def run_ray(jobs: list[Job], out: Path, opts: Options, on_result, address=None, cpus=None):
    """One Ray task per recording (1 CPU each); Ray retries a task whose worker died, and
    each worker process keeps its model between tasks."""
    ray = connect_ray(address, cpus)
    try:
        task = ray.remote(num_cpus=1, max_retries=MAX_ATTEMPTS - 1)(analyze_recording)
        refs = {}
        for job in jobs:
            job.attempts = 1
            refs[task.remote(job, str(out), opts)] = job
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            job = refs[ready[0]]
            try:
                on_result(job, ray.get(ready[0]))
            except Exception as exc:  # the worker died MAX_ATTEMPTS times, or the node
                on_result(job, {"recording": job.rec_id, "path": job.path,
                                "error": f"{exc.__class__.__name__}: "
                                         f"{str(exc).splitlines()[0] if str(exc) else ''}"
                                         f" ({MAX_ATTEMPTS} attempts)"})
    finally:
        ray.shutdown()


# -- the run -------------------------------------------------------------------------------
def _stamp(path: str) -> tuple:
    try:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    except OSError:
        return None, None


def _earlier_failures(out: Path, pd) -> dict:
    f = out / "failures.csv"
    if not f.is_file():
        return {}
    try:
        df = pd.read_csv(f, dtype={"recording": str})
    except Exception:
        return {}
    return {r["recording"]: r for r in df.to_dict("records")}


def run(inputs, out, engine: str = "local", address: str | None = None,
        workers: int | None = None, force: bool = False, opts: Options | None = None,
        progress: bool = True, retry_failed: bool = False) -> Report:
    """Analyse every recording of ``inputs`` into ``out`` with the chosen engine."""
    import pandas as pd

    opts = opts or Options()
    out = Path(out)
    if address and engine != "ray":
        raise BatchError("--address goes with --engine ray")
    paths = collect_inputs(inputs)
    check_output(out)
    ids = recording_ids(paths)
    report = Report()
    earlier = {} if force or retry_failed else _earlier_failures(out, pd)
    jobs = []
    for rec_id, path in zip(ids, paths):
        old = earlier.get(rec_id)
        size, mtime = _stamp(str(path))
        if not force and is_done(out, rec_id):
            report.skipped.append(rec_id)
        elif old is not None and old["path"] == str(path) and _same(old, size, mtime):
            report.failed_before.append(old)
        else:
            jobs.append(Job(rec_id, str(path)))
    shutil.rmtree(out / ".partial", ignore_errors=True)  # leftovers of a killed run
    workers = workers or _cores()
    bar = None
    if progress and jobs:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="rec", dynamic_ncols=True, file=sys.stderr,
                   disable=None)
    started, face_rows = time.perf_counter(), [0]

    def on_result(job: Job, row: dict):
        if "error" in row:
            size, mtime = _stamp(job.path)
            report.failed.append({**row, "attempts": job.attempts, "size": size,
                                  "mtime": mtime})
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
        _write_tables(out, ids, report, pd)
    return report


def _write_tables(out: Path, ids, report: Report, pd):
    """summary.csv over every done recording of these inputs; failures.csv of this run."""
    rows = []
    for rec_id in ids:
        f = out / "recordings" / rec_id / "summary.json"
        if f.is_file():
            rows.append(json.loads(f.read_text())["table"])
    _atomic_csv(pd.DataFrame(rows), out / "summary.csv")
    _atomic_csv(pd.DataFrame(report.failed_before + report.failed,
                             columns=["recording", "path", "error", "attempts", "size",
                                      "mtime"]), out / "failures.csv")


def _same(old: dict, size, mtime) -> bool:
    def num(v):
        try:
            return int(v)
        except (TypeError, ValueError):
            return None

    return num(old.get("size")) == size and num(old.get("mtime")) == mtime


def _atomic_csv(df, path: Path):
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
