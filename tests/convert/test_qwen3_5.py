"""Qwen3.5 dense: same GGUF as llama.cpp's converter, transformers' logits, quantize, without MTP, multimodal."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from blossom_edge.convert import convert_checkpoint
from tests.builders.gguf_compare import assert_same_gguf, read_gguf
from tests.builders.llama_cpp_source import run_reference_converter
from tests.builders.new_arch_checkpoints import build_qwen3_5, copy_checkpoint
from tests.convert.test_convert import PROMPT, hf_ids, llama_logits, reference_logits

# Measured on this tiny random model: max |Δlogit| 2.1e-4 against a logit spread of ≈ 20 (35 tokens);
# the gated delta net accumulates more float error than attention.
LOGIT_TOLERANCE = 1e-3
# Our one deliberate key difference here: the test vocabulary (llama.cpp's qwen35 vocab test
# file) hashes like Qwen2's, so the reference names it "qwen2"; ours names the split rule in
# tokenizer.json, Qwen3.5's, which is what the reference writes for the real Qwen3.5 vocabulary.
PRE_KEY = "tokenizer.ggml.pre"
# The one tensor allowed to differ from the reference, by an ulp at most: ssm_a is
# -torch.exp(A_log), computed by a kernel torch picks for the CPU (vector width, NEON on arm64)
# that is accurate to 1 ulp but not correctly rounded (about 1 % of float32 inputs land an ulp
# off, here). Ours is correctly rounded on every machine (transforms.neg_exp), so the two are at
# most 1 ulp apart (of the output type: F32, as for every 1-D tensor), whichever kernel ran.
SSM_A_ULPS = {r"blk\.\d+\.ssm_a": 1}


@pytest.fixture(scope="module")
def qwen35(tmp_path_factory) -> Path:
    return build_qwen3_5(tmp_path_factory.mktemp("q35") / "ckpt", sharded=True)


@pytest.fixture(scope="module")
def qwen35_vl(tmp_path_factory) -> Path:
    return build_qwen3_5(tmp_path_factory.mktemp("q35vl") / "ckpt", multimodal=True)


def _compare(ours: Path, ref: Path) -> None:
    our_keys, _ = read_gguf(ours)
    ref_keys, _ = read_gguf(ref)
    assert our_keys[PRE_KEY] == "qwen35" and ref_keys[PRE_KEY] == "qwen2"
    assert_same_gguf(ours, ref, ignore_keys=(PRE_KEY,), ulps=SSM_A_ULPS)


def _reference(src: Path, tmp_path: Path, model_dir: Path, outtype: str) -> Path:
    proc = run_reference_converter(src, model_dir, tmp_path / "ref.gguf", outtype)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp_path / "ref.gguf"


@pytest.mark.slow
@pytest.mark.parametrize("outtype", ["f16", "bf16", "q8_0"])
def test_same_gguf_as_llama_cpp(reference_src, qwen35, tmp_path, outtype):
    ours = convert_checkpoint(qwen35, tmp_path / "ours.gguf", outtype).path
    _compare(ours, _reference(reference_src, tmp_path, qwen35, outtype))


@pytest.mark.slow
def test_multimodal_same_text_gguf_as_llama_cpp(reference_src, qwen35_vl, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        ours = convert_checkpoint(qwen35_vl, tmp_path / "ours.gguf", "f16").path
    lines = [r.getMessage() for r in caplog.records if "vision tower" in r.getMessage()]
    assert len(lines) == 1 and "model.visual." in lines[0]
    _compare(ours, _reference(reference_src, tmp_path, qwen35_vl, "f16"))


def test_f32_logits_match_transformers(qwen35, tmp_path):
    out = convert_checkpoint(qwen35, tmp_path / "m.gguf", "f32").path
    ids = hf_ids(qwen35, PROMPT)
    ref, got = reference_logits(qwen35, ids), llama_logits(out, ids)
    assert got.shape == ref.shape
    assert (got.argmax(-1) == ref.argmax(-1)).all()
    assert np.abs(got - ref).max() < LOGIT_TOLERANCE


def test_layer_kinds_and_mtp_keys(qwen35, tmp_path):
    out = convert_checkpoint(qwen35, tmp_path / "m.gguf", "f16").path
    keys, tensors = read_gguf(out)
    assert keys["general.architecture"] == "qwen35"
    assert keys["qwen35.block_count"] == 5  # 4 layers + the MTP block
    assert keys["qwen35.nextn_predict_layers"] == 1
    assert keys["qwen35.attention.recurrent_layers"] == [True, True, True, False, False]
    assert "blk.0.ssm_a" in tensors and "blk.3.attn_q_norm.weight" in tensors
    assert "blk.4.nextn.eh_proj.weight" in tensors
    assert tensors["blk.0.ssm_conv1d.weight"][1] == [4, 128]  # squeezed [conv_dim, 1, kernel], GGUF order


def _drop_mtp(model_dir: Path, dst: Path, *, keep_config: bool) -> Path:
    """The checkpoint re-saved without its mtp.* tensors (config.json still declaring them, or not)."""
    out = copy_checkpoint(model_dir, dst)
    (out / "model-mtp.safetensors").unlink()
    index = json.loads((out / "model.safetensors.index.json").read_text())
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if not k.startswith("mtp.")}
    (out / "model.safetensors.index.json").write_text(json.dumps(index))
    if not keep_config:
        config = json.loads((out / "config.json").read_text())
        config.pop("mtp_num_hidden_layers")
        (out / "config.json").write_text(json.dumps(config))
    return out


@pytest.mark.parametrize("keep_config", [True, False])
def test_without_mtp_tensors_converts_to_a_loadable_gguf(qwen35, tmp_path, caplog, keep_config):
    model_dir = _drop_mtp(qwen35, tmp_path / "no-mtp", keep_config=keep_config)
    with caplog.at_level(logging.WARNING):
        out = convert_checkpoint(model_dir, tmp_path / "m.gguf", "f32").path
    if keep_config:
        assert any("no mtp.* tensors" in r.getMessage() for r in caplog.records)
    keys, tensors = read_gguf(out)
    assert keys["qwen35.block_count"] == 4 and "qwen35.nextn_predict_layers" not in keys
    assert not any(".nextn." in name for name in tensors)
    ids = hf_ids(model_dir, PROMPT)
    ref, got = reference_logits(model_dir, ids), llama_logits(out, ids)
    assert (got.argmax(-1) == ref.argmax(-1)).all()
    assert np.abs(got - ref).max() < LOGIT_TOLERANCE


def test_quantize_q4_k_m_end_to_end(qwen35, tmp_path):
    from blossom_edge.quantize.pipeline import quantize_pipeline

    report = quantize_pipeline(str(qwen35), "q4_k_m", tmp_path / "out")
    assert report.path.is_file()
    assert report.verification is not None
