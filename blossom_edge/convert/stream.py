"""Tensor data produced chunk by chunk, so memory stays flat whatever the tensor's size.

`StreamedTensor` has the two things gguf-py's GGUFWriter.write_tensor_data uses from a
numpy array, `nbytes` and `tofile()`, so the writer keeps its header/alignment state
machine while we hand it data a few megabytes at a time. Chunks are converted on the
worker pool of the write that owns them (`convert_pool`), shut down when that write ends.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

import numpy as np

from blossom_edge.checkpoint import bf16_to_f16, to_f32
from blossom_edge.convert.plan import PlannedTensor

# About 16 MiB of float32 per chunk: large enough for numpy to run at memory speed, small
# enough that a window of chunks in flight on every core still fits a phone.
CHUNK_ELEMENTS = 4 * 1024 * 1024


def permute_rows(rows: np.ndarray, head_dim: int) -> np.ndarray:
    """Interleave the two rotary halves of each head, the layout llama.cpp's LLaMA graph expects.

    `rows` holds whole heads (a multiple of head_dim rows); each head's rows [a0..a(h/2), b0..]
    become [a0, b0, a1, b1, ...], which is what llama.cpp's converter does with its permute.
    """
    n_heads = rows.shape[0] // head_dim
    tail = rows.shape[1:]
    return rows.reshape(n_heads, 2, head_dim // 2, *tail).swapaxes(1, 2).reshape(rows.shape)


class StreamedTensor:
    """One planned tensor's output bytes, computed and written in row chunks."""

    def __init__(self, planned: PlannedTensor, pool: ThreadPoolExecutor,
                 on_bytes: Callable[[int], None] | None = None) -> None:
        self.planned = planned
        self.nbytes = planned.nbytes
        self._pool = pool
        self._on_bytes = on_bytes

    def _row_chunks(self) -> list[tuple[int, int]]:
        shape = self.planned.shape
        if len(shape) < 2:
            return [(0, shape[0] if shape else 1)]
        rows, row_len = shape[0], int(np.prod(shape[1:]))
        step = max(1, CHUNK_ELEMENTS // row_len)
        if self.planned.permute_heads:
            head_dim = rows // self.planned.permute_heads
            step = max(head_dim, step - step % head_dim)
        return [(r, min(rows, r + step)) for r in range(0, rows, step)]

    def _convert(self, rows: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
        """One chunk of output bytes; runs on a worker thread (numpy releases the GIL here)."""
        import gguf

        planned, ref = self.planned, self.planned.source
        r0, r1 = rows
        row_len = int(np.prod(ref.shape[1:])) if len(ref.shape) >= 2 else 1
        raw = ref.raw(r0 * row_len, (r1 - r0) * row_len)
        if len(ref.shape) >= 2:
            raw = raw.reshape((r1 - r0, *ref.shape[1:]))
        if planned.permute_heads:
            raw = permute_rows(raw, ref.shape[0] // planned.permute_heads)
        if gguf.GGMLQuantizationType[ref.dtype] == planned.qtype:
            out = np.ascontiguousarray(raw)
        elif ref.dtype == "BF16" and planned.qtype == gguf.GGMLQuantizationType.F16:
            out = bf16_to_f16(np.ascontiguousarray(raw))
        else:
            out = np.ascontiguousarray(gguf.quants.quantize(to_f32(raw, ref.dtype), planned.qtype))
        itemsize = raw.dtype.itemsize
        return out, (ref.offset + r0 * row_len * itemsize, (r1 - r0) * row_len * itemsize)

    def tofile(self, fout: IO[bytes]) -> None:
        """Convert chunks on all cores, a bounded window ahead, and write them in order."""
        pending: deque[Future[tuple[np.ndarray, tuple[int, int]]]] = deque()
        window = (os.cpu_count() or 1) + 1
        for rows in self._row_chunks():
            pending.append(self._pool.submit(self._convert, rows))
            if len(pending) >= window:
                self._write(fout, *pending.popleft().result())
        while pending:
            self._write(fout, *pending.popleft().result())

    def _write(self, fout: IO[bytes], out: np.ndarray, source_range: tuple[int, int]) -> None:
        """Write a chunk, then drop its source pages: a byte copy is still a view of them until written."""
        fout.write(out.data)
        self.planned.source.shard.release(*source_range)
        if self._on_bytes is not None:
            self._on_bytes(out.nbytes)


def convert_pool() -> ThreadPoolExecutor:
    """A pool for one file's conversion: numpy work that runs outside the GIL, on every core."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="convert")
