"""The fast bf16 → f16 cast against the float32 route llama.cpp's converter takes, on every bf16 value."""

from __future__ import annotations

import warnings

import numpy as np

from blossom_edge.convert.stream import bf16_to_f16_table
from blossom_edge.inputs.checkpoint import bf16_to_f16, bf16_to_f32

# bf16 bit patterns the cast must take silently: ±inf, quiet and signaling NaNs of both signs,
# values that overflow float16, and one that rounds to a float16 subnormal.
SPECIAL_BF16 = np.array([0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7FC1, 0x7F81, 0xFF81, 0x7FBF, 0x7F80 | 0x01,
                         0x4780, 0xC780, 0x7F7F, 0x3400], dtype=np.uint16)


def _float32_route(raw: np.ndarray) -> np.ndarray:
    """The reference's cast: widen to float32, then numpy's float16 cast, flags ignored."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bf16_to_f32(raw).astype(np.float16).view(np.uint16)


def test_bf16_to_f16_matches_float32_route_for_all_65536_patterns():
    every = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    got = bf16_to_f16(every).view(np.uint16)
    mismatch = np.flatnonzero(got != _float32_route(every))
    assert mismatch.size == 0, [hex(int(every[i])) for i in mismatch[:10]]


def test_bf16_to_f16_keeps_shape():
    raw = (np.linspace(-3, 3, 24, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).reshape(4, 6)
    out = bf16_to_f16(raw)
    assert out.shape == (4, 6) and out.dtype == np.float16
    assert np.allclose(out.astype(np.float32), bf16_to_f32(raw), rtol=0, atol=0)


def test_nan_inf_and_overflow_cast_without_a_warning():
    """On arm64 the float16 cast flags signaling NaNs "invalid" and numpy warned the user mid-convert."""
    bf16_to_f16_table.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = bf16_to_f16(SPECIAL_BF16).view(np.uint16)
        table = bf16_to_f16_table()
    assert (got == _float32_route(SPECIAL_BF16)).all()
    assert (table[SPECIAL_BF16] == got).all()
    assert (np.isnan(got.view(np.float16)) == np.isnan(bf16_to_f32(SPECIAL_BF16))).all()
    assert (got[:2] == [0x7C00, 0xFC00]).all() and (got >> 15 == SPECIAL_BF16 >> 15).all()
