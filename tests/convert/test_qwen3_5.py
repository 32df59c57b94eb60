"""Qwen3.5 dense: its layer kinds and MTP keys, without MTP, multimodal. The checks every architecture
shares (same GGUF as llama.cpp's converter, transformers' logits, quantize end to end) are in
test_architectures.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from blossom_edge.convert import convert_checkpoint
from tests.builders.gguf_compare import read_gguf
from tests.builders.new_arch_checkpoints import build_qwen3_5, copy_checkpoint
from tests.convert.test_architectures import ARCHS, assert_same_as_reference
from tests.convert.test_convert import PROMPT, hf_ids, llama_logits, reference_logits

QWEN35 = ARCHS["qwen35"]


@pytest.fixture(scope="module")
def qwen35_vl(tmp_path_factory) -> Path:
    return build_qwen3_5(tmp_path_factory.mktemp("q35vl") / "ckpt", multimodal=True)


@pytest.mark.slow
def test_multimodal_same_text_gguf_as_llama_cpp(reference_src, qwen35_vl, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        ours = convert_checkpoint(qwen35_vl, tmp_path / "ours.gguf", "f16").path
    lines = [r.getMessage() for r in caplog.records if "vision tower" in r.getMessage()]
    assert len(lines) == 1 and "model.visual." in lines[0]
    assert_same_as_reference(QWEN35, reference_src, qwen35_vl, ours, tmp_path / "ref.gguf", "f16")


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
    assert np.abs(got - ref).max() < QWEN35.logit_tolerance
