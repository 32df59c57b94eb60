"""Qwen3.5's −exp(A_log): correctly rounded, so the same bits whatever CPU converts.

The reference's torch kernel (and numpy's, and libm's) varies in the last bit with the
CPU's SIMD width; the parity tests allow the reference that one ulp, these tests hold ours
to the exact answer.
"""

from __future__ import annotations

import decimal
import hashlib

import numpy as np
import pytest

from blossom_edge.convert.transforms import neg_exp

# Every multiple of 2^-9 in [-12, 12) (A_log is a log decay, a few units either side of 0),
# exact in float32 and float16 alike, then the edges: float32's overflow threshold, its
# subnormal and underflow range, the infinities and NaN.
GRID = np.arange(-12 * 512, 12 * 512) / 512
EDGES = [0.0, -0.0, 88.72283, 88.7228, 89.0, -87.3, -103.9, -104.0, -110.0, np.inf, -np.inf, np.nan]
# sha256 of neg_exp(GRID + EDGES as float32) as computed on x86-64 with AVX-512; the same bytes
# must come out on AVX2, arm64 or any other machine.
GOLDEN_F32 = "5bbecff81efae1ce2afe2df66dbe31121906303c7d6c002927de1577ae497b47"


def _is_nearest(x: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Per element: no value of the dtype lies closer to −exp(x) than `got` (60-digit reference)."""
    context = decimal.Context(prec=60)
    down, up = np.nextafter(got, -np.inf), np.nextafter(got, np.inf)
    ok = []
    for xi, gi, di, ui in zip(x.tolist(), got.tolist(), down.tolist(), up.tolist()):
        exact = -context.exp(decimal.Decimal(xi))
        gap = abs(decimal.Decimal(gi) - exact)
        ok.append(gap <= abs(decimal.Decimal(di) - exact) and gap <= abs(decimal.Decimal(ui) - exact))
    return np.array(ok)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_every_value_is_the_nearest_to_minus_exp(dtype):
    x = GRID.astype(dtype)
    got = neg_exp(x)
    assert got.dtype == dtype and got.shape == x.shape
    finite = np.isfinite(got)
    assert finite.sum() > len(x) * 0.9
    wrong = np.flatnonzero(~_is_nearest(x[finite], got[finite]))
    assert wrong.size == 0, [(float(x[finite][i]), float(got[finite][i])) for i in wrong[:5]]


def test_overflow_underflow_and_specials_round_like_ieee():
    got = neg_exp(np.array(EDGES, dtype=np.float32))
    expected = np.array([-1.0, -1.0, -3.4027985e38, -3.4026947e38, -np.inf, -1.2192433e-38,
                         -2.0 ** -149, -0.0, -0.0, -np.inf, -0.0, np.nan], dtype=np.float32)
    assert np.array_equal(got, expected, equal_nan=True)
    assert np.signbit(got[7:9]).all() and np.signbit(got[10])


def test_same_bytes_as_on_the_machine_that_recorded_them():
    x = np.concatenate([GRID, EDGES]).astype(np.float32).reshape(-1, 4)
    assert hashlib.sha256(neg_exp(x).tobytes()).hexdigest() == GOLDEN_F32
