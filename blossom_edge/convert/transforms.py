"""Value transforms llama.cpp's converter applies to some tensors on the way to GGUF, chunk by chunk.

Most tensors only change type. A few architectures store weights in a form their GGUF graph
does not use: Qwen3-Next/Qwen3.5 keep RMS-norm weights as w − 1 and the gated delta net's
decay as A_log, and llama.cpp broadcasts linear-attention value heads in another order than
the checkpoint groups them. A reordering of whole rows is expressed as `experts.Piece`s (runs
of stored rows in output order, streamed like stacked experts); what remains is described
here: a permutation within each row (a 1-D tensor is one row), an elementwise map, and a new
shape over the same elements. Every part works on any chunk of whole rows, so transformed
tensors stream in bounded memory like the others.
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass

import numpy as np

from blossom_edge.convert.experts import Piece
from blossom_edge.inputs.checkpoint import TensorRef, to_f32

# Significant digits of exp(x) before it is rounded to the output type (f32 needs 9): a rounding
# could only go the other way for an exp(x) within 1e-30 of the midpoint between two floats.
_EXP_DIGITS = 40


def _rounded_exp(x: float, info: np.finfo, context: decimal.Context) -> float:
    """exp(x) rounded once, to nearest with ties to even, onto the grid of the type `info` describes.

    The result is a float64 that the type holds exactly (or ±inf), so casting it is exact.
    """
    exact = context.exp(decimal.Decimal(x))
    near = float(exact)
    if not exact.is_finite() or exact.is_zero() or math.isinf(near):
        return near
    # The type's spacing at this magnitude, never finer than its smallest subnormal. When `near`
    # rounded up to a power of two the binade is one too high, and rounding on that coarser grid
    # gives the same power of two the exact one would.
    step = max(math.frexp(near)[1] - (info.nmant + 1), int(info.minexp) - info.nmant)
    units = context.multiply(exact, context.power(2, -step)).to_integral_value(decimal.ROUND_HALF_EVEN)
    value = math.ldexp(int(units), step)
    return math.inf if value > float(info.max) else value


def neg_exp(x: np.ndarray) -> np.ndarray:
    """−exp(x) elementwise, each element correctly rounded to x's dtype: the same bits on every machine.

    The reference computes −torch.exp(A_log) in float32 with a kernel torch picks for the
    running CPU (vector width, NEON on arm64), accurate to an ulp but not correctly rounded:
    about 1 % of inputs land an ulp off. numpy's exp runs AVX-512 code where it can and libm
    elsewhere, and libm differs too (glibc picks an FMA or an SSE2 build at load time, phones
    run bionic's), so none of them promises the same last bit on another machine. `decimal`
    is integer arithmetic in software and its exp is correctly rounded: rounding that 40-digit
    value once more, exactly, gives the nearest value of the dtype on any machine, which is
    within an ulp of the reference's. Slow per element, and A_log has one element per value
    head per layer.
    """
    info = np.finfo(x.dtype)
    context = decimal.Context(prec=_EXP_DIGITS, traps=[])
    values = [-_rounded_exp(v, info, context) for v in x.reshape(-1).tolist()]
    return np.array(values, dtype=np.float64).astype(x.dtype).reshape(x.shape)


# Elementwise maps, named by what llama.cpp's converter computes.
VALUE_MAPS = {
    "add_one": lambda x: x + x.dtype.type(1),  # RMS-norm weights stored as w - 1 (Qwen3-Next's "+ 1")
    "neg_exp": neg_exp,  # the decay A from A_log ("-torch.exp(A_log)")
}


@dataclass(frozen=True)
class Transform:
    """What the reference converter does to one tensor's values besides casting them."""

    # The GGUF shape (numpy order) when the converter reshapes: same elements, same order (a squeeze).
    shape: tuple[int, ...] | None = None
    # Output element j of every row is element columns[j] of the same stored row.
    columns: tuple[int, ...] | None = None
    # A VALUE_MAPS name.
    values: str | None = None

    @property
    def changes_bytes(self) -> bool:
        return self.columns is not None or self.values is not None

    def apply(self, rows: np.ndarray, dtype: str) -> np.ndarray:
        """Transform a chunk of whole stored rows (as read, of checkpoint dtype `dtype`).

        The arithmetic runs in the precision the reference uses: it widens bf16 to f32 before
        transforming, and keeps f16 and f32 as they are.
        """
        data = rows if dtype == "F16" else to_f32(rows, dtype)
        if self.columns is not None:
            data = data.reshape(-1, len(self.columns))[:, np.asarray(self.columns)].reshape(data.shape)
        if self.values is not None:
            data = VALUE_MAPS[self.values](data)
        return np.ascontiguousarray(data)


@dataclass(frozen=True)
class Rewritten:
    """A checkpoint tensor the way the reference converter hands it to gguf-py's name map."""

    # The Hugging Face name to map, or the GGUF name itself (blk.N.…) where gguf-py has none yet.
    name: str
    # The output rows as runs of stored rows, when they are in another order than stored.
    pieces: tuple[Piece, ...] = ()
    transform: Transform | None = None


def grouped_to_tiled(n_groups: int, per_group: int, width: int) -> list[int]:
    """For each output position, the stored position: heads grouped by K head become tiled.

    Stored [G0h0 … G0h(r-1), G1h0 …] (r = per_group heads of `width` positions each per
    group) becomes [G0h0, G1h0, …, G0h1, G1h1, …], the order ggml's broadcast repeats in;
    this is llama.cpp's `_reorder_v_heads`.
    """
    return [(group * per_group + j) * width + d
            for j in range(per_group) for group in range(n_groups) for d in range(width)]


def row_pieces(ref: TensorRef, rows: list[int]) -> tuple[Piece, ...]:
    """Output rows given as stored row numbers of `ref`, merged into as few contiguous runs as possible."""
    pieces: list[Piece] = []
    for row in rows:
        if pieces and pieces[-1].row + pieces[-1].rows == row:
            pieces[-1] = Piece(ref, pieces[-1].row, pieces[-1].rows + 1)
        else:
            pieces.append(Piece(ref, row, 1))
    return tuple(pieces)
