"""Tiny Hugging Face checkpoints of every Blossom architecture, built by transformers (test-only).

Random weights, real tokenizers (from `tests.builders.tokenizers`), saved the way
`save_pretrained` saves real models (single file or sharded with an index), so the
converter meets exactly the files a hub download gives it.
"""

from __future__ import annotations

from pathlib import Path

ARCHS = ("qwen2", "qwen3", "llama", "mistral")


def _config(arch: str, vocab_size: int, hidden: int, layers: int, heads: int, kv_heads: int, tie: bool,
            bos_id: int | None, eos_id: int | None):
    import transformers

    common = dict(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2 + 128,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        tie_word_embeddings=tie,
        initializer_range=0.08,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
    )
    if arch == "qwen2":
        return transformers.Qwen2Config(rope_theta=1000000.0, **common)
    if arch == "qwen3":
        return transformers.Qwen3Config(head_dim=hidden // heads * 2, rope_theta=1000000.0, **common)
    if arch == "llama":
        return transformers.LlamaConfig(rope_theta=5000000.0, **common)
    if arch == "mistral":
        return transformers.MistralConfig(rope_theta=10000.0, sliding_window=None, **common)
    raise ValueError(arch)


def build_checkpoint(
    path: Path,
    arch: str = "qwen2",
    *,
    hidden: int = 256,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int | None = None,
    dtype: str = "bfloat16",
    sharded: bool = False,
    tie: bool | None = None,
    tokenizer: str = "small",
    extra_vocab: int = 0,
    seed: int = 0,
) -> Path:
    """Write a tiny checkpoint of `arch` into `path` and return it.

    `tokenizer`: "small" (a trained few-thousand-token tokenizer) or "full" (the real Qwen2
    BPE / Llama SentencePiece vocabulary). `extra_vocab` pads config.vocab_size beyond the
    tokenizer, as real Qwen checkpoints do. Qwen models get a byte-level BPE tokenizer.json;
    LLaMA/Mistral (Yi) models get a SentencePiece tokenizer.model.
    """
    import torch
    import transformers

    from tests.builders import tokenizers

    path.mkdir(parents=True, exist_ok=True)
    if arch in ("qwen2", "qwen3"):
        tokenizers.write_bpe_tokenizer(path, kind=tokenizer)
    else:
        tokenizers.write_spm_tokenizer(path, kind=tokenizer)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    vocab_size = len(tok) + extra_vocab
    kv_heads = kv_heads if kv_heads is not None else (heads // 2 if arch in ("llama", "mistral") else heads)
    tie = (arch in ("qwen2", "qwen3")) if tie is None else tie
    config = _config(arch, vocab_size, hidden, layers, heads, kv_heads, tie, tok.bos_token_id, tok.eos_token_id)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        # Non-zero norms and biases, so a converter that drops or mangles them is caught.
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            elif name.endswith(".bias"):
                param.copy_(0.05 * torch.randn_like(param))
    model = model.to(getattr(torch, dtype))
    model.save_pretrained(path, safe_serialization=True, max_shard_size="200KB" if sharded else "100GB")
    return path
