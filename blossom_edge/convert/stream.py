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

from blossom_edge.convert.experts import Piece
from blossom_edge.convert.plan import PlannedTensor
from blossom_edge.inputs.checkpoint import DTYPE_SIZES, NUMPY_DTYPES, bf16_to_f16, to_f32

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
    """One planned tensor's output bytes, computed and written in row chunks.

    The output is the planned tensor's segments (experts.Piece: runs of stored rows) one after
    another; a dense tensor is a single segment, a stacked expert tensor one per expert (or
    per half-expert of a fused gate_up_proj). Each chunk is rows of one segment, so a layer's
    experts are never gathered, and segments in different shards are read from each one.
    """

    def __init__(self, planned: PlannedTensor, pool: ThreadPoolExecutor,
                 on_bytes: Callable[[int], None] | None = None) -> None:
        self.planned = planned
        self.nbytes = planned.nbytes
        self._pool = pool
        self._on_bytes = on_bytes

    def _chunks(self) -> list[tuple[Piece, int, int]]:
        """(segment, first row, end row) in output order, each at most CHUNK_ELEMENTS elements."""
        chunks = []
        for piece in self.planned.segments:
            step = max(1, CHUNK_ELEMENTS // max(1, piece.row_len))
            if self.planned.permute_heads:
                head_dim = piece.rows // self.planned.permute_heads
                step = max(head_dim, step - step % head_dim)
            chunks += [(piece, r, min(piece.rows, r + step)) for r in range(0, piece.rows, step)]
        return chunks

    def _convert(self, piece: Piece, r0: int, r1: int, src: int) -> np.ndarray:
        """One chunk of output bytes; runs on a worker thread (numpy releases the GIL here).

        The source rows are read with pread into this thread's buffer, and the f16 cast goes
        into another: no page faults on a mapping, no fresh memory per chunk.
        """
        import gguf

        planned, ref = self.planned, piece.ref
        count = (r1 - r0) * piece.row_len
        raw = _read(src, piece.offset + r0 * piece.row_len * DTYPE_SIZES[ref.dtype], count, NUMPY_DTYPES[ref.dtype])
        if len(ref.shape) >= 2:
            raw = raw.reshape((r1 - r0, piece.row_len))
        if planned.permute_heads:
            raw = permute_rows(raw, piece.rows // planned.permute_heads)
        if planned.transform is not None and planned.transform.changes_bytes:
            return np.ascontiguousarray(gguf.quants.quantize(planned.transform.apply(raw, ref.dtype), planned.qtype))
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
        changed = planned.permute_heads or (planned.transform is not None and planned.transform.changes_bytes)
        return not changed and gguf.GGMLQuantizationType[planned.source.dtype] == planned.qtype

    def tofile(self, fout: IO[bytes]) -> None:
        """Copy in the kernel when the bytes do not change; else convert chunks on all cores, a
        bounded window ahead, each worker writing its chunk at its own offset."""
        fout.flush()
        start = fout.tell()
        segments = self.planned.segments
        row_bytes = self.nbytes // max(1, sum(piece.rows for piece in segments))
        sources: dict[str, int] = {}
        pending: deque[Future[None]] = deque()
        try:
            for piece in segments:
                path = str(piece.ref.shard.path)
                if path not in sources:
                    sources[path] = os.open(path, os.O_RDONLY)
            if self.is_byte_copy():
                offset = start
                for piece in segments:
                    copy_range(sources[str(piece.ref.shard.path)], fout.fileno(), piece.offset, offset, piece.nbytes,
                               self._on_bytes)
                    offset += piece.nbytes
            else:
                window = (os.cpu_count() or 1) + 1
                offset = start
                for piece, r0, r1 in self._chunks():
                    pending.append(self._pool.submit(self._convert_and_write, piece, r0, r1,
                                                     sources[str(piece.ref.shard.path)], fout.fileno(), offset))
                    offset += (r1 - r0) * row_bytes
                    if len(pending) >= window:
                        pending.popleft().result()
                while pending:
                    pending.popleft().result()
        finally:
            # After a failure: chunks already running read the sources, so they end before those close.
            for future in pending:
                future.cancel()
            wait(pending)
            for fd in sources.values():
                os.close(fd)
        fout.seek(start + self.nbytes)

    def _convert_and_write(self, piece: Piece, r0: int, r1: int, src: int, dst: int, offset: int) -> None:
        """On a worker: convert one chunk and write it where it belongs in the output."""
        out = self._convert(piece, r0, r1, src)
        data = memoryview(out).cast("B")
        while data:
            written = os.pwrite(dst, data, offset)
            data, offset = data[written:], offset + written
        if self._on_bytes is not None:
            self._on_bytes(out.nbytes)


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
