"""Tiny and large mixture-of-experts checkpoints (test- and benchmark-only).

`build_qwen3_moe` saves a real transformers Qwen3-MoE (random weights, a real tokenizer), so
the converter meets the per-expert tensors `save_pretrained` writes and transformers is the
logits oracle. Its proportions follow Qwen3-30B-A3B-Base's config.json (head_dim twice
hidden/heads, 8 query heads per KV head scaled down to 2, experts narrower than hidden,
norm_topk_prob, untied head), shrunk. `write_qwen3_moe_numpy` writes a large one with numpy
alone, in ~500 MB shards the way save_pretrained groups them, for the bounded-memory test and
`benchmarks/convert.py --moe`: building those through torch would itself need the RAM whose
absence they check.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

# Qwen3-30B-A3B-Base's config.json values that do not scale with size.
QWEN3_MOE_FIXED = {"rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "max_position_embeddings": 32768,
                   "norm_topk_prob": True, "decoder_sparse_step": 1, "mlp_only_layers": []}


def build_qwen3_moe(
    path: Path,
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    experts: int = 8,
    active: int = 2,
    moe_ff: int = 32,
    dtype: str = "bfloat16",
    sharded: bool = False,
    tokenizer: str = "full",
    seed: int = 0,
) -> Path:
    """Write a tiny Qwen3-MoE checkpoint into `path`; `sharded` puts a layer's experts in several shards."""
    import torch
    import transformers

    from tests.builders import tokenizers

    path.mkdir(parents=True, exist_ok=True)
    tokenizers.write_bpe_tokenizer(path, kind=tokenizer)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    fixed = {k: v for k, v in QWEN3_MOE_FIXED.items() if k != "rope_theta"}
    config = transformers.Qwen3MoeConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 3, moe_intermediate_size=moe_ff,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        head_dim=hidden // heads * 2, num_experts=experts, num_experts_per_tok=active, tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": QWEN3_MOE_FIXED["rope_theta"]},
        initializer_range=0.08, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, **fixed,
    )
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        # Non-zero norms, and a router with a clear preference per token: near-ties between
        # experts would let f32 rounding pick different experts in llama.cpp and transformers.
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            elif name.endswith("mlp.gate.weight"):
                param.copy_(0.5 * torch.randn_like(param))
    model = model.to(getattr(torch, dtype))
    model.save_pretrained(path, safe_serialization=True, max_shard_size="100KB" if sharded else "100GB")
    return path


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """bf16 safetensors from raw uint16 arrays; numpy has no bf16, so the format is written directly."""
    header, offset = {}, 0
    for name, data in tensors.items():
        header[name] = {"dtype": "BF16", "shape": list(data.shape), "data_offsets": [offset, offset + data.nbytes]}
        offset += data.nbytes
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob)
        for data in tensors.values():
            data.tofile(fh)


def _vocab_size(model_dir: Path) -> int:
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    ids = [*tokenizer["model"]["vocab"].values(), *(t["id"] for t in tokenizer["added_tokens"])]
    return max(ids) + 1


def write_qwen3_moe_numpy(
    path: Path,
    *,
    layers: int,
    experts: int,
    hidden: int,
    moe_ff: int,
    heads: int = 16,
    kv_heads: int = 4,
    active: int = 8,
    tokenizer: str = "full",
    shard_bytes: int = 500_000_000,
) -> Path:
    """A bf16 Qwen3-MoE checkpoint of any size from numpy, each shard generated and written in turn.

    Weights are small random values (one random block tiled, so generation costs little);
    only the converter's memory and speed are measured on it, never its outputs.
    """
    from tests.builders.tokenizers import write_bpe_tokenizer

    rng = np.random.default_rng(0)
    block = ((rng.standard_normal(1 << 20, dtype=np.float32) * 0.02).view(np.uint32) >> 16).astype(np.uint16)

    def bf16(*shape: int) -> np.ndarray:
        n = int(np.prod(shape))
        return np.resize(block[rng.integers(0, 1 << 10):], n).reshape(shape)

    path.mkdir(parents=True, exist_ok=True)
    write_bpe_tokenizer(path, kind=tokenizer)
    vocab = _vocab_size(path)
    head_dim = hidden // heads * 2
    config = {
        "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": hidden,
        "intermediate_size": hidden * 3, "moe_intermediate_size": moe_ff, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim, "vocab_size": vocab,
        "num_experts": experts, "num_experts_per_tok": active, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16", **QWEN3_MOE_FIXED,
    }
    (path / "config.json").write_text(json.dumps(config))

    def layer(i: int):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (hidden,)
        yield p + "post_attention_layernorm.weight", (hidden,)
        yield p + "self_attn.q_proj.weight", (heads * head_dim, hidden)
        yield p + "self_attn.k_proj.weight", (kv_heads * head_dim, hidden)
        yield p + "self_attn.v_proj.weight", (kv_heads * head_dim, hidden)
        yield p + "self_attn.o_proj.weight", (hidden, heads * head_dim)
        yield p + "self_attn.q_norm.weight", (head_dim,)
        yield p + "self_attn.k_norm.weight", (head_dim,)
        yield p + "mlp.gate.weight", (experts, hidden)
        for e in range(experts):
            yield p + f"mlp.experts.{e}.gate_proj.weight", (moe_ff, hidden)
            yield p + f"mlp.experts.{e}.up_proj.weight", (moe_ff, hidden)
            yield p + f"mlp.experts.{e}.down_proj.weight", (hidden, moe_ff)

    def everything():
        yield "model.embed_tokens.weight", (vocab, hidden)
        for i in range(layers):
            yield from layer(i)
        yield "model.norm.weight", (hidden,)
        yield "lm_head.weight", (vocab, hidden)

    # Group into shards as save_pretrained does: a new shard once the current one is full,
    # so layers (and their experts) straddle shard boundaries.
    groups: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shape in everything():
        nbytes = 2 * int(np.prod(shape))
        if groups[-1] and size + nbytes > shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append((name, shape))
        size += nbytes
    weight_map = {}
    for n, group in enumerate(groups, 1):
        file_name = f"model-{n:05d}-of-{len(groups):05d}.safetensors"
        write_safetensors(path / file_name, {name: bf16(*shape) for name, shape in group})
        weight_map.update({name: file_name for name, _ in group})
    (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return path


_PER_EXPERT = r"^(?P<prefix>model\.(?:language_model\.)?layers\.\d+\.mlp\.experts)\.(?P<e>\d+)\.(?P<proj>\w+)\.weight$"


def fuse_main_experts(path: Path) -> None:
    """Re-store the main blocks' experts the way the Qwen3.5-MoE hub checkpoints do.

    transformers 5 saves one tensor per expert; the hub's files hold `experts.gate_up_proj`
    [E, 2F, H] (each expert's gate rows, then its up rows) and `experts.down_proj` [E, H, F],
    which transformers loads as they are. The MTP layer (its own shard) keeps one per expert.
    """
    import re

    import torch
    from safetensors.torch import load_file, save_file

    file = path / "model.safetensors"
    weights = load_file(file)
    groups: dict[str, dict[str, dict[int, torch.Tensor]]] = {}
    kept = {}
    for name, tensor in weights.items():
        if m := re.match(_PER_EXPERT, name):
            groups.setdefault(m["prefix"], {}).setdefault(m["proj"], {})[int(m["e"])] = tensor
        else:
            kept[name] = tensor
    for prefix, projs in groups.items():
        n = len(projs["gate_proj"])
        kept[f"{prefix}.gate_up_proj"] = torch.stack(
            [torch.cat([projs["gate_proj"][e], projs["up_proj"][e]], dim=0) for e in range(n)]).contiguous()
        kept[f"{prefix}.down_proj"] = torch.stack([projs["down_proj"][e] for e in range(n)]).contiguous()
    save_file(kept, file, metadata={"format": "pt"})
    index_path = path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    index["weight_map"] = {**{k: v for k, v in index["weight_map"].items() if k not in weights},
                           **{k: "model.safetensors" for k in kept}}
    index_path.write_text(json.dumps(index, indent=2), encoding="utf-8")


def build_qwen3_5_moe(path: Path, *, experts: int = 8, active: int = 2, dtype: str = "bfloat16",
                      multimodal: bool = True, seed: int = 0) -> Path:
    """Qwen3.5-35B-A3B scaled down, stored as the hub stores it (fused experts, per-expert MTP).

    Its proportions: 3 linear-attention blocks per full one, twice as many linear value heads
    as key heads, 8 query heads per KV head scaled to 2, a routed expert and the shared expert
    a quarter of hidden wide, one MTP layer; `multimodal` adds the vision tower the hub's
    Qwen3_5MoeForConditionalGeneration checkpoint carries.
    """
    import torch
    import transformers

    from tests.builders.new_arch_checkpoints import _add_mtp_tensors, write_qwen35_tokenizer

    write_qwen35_tokenizer(path)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    text = transformers.Qwen3_5MoeTextConfig(
        vocab_size=len(tok), hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
        head_dim=32, moe_intermediate_size=32, shared_expert_intermediate_size=32, num_experts=experts,
        num_experts_per_tok=active, linear_conv_kernel_dim=4, linear_key_head_dim=16, linear_value_head_dim=16,
        linear_num_key_heads=2, linear_num_value_heads=4,
        layer_types=["linear_attention", "linear_attention", "linear_attention", "full_attention"],
        max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=False, initializer_range=0.08,
        rope_parameters={"rope_type": "default", "rope_theta": 1e7, "partial_rotary_factor": 0.25,
                         "mrope_section": [2, 1, 1], "mrope_interleaved": True},
        mtp_num_hidden_layers=1, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"))
    torch.manual_seed(seed)
    if multimodal:
        vision = transformers.Qwen3_5MoeVisionConfig(depth=1, hidden_size=32, intermediate_size=64, num_heads=2,
                                                     patch_size=4, spatial_merge_size=2, temporal_patch_size=2,
                                                     out_hidden_size=128, num_position_embeddings=16)
        config = transformers.Qwen3_5MoeConfig(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                               tie_word_embeddings=False)
        model = transformers.Qwen3_5MoeForConditionalGeneration(config)
    else:
        model = transformers.Qwen3_5MoeForCausalLM(text)
    with torch.no_grad():
        # Norms away from their stored zero point, and routers with a clear preference per token.
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            elif name.endswith("mlp.gate.weight"):
                param.copy_(0.5 * torch.randn_like(param))
    model.to(getattr(torch, dtype)).save_pretrained(path, safe_serialization=True)
    _add_mtp_tensors(path, text.num_hidden_layers, seed)
    fuse_main_experts(path)
    return path
