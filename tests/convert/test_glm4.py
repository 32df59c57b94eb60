"""GLM-4 (Glm4ForCausalLM): its own keys. The checks every architecture shares (same GGUF as llama.cpp's
converter, transformers' logits, quantize end to end) are in test_architectures.py."""

from __future__ import annotations

from blossom_edge.convert import convert_checkpoint
from tests.builders.gguf_compare import read_gguf


def test_glm4_keys(glm4, tmp_path):
    out = convert_checkpoint(glm4, tmp_path / "m.gguf", "f16").path
    keys, tensors = read_gguf(out)
    assert keys["general.architecture"] == "glm4"
    assert keys["glm4.rope.dimension_count"] == 16  # half of head_dim 32
    assert keys["tokenizer.ggml.pre"] == "glm4"
    assert "blk.0.post_attention_norm.weight" in tensors and "blk.0.post_ffw_norm.weight" in tensors
    assert "blk.0.ffn_gate.weight" not in tensors  # gate_up_proj stays fused as ffn_up
