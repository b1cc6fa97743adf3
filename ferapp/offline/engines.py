"""The engines of a batch run: a local process pool or a Ray cluster, the same worker code.

Both retry a recording whose worker died (MAX_ATTEMPTS in all) and report every recording
through ``on_result(job, row)``: its summary row, or a failure row with ``error``.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from ferapp.offline.jobs import MAX_ATTEMPTS, BatchError, Job, Options, error_text, failure_row
from ferapp.offline.worker import analyze_recording, worker_pipeline
from ferapp.system import REPO_ROOT, die_with_parent


def _local_init(opts: Options):
    die_with_parent()  # a worker ends when the run that started it is killed
    worker_pipeline(opts)  # load the model once per worker, before the first recording


def run_local(jobs: list[Job], out, opts: Options, workers: int, on_result,
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
                    row = failure_row(job, error_text(exc))
                on_result(job, row)
        pending = retry


def _retry_or_fail(job, retry, on_result, why):
    if job.attempts < MAX_ATTEMPTS:
        retry.append(job)
    else:
        on_result(job, failure_row(job, f"{why} ({job.attempts} attempts)"))


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
    root = str(REPO_ROOT)
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


def run_ray(jobs: list[Job], out, opts: Options, on_result, address=None, cpus=None):
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
                on_result(job, failure_row(job, f"{error_text(exc)} ({MAX_ATTEMPTS} attempts)"))
    finally:
        ray.shutdown()
