"""Seed-OSS (SeedOssForCausalLM): its own keys. The checks every architecture shares (same GGUF as
llama.cpp's converter, transformers' logits, quantize end to end) are in test_architectures.py."""

from __future__ import annotations

from blossom_edge.convert import convert_checkpoint
from tests.builders.gguf_compare import read_gguf


def test_seed_oss_keys(seed_oss, tmp_path):
    out = convert_checkpoint(seed_oss, tmp_path / "m.gguf", "f16").path
    keys, tensors = read_gguf(out)
    assert keys["general.architecture"] == "seed_oss"
    assert keys["seed_oss.attention.key_length"] == 32  # head_dim, not hidden / heads = 16
    assert "blk.0.post_attention_norm.weight" in tensors and "blk.0.attn_q.bias" in tensors
