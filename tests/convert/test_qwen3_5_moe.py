"""Qwen3.5-MoE: llama.cpp parity per output type (fused main-block experts, per-expert MTP
experts), logits against transformers, q4_k_m end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blossom_edge.convert import convert_checkpoint
from tests.builders.gguf_compare import assert_same_gguf, read_gguf
from tests.builders.llama_cpp_source import run_reference_converter
from tests.builders.moe_checkpoints import build_qwen3_5_moe
from tests.convert.test_convert import PROMPT, hf_ids, llama_logits
from tests.convert.test_qwen3_5 import SSM_A_ULPS

EXPERTS, ACTIVE, LAYERS = 8, 2, 4
# The test vocabulary is rebuilt from llama.cpp's qwen35 vocab GGUF, and its token ids for the
# reference's probe text hash to an entry the reference names "qwen2"; ours names the split
# rule itself (\p{M} in letters: llama.cpp's "qwen35"), which is what the real checkpoint has.
PRE_KEY = "tokenizer.ggml.pre"


@pytest.fixture(scope="module")
def moe_dir(tmp_path_factory) -> Path:
    """The multimodal checkpoint as the hub serves it: main experts fused, the MTP layer's per expert
    in a shard of its own."""
    return build_qwen3_5_moe(tmp_path_factory.mktemp("qwen35moe") / "ckpt", experts=EXPERTS, active=ACTIVE)


@pytest.mark.slow
@pytest.mark.parametrize("outtype", ["f16", "bf16", "q8_0"])
def test_same_tensors_bytes_and_keys_as_llama_cpp(reference_src, moe_dir, tmp_path, outtype):
    ours = convert_checkpoint(moe_dir, tmp_path / "ours.gguf", outtype).path
    proc = run_reference_converter(reference_src, moe_dir, tmp_path / "ref.gguf", outtype)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # ssm_a within an ulp: torch's exp (the reference's) is not correctly rounded, ours is (see SSM_A_ULPS).
    our_keys, ref_keys = assert_same_gguf(ours, tmp_path / "ref.gguf", ignore_keys=(PRE_KEY,), ulps=SSM_A_ULPS)
    # Fused in the main blocks, one per expert in the MTP block (block LAYERS).
    ref_tensors = read_gguf(tmp_path / "ref.gguf")[1]
    assert {f"blk.{b}.ffn_{k}_exps.weight" for b in (0, LAYERS) for k in ("gate", "up", "down")} <= ref_tensors.keys()
    assert our_keys[PRE_KEY] == "qwen35" and ref_keys[PRE_KEY] == "qwen2"
    assert (our_keys["qwen35moe.expert_count"], our_keys["qwen35moe.expert_used_count"]) == (EXPERTS, ACTIVE)


def test_f32_logits_match_transformers(moe_dir, tmp_path):
    """Linear and full attention, routed and shared experts: f32 logits agree to 1e-3."""
    import torch
    import transformers

    out = convert_checkpoint(moe_dir, tmp_path / "m.gguf", "f32").path
    ids = hf_ids(moe_dir, PROMPT)
    assert len(ids) > 10
    model = transformers.Qwen3_5MoeForConditionalGeneration.from_pretrained(moe_dir, dtype=torch.float32)
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([ids])).logits[0].numpy()
    got = llama_logits(out, ids)
    assert got.shape == ref.shape
    assert (got.argmax(-1) == ref.argmax(-1)).all()
    assert np.abs(got - ref).max() < 1e-3


def test_without_its_mtp_tensors_converts_to_a_loadable_gguf(moe_dir, tmp_path):
    """Re-saved without mtp.* (config still declaring the layer): no MTP block, and llama.cpp loads it."""
    import json
    import shutil

    model_dir = shutil.copytree(moe_dir, tmp_path / "no-mtp")
    index_path = model_dir / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    mtp_shards = {shard for name, shard in index["weight_map"].items() if name.startswith("mtp.")}
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if v not in mtp_shards}
    index_path.write_text(json.dumps(index))
    for shard in mtp_shards:
        (model_dir / shard).unlink()
    out = convert_checkpoint(model_dir, tmp_path / "m.gguf", "f16").path
    keys, tensors = read_gguf(out)
    assert keys["qwen35moe.block_count"] == LAYERS and "qwen35moe.nextn_predict_layers" not in keys
    assert not any(name.startswith(f"blk.{LAYERS}.") for name in tensors)
    ids = hf_ids(model_dir, PROMPT)
    assert np.isfinite(llama_logits(out, ids)).all()


@pytest.mark.slow
def test_quantize_q4_k_m_end_to_end(moe_dir, tmp_path):
    """Convert, quantize and verify (load and generate) through the pipeline."""
    import shutil

    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.quantize.pipeline import quantize_pipeline

    model_dir = shutil.copytree(moe_dir, tmp_path / "blossom-moe-tiny")
    report = quantize_pipeline(str(model_dir), "q4_k_m", tmp_path / "out")
    assert report.verification.tokens
    info = read_gguf_info(report.path)
    assert info.architecture == "qwen35moe"
    assert info.tensor_types["blk.0.ffn_gate_inp.weight"] == "F32"
