"""Tensor data produced chunk by chunk, so memory stays flat whatever the tensor's size.

`StreamedTensor` has the two things gguf-py's GGUFWriter.write_tensor_data uses from a
numpy array, `nbytes` and `tofile()`, so the writer keeps its header/alignment state
machine while we hand it data a few megabytes at a time. Chunks are converted on the
worker pool of the write that owns them (`convert_pool`), shut down when that write ends.
A tensor whose bytes do not change (same type, no permutation: every tensor of an `auto`
conversion) never passes through Python: the kernel copies it from shard to output
(`copy_file_range`, else positioned reads and writes), which is what `cat` costs.
"""

from __future__ import annotations

import errno
import functools
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import IO

import numpy as np

from blossom_edge.checkpoint import DTYPE_SIZES, NUMPY_DTYPES, bf16_to_f16, to_f32
from blossom_edge.convert.plan import PlannedTensor

# About 16 MiB of float32 per chunk: large enough for numpy to run at memory speed, small
# enough that a window of chunks in flight on every core still fits a phone.
CHUNK_ELEMENTS = 4 * 1024 * 1024
# Kernel copies go in steps this large: few system calls, and a progress bar that still moves.
COPY_STEP = 64 * 1024 * 1024
# Errors that mean "this kernel or file system cannot copy_file_range here", not a failed copy.
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM})


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

    def _convert(self, rows: tuple[int, int], src: int) -> np.ndarray:
        """One chunk of output bytes; runs on a worker thread (numpy releases the GIL here).

        The source rows are read with pread into this thread's buffer, and the f16 cast goes
        into another: no page faults on a mapping, no fresh memory per chunk.
        """
        import gguf

        planned, ref = self.planned, self.planned.source
        r0, r1 = rows
        row_len = int(np.prod(ref.shape[1:])) if len(ref.shape) >= 2 else 1
        count = (r1 - r0) * row_len
        raw = _read(src, ref.offset + r0 * row_len * DTYPE_SIZES[ref.dtype], count, NUMPY_DTYPES[ref.dtype])
        if len(ref.shape) >= 2:
            raw = raw.reshape((r1 - r0, *ref.shape[1:]))
        if planned.permute_heads:
            raw = permute_rows(raw, ref.shape[0] // planned.permute_heads)
        if gguf.GGMLQuantizationType[ref.dtype] == planned.qtype:
            out = np.ascontiguousarray(raw)
        elif ref.dtype == "BF16" and planned.qtype == gguf.GGMLQuantizationType.F16:
            out = np.take(bf16_to_f16_table(), raw.reshape(-1), out=_scratch("out", count * 2).view(np.uint16))
        else:
            out = np.ascontiguousarray(gguf.quants.quantize(to_f32(raw, ref.dtype), planned.qtype))
        return out

    def is_byte_copy(self) -> bool:
        import gguf

        planned = self.planned
        return not planned.permute_heads and gguf.GGMLQuantizationType[planned.source.dtype] == planned.qtype

    def tofile(self, fout: IO[bytes]) -> None:
        """Copy in the kernel when the bytes do not change; else convert chunks on all cores, a
        bounded window ahead, each worker writing its chunk at its own offset."""
        if self.is_byte_copy():
            self._copy(fout)
            return
        fout.flush()
        start = fout.tell()
        shape = self.planned.shape
        row_bytes = self.nbytes // shape[0] if len(shape) >= 2 else self.nbytes
        pending: deque[Future[None]] = deque()
        window = (os.cpu_count() or 1) + 1
        src = os.open(self.planned.source.shard.path, os.O_RDONLY)
        try:
            for rows in self._row_chunks():
                pending.append(self._pool.submit(self._convert_and_write, rows, src, fout.fileno(),
                                                 start + rows[0] * row_bytes))
                if len(pending) >= window:
                    pending.popleft().result()
            while pending:
                pending.popleft().result()
        finally:
            # After a failure: chunks already running read `src`, so they end before it is closed.
            for future in pending:
                future.cancel()
            wait(pending)
            os.close(src)
        fout.seek(start + self.nbytes)

    def _convert_and_write(self, rows: tuple[int, int], src: int, dst: int, offset: int) -> None:
        """On a worker: convert one chunk and write it where it belongs in the output."""
        out = self._convert(rows, src)
        data = memoryview(out).cast("B")
        while data:
            written = os.pwrite(dst, data, offset)
            data, offset = data[written:], offset + written
        if self._on_bytes is not None:
            self._on_bytes(out.nbytes)

    def _copy(self, fout: IO[bytes]) -> None:
        """The tensor's bytes from its shard straight into the output, at the writer's position."""
        ref = self.planned.source
        fout.flush()
        start = fout.tell()
        src = os.open(ref.shard.path, os.O_RDONLY)
        try:
            copy_range(src, fout.fileno(), ref.offset, start, ref.nbytes, self._on_bytes)
        finally:
            os.close(src)
        fout.seek(start + ref.nbytes)



def copy_range(src: int, dst: int, src_offset: int, dst_offset: int, count: int,
               on_bytes: Callable[[int], None] | None = None) -> None:
    """Copy `count` bytes between file descriptors at the given offsets, in the kernel where it can.

    Where the kernel or file system refuses copy_file_range (another file system, an old
    kernel, no such call on this OS), the rest goes by positioned reads and writes.
    """
    in_kernel = hasattr(os, "copy_file_range")
    done = 0
    while done < count:
        step = min(COPY_STEP, count - done)
        moved = 0
        if in_kernel:
            try:
                moved = os.copy_file_range(src, dst, step, src_offset + done, dst_offset + done)
            except OSError as exc:
                if exc.errno not in _NO_KERNEL_COPY:
                    raise
                in_kernel = False
        if not in_kernel:
            data = os.pread(src, step, src_offset + done)
            moved = os.pwrite(dst, data, dst_offset + done) if data else 0
        if moved <= 0:
            raise OSError(errno.EIO, f"the source ended {count - done} bytes early")
        done += moved
        if on_bytes is not None:
            on_bytes(moved)


_scratch_space = threading.local()


def _scratch(name: str, nbytes: int) -> np.ndarray:
    """A byte buffer of at least `nbytes` owned by this worker thread, reused chunk after chunk."""
    buffers = _scratch_space.__dict__
    buf = buffers.get(name)
    if buf is None or buf.nbytes < nbytes:
        buf = buffers[name] = np.empty(nbytes, dtype=np.uint8)
    return buf[:nbytes]


def _read(fd: int, offset: int, count: int, dtype: np.dtype) -> np.ndarray:
    """`count` elements of `dtype` at `offset`, read into this thread's source buffer."""
    buf = _scratch("src", count * dtype.itemsize)
    view, done = memoryview(buf), 0
    while done < buf.nbytes:
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            raise OSError(errno.EIO, f"the checkpoint ended {buf.nbytes - done} bytes early")
        done += n
    return buf.view(dtype)


@functools.cache
def bf16_to_f16_table() -> np.ndarray:
    """Every bf16 bit pattern's f16 bit pattern, from the exact cast itself (128 KiB).

    One lookup per element, written into a reused buffer: as fast as the cast's whole-array
    passes on real weights, without their fresh arrays per chunk, and without their slow
    paths on NaN- or subnormal-heavy data (50 times slower there). The bytes are the cast's
    by construction.
    """
    return bf16_to_f16(np.arange(1 << 16, dtype=np.uint16)).view(np.uint16)


def convert_pool() -> ThreadPoolExecutor:
    """A pool for one file's conversion: numpy work that runs outside the GIL, on every core."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="convert")
