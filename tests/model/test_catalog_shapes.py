"""The catalog's architecture, shape and parameter count of every release, against its base's published config.

For each base model, the config.json values its Hub page publishes (below, with where they were
read) make a checkpoint of the full size that costs no disk: transformers lays the tensors out
on its meta device, and the safetensors file is the header plus a sparse hole. The converter
plans the GGUF (`--dry-run` reads headers only), and the plan must give the catalog's
architecture, dimensions and, within 1 %, the parameter count the model card states. A wrong
head count, FFN width or vocabulary in the catalog fails here.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from blossom_edge.model.catalog import MODELS

# config.json of each base, as published on huggingface.co/<base>/blob/main/config.json:
# (layers, hidden, heads, kv heads, head_dim, vocab, intermediate, tied embeddings, extra config).
PUBLISHED_CONFIGS: dict[str, tuple] = {
    "Qwen/Qwen1.5-4B": (40, 2560, 20, 20, 128, 151936, 6912, False, {}),
    "01-ai/Yi-9B": (48, 4096, 32, 4, 128, 64000, 11008, False, {}),
    "01-ai/Yi-1.5-9B": (48, 4096, 32, 4, 128, 64000, 11008, False, {}),
    "Qwen/Qwen1.5-14B": (40, 5120, 40, 40, 128, 152064, 13696, False, {}),
    "Qwen/Qwen1.5-32B": (64, 5120, 40, 8, 128, 152064, 27392, False, {}),
    "01-ai/Yi-34B": (60, 7168, 56, 8, 128, 64000, 20480, False, {}),
    "01-ai/Yi-1.5-34B": (60, 7168, 56, 8, 128, 64000, 20480, False, {}),
    "mistralai/Mistral-7B-v0.1": (32, 4096, 32, 8, 128, 32000, 14336, False, {}),
    "meta-llama/Meta-Llama-3-8B": (32, 4096, 32, 8, 128, 128256, 14336, False, {}),
    "Qwen/Qwen2.5-7B": (28, 3584, 28, 4, 128, 152064, 18944, False, {}),
    "Qwen/Qwen2.5-14B": (48, 5120, 40, 8, 128, 152064, 13824, False, {}),
    "Qwen/Qwen2.5-32B": (64, 5120, 40, 8, 128, 152064, 27648, False, {}),
    "Qwen/Qwen3-8B-Base": (36, 4096, 32, 8, 128, 151936, 12288, False, {}),
    "Qwen/Qwen3-14B-Base": (40, 5120, 40, 8, 128, 151936, 17408, False, {}),
    "Qwen/Qwen3-30B-A3B-Base": (48, 2048, 32, 4, 128, 151936, 6144, False,
                                {"moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8}),
    # Qwen3.5 (text part; the catalog's sources["shape"] name where each was read). Every fourth layer is
    # full attention; the others are gated delta nets of 16 K and 32 V heads of 128. The 27B's delta-net
    # heads are in no source found: transformers' defaults stand in, so its parameter count is checked
    # more loosely below.
    "Qwen/Qwen3.5-9B-Base": (32, 4096, 16, 4, 256, 248320, 12288, False, {}),
    "Qwen/Qwen3.5-27B": (64, 5120, 24, 4, 256, 248320, 17408, False, {}),
    "Qwen/Qwen3.5-35B-A3B-Base": (40, 2048, 16, 2, 256, 248320, 512, False,
                                  {"moe_intermediate_size": 512, "shared_expert_intermediate_size": 512,
                                   "num_experts": 256, "num_experts_per_tok": 8}),
}
# The Qwen3.5 checkpoints are multimodal; their text part alone is what a GGUF's main file holds.
_TEXT_ONLY = {"Qwen3_5ForConditionalGeneration": ("Qwen3_5ForCausalLM", "Qwen3_5TextConfig"),
              "Qwen3_5MoeForConditionalGeneration": ("Qwen3_5MoeForCausalLM", "Qwen3_5MoeTextConfig")}
_CONFIG_CLASSES = {"Qwen2ForCausalLM": "Qwen2Config", "Qwen3ForCausalLM": "Qwen3Config",
                   "LlamaForCausalLM": "LlamaConfig", "MistralForCausalLM": "MistralConfig",
                   "Qwen3MoeForCausalLM": "Qwen3MoeConfig"}
_DTYPE_BYTES = 2


def _header_only_checkpoint(directory: Path, architecture: str, published: tuple) -> Path:
    """config.json, a tokenizer, and a sparse model.safetensors with every tensor of the full model."""
    import torch
    import transformers

    from tests.builders.tokenizers import write_bpe_tokenizer, write_spm_tokenizer

    layers, hidden, heads, kv_heads, head_dim, vocab, ff, tied, extra = published
    architecture, config_class = _TEXT_ONLY.get(architecture, (architecture, _CONFIG_CLASSES.get(architecture)))
    config = getattr(transformers, config_class)(
        num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads, num_key_value_heads=kv_heads,
        head_dim=head_dim, vocab_size=vocab, intermediate_size=ff, tie_word_embeddings=tied,
        max_position_embeddings=4096, **extra)
    config.architectures = [architecture]
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    header, offset = {}, 0
    for name, tensor in model.state_dict().items():
        if tied and name == "lm_head.weight":
            continue
        size = tensor.numel() * _DTYPE_BYTES
        header[name] = {"dtype": "BF16", "shape": list(tensor.shape), "data_offsets": [offset, offset + size]}
        offset += size
    directory.mkdir(parents=True)
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with (directory / "model.safetensors").open("wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob)
        fh.truncate(8 + len(blob) + offset)
    (directory / "config.json").write_text(config.to_json_string(), encoding="utf-8")
    if architecture.startswith("Qwen3_5"):
        from tests.builders.new_arch_checkpoints import write_qwen35_tokenizer

        write_qwen35_tokenizer(directory)
    elif architecture.startswith("Qwen"):
        write_bpe_tokenizer(directory)
    else:
        write_spm_tokenizer(directory)
    return directory


@pytest.mark.slow
@pytest.mark.parametrize("model", [m for m in MODELS if m.shape is not None], ids=lambda m: m.alias)
def test_catalog_shape_is_what_the_published_config_converts_to(model, tmp_path, capsys):
    from blossom_edge.cli import main

    published = PUBLISHED_CONFIGS[model.base_model]
    ckpt = _header_only_checkpoint(tmp_path / "ckpt", model.architecture, published)
    assert main(["convert", str(ckpt), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    shapes = {t["name"]: t["shape"] for t in plan["tensors"]}
    shape = model.shape
    layers = {int(name.split(".")[1]) for name in shapes if name.startswith("blk.")}
    experts = shapes.get("blk.0.ffn_up_exps.weight")
    # Linear-attention layers have no K projection; the first full-attention one gives the KV width.
    attention = sorted(i for i in layers if f"blk.{i}.attn_k.weight" in shapes)
    derived = {
        "n_layer": len(layers),
        "n_vocab": shapes["token_embd.weight"][0],
        "n_embd": shapes["token_embd.weight"][1],
        "n_head_kv": shapes[f"blk.{attention[0]}.attn_k.weight"][0] // published[4],
        "head_dim": published[4],
        "n_ff": experts[1] if experts else shapes["blk.0.ffn_up.weight"][0],
    }
    if experts:
        derived |= {"n_expert": experts[0], "n_expert_used": published[8]["num_experts_per_tok"]}
    if len(attention) < len(layers):
        derived["n_recurrent_layers"] = len(layers) - len(attention)
    assert shape.dimensions() == derived
    # The 27B's delta-net widths are transformers' defaults, not its own (none published was found): its
    # text part then comes to 25.4 B of the card's 27 B, so only that base is checked loosely.
    loose = model.base_model == "Qwen/Qwen3.5-27B"
    assert plan["n_params"] / 1e9 == pytest.approx(model.params_b, rel=0.08 if loose else 0.01)
    if experts:
        expert_params = sum(3 * experts[0] * experts[1] * experts[2] for _ in layers)
        assert shape.expert_share == pytest.approx(expert_params / (model.params_b * 1e9), rel=0.01)


def test_every_shaped_base_has_its_published_config_here():
    assert {m.base_model for m in MODELS if m.shape is not None} <= set(PUBLISHED_CONFIGS)
