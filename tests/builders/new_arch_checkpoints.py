"""Tiny checkpoints of the 2025 Blossom architectures (GLM-4, Seed-OSS, Qwen3.5), built by transformers.

Random weights with the real models' proportions (grouped-query attention, explicit head_dim,
partial RoPE, Qwen3.5's 3:1 linear/full layer pattern, more value than key heads in its
linear attention, an MTP layer), saved by `save_pretrained` as the hub serves them.
Tokenizers: Seed-OSS and Qwen3.5 carry real vocabularies (Qwen2's; Qwen3.5's from llama.cpp's
vocab test GGUF), which llama.cpp's converter recognises by hash. GLM-4's real vocabulary is
not available offline, so its checkpoint has the demo BPE with GLM-4's split rule and special
tokens, and `run_reference_with_pre` lets the reference converter name that pre-tokenizer as it
names GLM-4's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gguf

from tests.builders import tokenizers

LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN35_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
GLM4_SPECIAL = ("<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
                "<|assistant|>", "<|observation|>")
GLM4_TEMPLATE = ("[gMASK]<sop>{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
QWEN35_VOCAB_GGUF = Path(__file__).resolve().parent.parent / "data" / "vocab" / "ggml-vocab-qwen35.gguf"


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _added(token_id: int, content: str) -> dict:
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def write_glm4_tokenizer(model_dir: Path) -> None:
    """The demo BPE re-dressed as GLM-4-0414's tokenizer: Llama-3 split, GLM's special tokens."""
    model_dir.mkdir(parents=True, exist_ok=True)
    tok = json.loads((tokenizers.DEMO_TOKENIZER / "tokenizer.json").read_text(encoding="utf-8"))
    first = len(tok["model"]["vocab"])
    tok["added_tokens"] = [_added(first + i, t) for i, t in enumerate(GLM4_SPECIAL)]
    tok["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = LLAMA3_SPLIT
    (model_dir / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    _write_json(model_dir / "tokenizer_config.json", {
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in tok["added_tokens"]},
        "additional_special_tokens": list(GLM4_SPECIAL[1:]),
        "chat_template": GLM4_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": 32768,
        "tokenizer_class": "PreTrainedTokenizerFast",
    })


def write_qwen35_tokenizer(model_dir: Path) -> None:
    """Qwen3.5's tokenizer.json + tokenizer_config.json, rebuilt from llama.cpp's vocab test GGUF."""
    model_dir.mkdir(parents=True, exist_ok=True)
    kv = tokenizers.read_gguf_kv(QWEN35_VOCAB_GGUF)
    tokens, types, merges = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.token_type"], kv["tokenizer.ggml.merges"]
    vocab = {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty == gguf.TokenType.NORMAL}
    added = [_added(i, t) for i, (t, ty) in enumerate(zip(tokens, types))
             if ty in (gguf.TokenType.CONTROL, gguf.TokenType.USER_DEFINED)]
    for a in added:
        a["special"] = types[a["id"]] == gguf.TokenType.CONTROL
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN35_SPLIT}, "behavior": "Isolated", "invert": False},
            byte_level]},
        "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    (model_dir / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    _write_json(model_dir / "tokenizer_config.json", {
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added},
        "bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
        "chat_template": tokenizers.CHATML_TEMPLATE, "clean_up_tokenization_spaces": False,
        "model_max_length": 262144, "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer",
    })


def _finish(model, path: Path, dtype: str, sharded: bool) -> Path:
    import torch

    with torch.no_grad():
        # Non-zero norms and biases, so a converter that drops or mangles them is caught.
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            elif name.endswith(".bias"):
                param.copy_(0.05 * torch.randn_like(param))
    model = model.to(getattr(torch, dtype))
    model.save_pretrained(path, safe_serialization=True, max_shard_size="300KB" if sharded else "100GB")
    return path


def build_glm4(path: Path, *, dtype: str = "bfloat16", sharded: bool = False, seed: int = 0) -> Path:
    """GLM-4-32B-0414's shape scaled down: 6 heads over 2 KV heads, head_dim 32, half of it rotated."""
    import torch
    import transformers

    write_glm4_tokenizer(path)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    config = transformers.Glm4Config(
        vocab_size=len(tok), hidden_size=192, intermediate_size=512, num_hidden_layers=2, num_attention_heads=6,
        num_key_value_heads=2, head_dim=32, partial_rotary_factor=0.5, max_position_embeddings=4096,
        rms_norm_eps=1e-5, attention_bias=True, tie_word_embeddings=False, initializer_range=0.08,
        pad_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=[tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")])
    torch.manual_seed(seed)
    return _finish(transformers.Glm4ForCausalLM(config), path, dtype, sharded)


def build_seed_oss(path: Path, *, dtype: str = "bfloat16", sharded: bool = False, seed: int = 0) -> Path:
    """Seed-OSS-36B's shape scaled down (head_dim ≠ hidden/heads, q/k/v biases), with Qwen2's real vocab."""
    import torch
    import transformers

    tokenizers.write_qwen2_full(path)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    config = transformers.SeedOssConfig(
        vocab_size=len(tok), hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=8,
        num_key_value_heads=2, head_dim=32, max_position_embeddings=4096, rms_norm_eps=1e-6, rope_theta=1e7,
        attention_bias=True, attention_out_bias=False, tie_word_embeddings=False, initializer_range=0.08,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    return _finish(transformers.SeedOssForCausalLM(config), path, dtype, sharded)


def run_reference_with_pre(src: Path, model_dir: Path, out: Path, outtype: str, pre: str) -> subprocess.CompletedProcess:
    """llama.cpp's converter with one more known tokenizer: ours, under the pre-tokenizer name `pre`.

    This is the entry convert_hf_to_gguf_update.py would add for a new tokenizer's hash; nothing
    else of the reference changes.
    """
    script = (
        "import runpy, sys\n"
        f"sys.path.insert(0, {str(src)!r})\n"
        "from conversion import base\n"
        "known = base.TextModel.get_vocab_base_pre\n"
        "def get_vocab_base_pre(self, tokenizer):\n"
        "    try:\n"
        "        return known(self, tokenizer)\n"
        "    except NotImplementedError:\n"
        f"        return {pre!r}\n"
        "base.TextModel.get_vocab_base_pre = get_vocab_base_pre\n"
        f"sys.argv = ['convert_hf_to_gguf.py', {str(model_dir)!r}, '--outfile', {str(out)!r}, '--outtype', {outtype!r}]\n"
        f"runpy.run_path({str(src / 'convert_hf_to_gguf.py')!r}, run_name='__main__')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(src / "gguf-py"), "NO_LOCAL_GGUF": ""}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)


def copy_checkpoint(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _qwen35_text_config(vocab_size: int, eos_id: int | None):
    import transformers

    return transformers.Qwen3_5TextConfig(
        vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, head_dim=32, linear_conv_kernel_dim=4, linear_key_head_dim=16,
        linear_value_head_dim=16, linear_num_key_heads=2, linear_num_value_heads=4,
        layer_types=["linear_attention", "linear_attention", "linear_attention", "full_attention"],
        max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=False, initializer_range=0.08,
        rope_parameters={"rope_type": "default", "rope_theta": 1e7, "partial_rotary_factor": 0.25,
                         "mrope_section": [2, 1, 1], "mrope_interleaved": True},
        mtp_num_hidden_layers=1, eos_token_id=eos_id)


def _add_mtp_tensors(path: Path, layers: int, seed: int) -> None:
    """The MTP layer the hub checkpoints carry (transformers neither builds nor loads it).

    A full-attention block's tensors under mtp.layers.0, plus the fc that joins the embedding
    and hidden state and its norms, written as one more shard listed in the index.
    """
    import torch
    from safetensors.torch import load_file, save_file

    prefix = next(p for p in ("model.language_model.layers.", "model.layers.")
                  if any(k.startswith(p) for f in path.glob("*.safetensors") for k in load_file(f)))
    weights = {k: v for f in sorted(path.glob("*.safetensors")) for k, v in load_file(f).items()}
    full = f"{prefix}{layers - 1}."
    hidden = weights[f"{full}input_layernorm.weight"].shape[0]
    dtype = weights[f"{full}input_layernorm.weight"].dtype
    gen = torch.Generator().manual_seed(seed + 1)
    mtp = {f"mtp.layers.0.{k[len(full):]}": v.clone() for k, v in weights.items() if k.startswith(full)}
    mtp["mtp.fc.weight"] = (0.08 * torch.randn(hidden, 2 * hidden, generator=gen)).to(dtype)
    for norm in ("pre_fc_norm_embedding", "pre_fc_norm_hidden", "norm"):
        mtp[f"mtp.{norm}.weight"] = (0.1 * torch.randn(hidden, generator=gen)).to(dtype)
    shard = "model-mtp.safetensors"
    save_file(mtp, path / shard, metadata={"format": "pt"})
    index_path = path / "model.safetensors.index.json"
    if index_path.is_file():
        index = json.loads(index_path.read_text(encoding="utf-8"))
    else:
        index = {"metadata": {}, "weight_map": {k: "model.safetensors" for k in weights}}
    index["weight_map"].update({k: shard for k in mtp})
    _write_json(index_path, index)


def build_qwen3_5(path: Path, *, dtype: str = "bfloat16", sharded: bool = False, multimodal: bool = False,
                  mtp: bool = True, seed: int = 0) -> Path:
    """Qwen3.5's text model scaled down: 3 linear-attention blocks then a full one, 4 value heads over
    2 key heads, an MTP layer (`mtp`), and with `multimodal` the vision tower of the hub checkpoint."""
    import torch
    import transformers

    write_qwen35_tokenizer(path)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    text = _qwen35_text_config(len(tok), tok.convert_tokens_to_ids("<|im_end|>"))
    torch.manual_seed(seed)
    if multimodal:
        vision = transformers.Qwen3_5VisionConfig(depth=1, hidden_size=32, intermediate_size=64, num_heads=2,
                                                  patch_size=4, spatial_merge_size=2, temporal_patch_size=2,
                                                  out_hidden_size=128, num_position_embeddings=16)
        config = transformers.Qwen3_5Config(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                            tie_word_embeddings=False)
        model = transformers.Qwen3_5ForConditionalGeneration(config)
    else:
        model = transformers.Qwen3_5ForCausalLM(text)
    _finish(model, path, dtype, sharded)
    if mtp:
        _add_mtp_tensors(path, text.num_hidden_layers, seed)
    return path
