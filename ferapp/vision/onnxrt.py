"""ONNX Runtime sessions of the app (classifier and CenterFace): one shared CPU arena, no
memory patterns.

By default every session keeps its own arena that grows by powers of two, and caches a
"memory pattern" (a preallocated block) for every input shape it has seen: a server
whose detector sees several input sizes (stills in tiles, frames of other aspect ratios)
grew by ~50 MB under uploads and never gave it back. Here the sessions draw from one
arena registered with the environment that grows by exactly what is asked
(``kSameAsRequested``), and build no memory patterns. ``bench/load_test.py``, 8
concurrent 6000x6000 uploads: peak 563 -> 411 MB; 30 s of viewers and uploads: growth
+73 -> +4 MB.
"""

from __future__ import annotations

import functools
import threading

_lock = threading.Lock()
_registered = False


def _shared_arena(ort) -> bool:
    global _registered
    with _lock:
        if not _registered:
            try:
                cfg = ort.OrtArenaCfg({"arena_extend_strategy": 1,  # kSameAsRequested
                                       "max_dead_bytes_per_chunk": 1 << 20})
                info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                         ort.OrtMemType.DEFAULT)
                ort.create_and_register_allocator(info, cfg)
                _registered = True
            except Exception:  # an older runtime: each session keeps its own arena
                return False
        return True


def session(model, threads: int = 1):
    """An InferenceSession on the CPU with ``threads`` intra-op threads and the shared arena
    (``model``: a path or the serialised bytes)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.log_severity_level = 3
    opts.enable_mem_pattern = False
    if _shared_arena(ort):
        opts.add_session_config_entry("session.use_env_allocators", "1")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


@functools.cache
def run_options(release_memory: bool):
    """RunOptions for ``session.run``, or None: with ``release_memory`` the arena gives back
    the chunks a run took once it ends (``memory.enable_memory_arena_shrinkage``). For the
    stills: a 640-px tile's buffers are ~80 MB, which the arena would keep for good."""
    if not release_memory:
        return None
    import onnxruntime as ort

    opts = ort.RunOptions()
    opts.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return opts
