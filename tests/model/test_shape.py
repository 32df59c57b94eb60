"""Model shapes of MoE and linear-attention models: hold every expert, read the routed ones; fixed state, no KV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blossom_edge.bench.fit import estimated_tg
from blossom_edge.inputs.gguf_info import read_gguf_info
from blossom_edge.model.catalog import BASE_SHAPES
from blossom_edge.model.memory import bytes_per_token, estimate
from blossom_edge.model.shape import ModelShape

N_LAYER, N_EMBD, N_FF, N_EXPERT, N_USED, VOCAB = 8, 32, 16, 4, 2, 10


def _gguf(path: Path, arch: str, keys: dict[str, int], tensors: dict[str, tuple[int, ...]]) -> Path:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch)
    writer.add_block_count(N_LAYER)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_context_length(4096)
    writer.add_token_list([f"t{i}" for i in range(VOCAB)])
    for key, value in keys.items():
        writer.add_uint32(f"{arch}.{key}", value)
    for name, shape in tensors.items():
        writer.add_tensor(name, np.zeros(shape, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_moe_holds_every_expert_and_reads_the_routed_ones(tmp_path):
    tensors = {"token_embd.weight": (VOCAB, N_EMBD), "output.weight": (VOCAB, N_EMBD)}
    for i in range(N_LAYER):
        tensors[f"blk.{i}.attn_q.weight"] = (N_EMBD, N_EMBD)
        for part in ("gate", "up", "down"):
            tensors[f"blk.{i}.ffn_{part}_exps.weight"] = (N_EXPERT, N_FF, N_EMBD)
    path = _gguf(tmp_path / "moe.gguf", "qwen3moe", {"expert_count": N_EXPERT, "expert_used_count": N_USED},
                 tensors)
    info = read_gguf_info(path)
    shape = info.model_shape()
    expert_bytes = N_LAYER * 3 * N_EXPERT * N_FF * N_EMBD * 4
    assert info.expert_bytes == expert_bytes and (shape.n_expert, shape.n_expert_used) == (N_EXPERT, N_USED)
    assert shape.dimensions()["n_expert"] == N_EXPERT
    # RAM: every byte; per token: everything but the experts not routed to.
    assert estimate(shape, 512).weights == info.tensor_bytes
    embd = VOCAB * N_EMBD * 4
    read = (info.tensor_bytes - embd - expert_bytes) + expert_bytes * N_USED / N_EXPERT + N_EMBD * 4
    assert bytes_per_token(shape, 0) == pytest.approx(read)


def test_linear_attention_layers_keep_a_fixed_state_instead_of_a_kv_cache(tmp_path):
    keys = {"full_attention_interval": 4, "ssm.conv_kernel": 4, "ssm.inner_size": 64, "ssm.state_size": 16,
            "ssm.group_count": 2, "ssm.time_step_rank": 4, "attention.key_length": 8}
    path = _gguf(tmp_path / "q35.gguf", "qwen35", keys, {"token_embd.weight": (VOCAB, N_EMBD)})
    shape = read_gguf_info(path).model_shape()
    assert shape.n_recurrent_layers == 6  # layers 3 and 7 are full attention, as llama.cpp decides
    state = 4 * ((4 - 1) * (64 + 2 * 2 * 16) + 16 * 64)
    assert shape.recurrent_state_bytes == state and shape.state_bytes() == 6 * state
    dense = ModelShape(N_LAYER, N_EMBD, 2, shape.head_dim, VOCAB, N_FF)
    assert shape.kv_bytes_per_token() * 4 == dense.kv_bytes_per_token()
    small, large = estimate(shape, 1024), estimate(shape, 8192)
    assert large.kv_cache - small.kv_cache == (8192 - 1024) * shape.kv_bytes_per_token()
    assert small.kv_cache == 1024 * shape.kv_bytes_per_token() + 6 * state


def test_the_30b_a3b_is_estimated_at_its_active_size():
    moe = BASE_SHAPES["Qwen/Qwen3-30B-A3B-Base"].with_weights(int(30.5e9 * 0.6))
    dense = ModelShape(moe.n_layer, moe.n_embd, moe.n_head_kv, moe.head_dim, moe.n_vocab, moe.n_ff,
                       weight_bytes=moe.weight_bytes)
    assert estimate(moe, 4096).weights == estimate(dense, 4096).weights
    speedup = estimated_tg(moe, 0, 50e9) / estimated_tg(dense, 0, 50e9)
    assert 8 < speedup < 10  # 3.3 B of 30.5 B weights read per token


def test_inspect_shows_experts_and_layer_kinds(tmp_path, capsys):
    import json

    from blossom_edge.cli import main

    moe = _gguf(tmp_path / "moe.gguf", "qwen3moe", {"expert_count": N_EXPERT, "expert_used_count": N_USED},
                {"token_embd.weight": (VOCAB, N_EMBD), "blk.0.ffn_up_exps.weight": (N_EXPERT, N_FF, N_EMBD)})
    assert main(["inspect", str(moe), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["experts"] == {"count": N_EXPERT, "used": N_USED, "bytes": N_EXPERT * N_FF * N_EMBD * 4}
    assert main(["inspect", str(moe)]) == 0
    assert f"{N_EXPERT}, {N_USED} per token" in " ".join(capsys.readouterr().out.split())
    keys = {"full_attention_interval": 4, "ssm.conv_kernel": 4, "ssm.inner_size": 64, "ssm.state_size": 16,
            "ssm.group_count": 2}
    q35 = _gguf(tmp_path / "q35.gguf", "qwen35", keys, {"token_embd.weight": (VOCAB, N_EMBD)})
    assert main(["inspect", str(q35), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["layer_kinds"] == {"full_attention": 2, "linear_attention": 6}
    assert main(["inspect", str(q35)]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "2 full attention (KV cache), 6 linear attention (fixed state)" in text


def test_models_says_which_releases_are_moe_and_which_mix_layer_kinds(capsys):
    import json

    from blossom_edge.cli import main

    assert main(["models", "--json"]) == 0
    kinds = {r["alias"]: r["kind"] for r in json.loads(capsys.readouterr().out)}
    assert kinds["v6.3-30b-a3b"] == "MoE, 128 experts, 8 active"
    assert kinds["v6.4-9b"] == "dense; linear + full attention; vision"
    assert kinds["v6.4-35b-a3b"] == "MoE, 256 experts, 8 active; linear + full attention; vision"
    assert kinds["v7.1-35b-a3b"] == "MoE, 256 experts, 8 active; linear + full attention; vision; MTP; reasoning"
    assert kinds["v5-4b"] == "dense"
