"""The fast bf16 → f16 cast against the float32 route llama.cpp's converter takes, on every bf16 value."""

from __future__ import annotations

import numpy as np

from blossom_edge.checkpoint import bf16_to_f16, bf16_to_f32


def test_bf16_to_f16_matches_float32_route_for_all_65536_patterns():
    every = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    with np.errstate(over="ignore"):
        expected = bf16_to_f32(every).astype(np.float16).view(np.uint16)
    got = bf16_to_f16(every).view(np.uint16)
    mismatch = np.flatnonzero(got != expected)
    assert mismatch.size == 0, [hex(int(every[i])) for i in mismatch[:10]]


def test_bf16_to_f16_keeps_shape():
    raw = (np.linspace(-3, 3, 24, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).reshape(4, 6)
    out = bf16_to_f16(raw)
    assert out.shape == (4, 6) and out.dtype == np.float16
    assert np.allclose(out.astype(np.float32), bf16_to_f32(raw), rtol=0, atol=0)
