"""The reference comparison's per-tensor ulp allowance: only where a test grants it, and no further."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from tests.builders.gguf_compare import assert_same_gguf, ulp_distance

SSM_A = np.array([-1.0, -0.5, -3.25, -7.0e-3], dtype=np.float32)
WEIGHT = np.linspace(-1, 1, 8, dtype=np.float32).astype(np.float16).reshape(2, 4)
GRANT = {r"blk\.\d+\.ssm_a": 1}


def _gguf(path: Path, ssm_a: np.ndarray, weight: np.ndarray) -> Path:
    writer = gguf.GGUFWriter(path, "qwen35")
    writer.add_tensor("blk.0.ssm_a", ssm_a)
    writer.add_tensor("blk.0.attn_qkv.weight", weight)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _ulps_away(values: np.ndarray, index: int, steps: int) -> np.ndarray:
    """`values` with one element moved `steps` representable values away from zero."""
    moved = values.copy()
    bits = moved.view(np.uint32 if moved.dtype == np.float32 else np.uint16)
    bits[np.unravel_index(index, bits.shape)] += steps
    return moved


@pytest.fixture
def ref(tmp_path) -> Path:
    return _gguf(tmp_path / "ref.gguf", SSM_A, WEIGHT)


def test_one_ulp_passes_only_where_granted(tmp_path, ref):
    ours = _gguf(tmp_path / "ours.gguf", _ulps_away(SSM_A, 2, 1), WEIGHT)
    assert_same_gguf(ours, ref, ulps=GRANT)
    with pytest.raises(AssertionError, match="blk.0.ssm_a: bytes differ"):
        assert_same_gguf(ours, ref)


def test_more_than_the_grant_fails(tmp_path, ref):
    ours = _gguf(tmp_path / "ours.gguf", _ulps_away(SSM_A, 0, 2), WEIGHT)
    with pytest.raises(AssertionError, match="2 ulps from the reference, more than the 1 allowed"):
        assert_same_gguf(ours, ref, ulps=GRANT)


def test_other_tensors_stay_byte_for_byte(tmp_path, ref):
    ours = _gguf(tmp_path / "ours.gguf", SSM_A, _ulps_away(WEIGHT, 5, 1))
    with pytest.raises(AssertionError, match="attn_qkv.weight: bytes differ"):
        assert_same_gguf(ours, ref, ulps=GRANT)


def test_a_grant_that_matches_nothing_fails(tmp_path, ref):
    with pytest.raises(AssertionError, match="match no tensor"):
        assert_same_gguf(ref, ref, ulps={**GRANT, r"blk\.\d+\.ssm_b": 1})


def test_ulps_count_across_zero_and_nans_must_agree():
    signed_zeros = np.array([0.0, -0.0, 2.0 ** -149, -(2.0 ** -149)], dtype=np.float32)
    opposite = np.array([-0.0, 0.0, -(2.0 ** -149), 2.0 ** -149], dtype=np.float32)
    assert ulp_distance(signed_zeros.tobytes(), opposite.tobytes(), "F32").tolist() == [0, 0, 2, 2]
    bf16 = np.array([0x3F80, 0x7FC0], dtype=np.uint16)
    assert ulp_distance(bf16.tobytes(), bf16.tobytes(), "BF16").tolist() == [0, 0]
    with pytest.raises(AssertionError, match="NaNs differ"):
        ulp_distance(bf16.tobytes(), np.array([0x3F80, 0x7F80], dtype=np.uint16).tobytes(), "BF16")
