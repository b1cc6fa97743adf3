"""Process-level helpers: cores, native log silencing, heap trimming, atomic writes, and
where the repository (and the data beside it) is."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # ../shared/data beside the checkout

M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 * 2**20  # blocks from this size are mapped, and unmapped when freed
PR_SET_PDEATHSIG = 1


def cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (/proc/cpuinfo); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, Arm
            return set(value.split())
    return set()


def cpu_name() -> str:
    """The CPU's model name (as lscpu shows it), to print beside a measured figure."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# x86: VNNI (AVX-512 or AVX) and AMX multiply int8 vectors into 32-bit sums; Arm: SDOT
INT8_DOT_PRODUCT_FLAGS = {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"}


def int8_dot_products() -> bool:
    """True when the CPU reports int8 dot-product instructions (benches print it: int8 runs
    faster with them; the int8 model is exact either way, see learning/quantize.py)."""
    return bool(cpu_flags() & INT8_DOT_PRODUCT_FLAGS)


def progress_bar(total=None, unit="item", iterable=None):
    """A tqdm progress bar on stderr, hidden when stderr is not a terminal (over
    ``iterable`` when given)."""
    import sys

    from tqdm import tqdm

    return tqdm(iterable, total=total or None, unit=unit, dynamic_ncols=True, file=sys.stderr,
                disable=None)


def quiet_native_logs():
    """Keep OpenCV's, FFmpeg's and TensorFlow's native log lines out of the CLIs' output
    (a missing webcam or an undecodable file is reported once, in our own words)."""
    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def _libc():
    """glibc, or None on other C libraries."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def release_free_memory():
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``): after a big
    upload or a viewer leaving, freed buffers would otherwise stay in the process."""
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def tune_malloc(arenas: int = 2, mmap_threshold: int = MMAP_THRESHOLD):
    """The server's glibc allocator: at most ``arenas`` per-thread malloc arenas (with dozens
    of server threads each keeps its own freed memory and the footprint creeps up), and a
    fixed ``mmap_threshold``: glibc raises it to the size of each big block freed (up to 32
    MB), so a still's detector buffers, once freed, stayed in the heap as resting memory;
    fixed, blocks from 4 MB up go back to the system when freed (bench/load_test.py)."""
    if _LIBC is not None and hasattr(_LIBC, "mallopt"):
        _LIBC.mallopt(M_ARENA_MAX, arenas)
        _LIBC.mallopt(M_MMAP_THRESHOLD, mmap_threshold)


def die_with_parent():
    """Linux: this process gets SIGTERM when its parent dies (no orphan workers)."""
    import signal

    if _LIBC is not None and hasattr(_LIBC, "prctl"):
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path`` (same name at its end, so suffixes such as
    ``.weights.h5`` or ``.npz`` still hold) and move it onto ``path`` when the block
    succeeds: readers see the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | Path, text: str):
    """Write ``text`` to ``path`` atomically (see atomic_path)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
