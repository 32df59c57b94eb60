"""Qwen3.5-MoE: without its MTP tensors. The checks every architecture shares (same GGUF as llama.cpp's
converter with fused main-block experts and per-expert MTP experts, transformers' logits, q4_k_m end to
end) are in test_architectures.py."""

from __future__ import annotations

import numpy as np

from blossom_edge.convert import convert_checkpoint
from tests.builders.gguf_compare import read_gguf
from tests.convert.conftest import QWEN35_MOE_LAYERS as LAYERS
from tests.convert.test_convert import PROMPT, hf_ids, llama_logits


def test_without_its_mtp_tensors_converts_to_a_loadable_gguf(qwen35_moe, tmp_path):
    """Re-saved without mtp.* (config still declaring the layer): no MTP block, and llama.cpp loads it."""
    import json
    import shutil

    model_dir = shutil.copytree(qwen35_moe, tmp_path / "no-mtp")
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
