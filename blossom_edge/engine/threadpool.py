"""Persistent ggml thread pools for benchmark contexts, as llama-bench attaches them.

Without an attached pool ggml starts and joins its worker threads for every graph, which
costs a few percent of generation speed at each token. llama-cpp-python 0.3.36 binds none
of these calls, so they are declared here with ctypes against its own shared libraries.
Public replacement: `llama_cpp.ggml_threadpool_new` / `llama_cpp.llama_attach_threadpool`,
once llama-cpp-python binds them.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any


class _GgmlThreadpoolParams(ctypes.Structure):
    """ggml.h's `struct ggml_threadpool_params` (GGML_MAX_N_THREADS = 512)."""

    _fields_ = [
        ("cpumask", ctypes.c_bool * 512),
        ("n_threads", ctypes.c_int),
        ("prio", ctypes.c_int),
        ("poll", ctypes.c_uint32),
        ("strict_cpu", ctypes.c_bool),
        ("paused", ctypes.c_bool),
    ]


class ThreadPools:
    """ggml's thread-pool calls, found in llama-cpp-python's own libraries."""

    def __init__(self, base: ctypes.CDLL, cpu: ctypes.CDLL, llama: ctypes.CDLL) -> None:
        base.ggml_threadpool_params_init.argtypes = [ctypes.POINTER(_GgmlThreadpoolParams), ctypes.c_int]
        base.ggml_threadpool_params_init.restype = None
        cpu.ggml_threadpool_new.argtypes = [ctypes.POINTER(_GgmlThreadpoolParams)]
        cpu.ggml_threadpool_new.restype = ctypes.c_void_p
        cpu.ggml_threadpool_free.argtypes = [ctypes.c_void_p]
        cpu.ggml_threadpool_free.restype = None
        llama.llama_attach_threadpool.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        llama.llama_attach_threadpool.restype = None
        self._base, self._cpu, self._llama = base, cpu, llama

    @classmethod
    def load(cls, lib_dir: Path) -> ThreadPools | None:
        """None when the libraries are laid out differently (then ggml's per-graph threads are used)."""
        def find(stem: str) -> ctypes.CDLL | None:
            for candidate in sorted(lib_dir.glob(f"lib{stem}.*")):
                try:
                    return ctypes.CDLL(str(candidate))
                except OSError:
                    continue
            return None

        libs = [find(name) for name in ("ggml-base", "ggml-cpu", "llama")]
        if any(lib is None for lib in libs):
            return None
        try:
            return cls(*libs)  # type: ignore[arg-type]
        except AttributeError:
            return None

    def new(self, threads: int) -> int | None:
        params = _GgmlThreadpoolParams()
        self._base.ggml_threadpool_params_init(ctypes.byref(params), threads)
        return self._cpu.ggml_threadpool_new(ctypes.byref(params))

    def attach(self, ctx: Any, pool: int) -> None:
        self._llama.llama_attach_threadpool(ctypes.cast(ctx, ctypes.c_void_p), pool, None)

    def free(self, pool: int) -> None:
        self._cpu.ggml_threadpool_free(pool)
