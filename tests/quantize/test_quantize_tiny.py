"""A tiny Qwen2-shaped GGUF written directly with gguf-py, for quantizer tests that need no converter.

Width 256 so that K-quants really apply; a byte-level BPE vocabulary of a few hundred
tokens so that llama.cpp loads it and generates. Other test modules import `write_tiny_gguf`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ '\\n|Human|: ' + message['content'] }}"
    "{% else %}{{ '\\n|Bot|: ' + message['content'] + '<|endoftext|>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '\\n|Bot|: ' }}{% endif %}"
)


def _byte_vocab() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes, the alphabet of byte-level BPE."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for _, c in sorted(zip(printable, codes))]


def write_tiny_gguf(path: Path, *, dtype: str = "bf16", hidden: int = 256, layers: int = 2, ff: int = 512,
                    seed: int = 0) -> Path:
    """Write a small, loadable Qwen2 GGUF with random weights; deterministic for a given seed."""
    import gguf
    from gguf.quants import quantize

    rng = np.random.default_rng(seed)
    tokens = _byte_vocab()
    merges = ["Ġ t", "h e", "Ġ a", "i n"]
    tokens += [m.replace(" ", "") for m in merges]
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens += specials
    n_vocab = len(tokens)
    heads, kv_heads = 4, 2
    head_dim = hidden // heads
    qtype = {"bf16": gguf.GGMLQuantizationType.BF16, "f16": gguf.GGMLQuantizationType.F16,
             "f32": gguf.GGMLQuantizationType.F32}[dtype]

    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_name("tiny-blossom")
    writer.add_context_length(512)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(1000000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type({"bf16": 32, "f16": 1, "f32": 0}[dtype])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.NORMAL] * (n_vocab - len(specials)) + [gguf.TokenType.CONTROL] * len(specials))
    writer.add_token_merges(merges)
    writer.add_eos_token_id(n_vocab - 3)
    writer.add_bos_token_id(n_vocab - 3)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    def add(name: str, shape: tuple[int, ...], scale: float = 0.05, one: bool = False) -> None:
        data = np.ones(shape, np.float32) if one else (rng.standard_normal(shape) * scale).astype(np.float32)
        if len(shape) == 1 or qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, data)
        else:
            writer.add_tensor(name, quantize(data, qtype), raw_dtype=qtype)

    add("token_embd.weight", (n_vocab, hidden))
    for i in range(layers):
        add(f"blk.{i}.attn_norm.weight", (hidden,), one=True)
        add(f"blk.{i}.attn_q.weight", (hidden, hidden))
        add(f"blk.{i}.attn_q.bias", (hidden,))
        add(f"blk.{i}.attn_k.weight", (kv_heads * head_dim, hidden))
        add(f"blk.{i}.attn_k.bias", (kv_heads * head_dim,))
        add(f"blk.{i}.attn_v.weight", (kv_heads * head_dim, hidden))
        add(f"blk.{i}.attn_v.bias", (kv_heads * head_dim,))
        add(f"blk.{i}.attn_output.weight", (hidden, hidden))
        add(f"blk.{i}.ffn_norm.weight", (hidden,), one=True)
        add(f"blk.{i}.ffn_gate.weight", (ff, hidden))
        add(f"blk.{i}.ffn_up.weight", (ff, hidden))
        add(f"blk.{i}.ffn_down.weight", (hidden, ff))
    add("output_norm.weight", (hidden,), one=True)
    add("output.weight", (n_vocab, hidden))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_tiny_gguf_reads_back(tmp_path):
    from blossom_edge.inputs.gguf_info import read_gguf_info

    info = read_gguf_info(write_tiny_gguf(tmp_path / "tiny-BF16.gguf"))
    assert info.architecture == "qwen2" and info.n_embd == 256
    assert info.type_histogram() == {"BF16": 16, "F32": 11}
