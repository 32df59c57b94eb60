"""Seed-OSS (SeedOssForCausalLM): same GGUF as llama.cpp's converter, transformers' logits, quantize end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blossom_edge.convert import convert_checkpoint
from tests.builders.gguf_compare import assert_same_gguf, read_gguf
from tests.builders.llama_cpp_source import run_reference_converter
from tests.builders.new_arch_checkpoints import build_seed_oss
from tests.convert.test_convert import PROMPT, hf_ids, llama_logits, reference_logits

LOGIT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def seed_oss(tmp_path_factory) -> Path:
    return build_seed_oss(tmp_path_factory.mktemp("seed") / "ckpt", sharded=True)


@pytest.mark.slow
@pytest.mark.parametrize("outtype", ["f16", "bf16", "q8_0"])
def test_same_gguf_as_llama_cpp(reference_src, seed_oss, tmp_path, outtype):
    ours = convert_checkpoint(seed_oss, tmp_path / "ours.gguf", outtype).path
    proc = run_reference_converter(reference_src, seed_oss, tmp_path / "ref.gguf", outtype)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_gguf(ours, tmp_path / "ref.gguf")


def test_f32_logits_match_transformers(seed_oss, tmp_path):
    out = convert_checkpoint(seed_oss, tmp_path / "m.gguf", "f32").path
    ids = hf_ids(seed_oss, PROMPT)
    ref, got = reference_logits(seed_oss, ids), llama_logits(out, ids)
    assert got.shape == ref.shape
    assert (got.argmax(-1) == ref.argmax(-1)).all()
    assert np.abs(got - ref).max() < LOGIT_TOLERANCE


def test_seed_oss_keys(seed_oss, tmp_path):
    out = convert_checkpoint(seed_oss, tmp_path / "m.gguf", "f16").path
    keys, tensors = read_gguf(out)
    assert keys["general.architecture"] == "seed_oss"
    assert keys["seed_oss.attention.key_length"] == 32  # head_dim, not hidden / heads = 16
    assert "blk.0.post_attention_norm.weight" in tensors and "blk.0.attn_q.bias" in tensors


def test_quantize_q4_k_m_end_to_end(seed_oss, tmp_path):
    from blossom_edge.quantize.pipeline import quantize_pipeline

    report = quantize_pipeline(str(seed_oss), "q4_k_m", tmp_path / "out")
    assert report.path.is_file()
    assert report.verification is not None
