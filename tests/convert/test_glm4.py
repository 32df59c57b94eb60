"""GLM-4 (Glm4ForCausalLM): same GGUF as llama.cpp's converter, transformers' logits, quantize end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blossom_edge.convert import convert_checkpoint
from tests.builders.gguf_compare import assert_same_gguf, read_gguf
from tests.builders.new_arch_checkpoints import build_glm4, run_reference_with_pre
from tests.convert.test_convert import PROMPT, hf_ids, llama_logits, reference_logits

# Measured on this tiny random model: max |Δlogit| 6.6e-6 against a logit spread of ≈ 10 (42 tokens).
LOGIT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def glm4(tmp_path_factory) -> Path:
    return build_glm4(tmp_path_factory.mktemp("glm4") / "ckpt", sharded=True)


@pytest.mark.slow
@pytest.mark.parametrize("outtype", ["f16", "bf16", "q8_0"])
def test_same_gguf_as_llama_cpp(reference_src, glm4, tmp_path, outtype):
    ours = convert_checkpoint(glm4, tmp_path / "ours.gguf", outtype).path
    proc = run_reference_with_pre(reference_src, glm4, tmp_path / "ref.gguf", outtype, "glm4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_gguf(ours, tmp_path / "ref.gguf")


def test_f32_logits_match_transformers(glm4, tmp_path):
    out = convert_checkpoint(glm4, tmp_path / "m.gguf", "f32").path
    ids = hf_ids(glm4, PROMPT)
    ref, got = reference_logits(glm4, ids), llama_logits(out, ids)
    assert got.shape == ref.shape
    assert (got.argmax(-1) == ref.argmax(-1)).all()
    assert np.abs(got - ref).max() < LOGIT_TOLERANCE


def test_glm4_keys(glm4, tmp_path):
    out = convert_checkpoint(glm4, tmp_path / "m.gguf", "f16").path
    keys, tensors = read_gguf(out)
    assert keys["general.architecture"] == "glm4"
    assert keys["glm4.rope.dimension_count"] == 16  # half of head_dim 32
    assert keys["tokenizer.ggml.pre"] == "glm4"
    assert "blk.0.post_attention_norm.weight" in tensors and "blk.0.post_ffw_norm.weight" in tensors
    assert "blk.0.ffn_gate.weight" not in tensors  # gate_up_proj stays fused as ffn_up


def test_quantize_q4_k_m_end_to_end(glm4, tmp_path):
    from blossom_edge.quantize.pipeline import quantize_pipeline

    report = quantize_pipeline(str(glm4), "q4_k_m", tmp_path / "out")
    assert report.path.is_file()
    assert report.verification is not None
