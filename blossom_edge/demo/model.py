"""A small Blossom-shaped Hugging Face checkpoint, made on the spot without torch or a network.

The offline demo must show the whole path (checkpoint → GGUF → quant → Modelfile → bench) on
a fresh machine, so it cannot download a model. This builds one with the layout of a real
Blossom v5 release: Qwen2ForCausalLM config, safetensors weights in bfloat16 (random but
seeded, so every run is byte-identical), and the byte-level BPE tokenizer with the Blossom
chat template shipped in `blossom_edge/data/demo_tokenizer/`. Widths are multiples of 256 so
that K-quants really apply. safetensors is a JSON header plus raw bytes; it is written here
with numpy rather than adding a dependency.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from blossom_edge.base.atomic import atomic_output, atomic_write_bytes, atomic_write_text
from blossom_edge.base.bounded_read import read_json_object
from blossom_edge.model.catalog import ModelInfo, resolve

DEMO_NAME = "blossom-demo-tiny"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


@dataclass(frozen=True)
class DemoShape:
    hidden: int = 512
    intermediate: int = 1536
    layers: int = 4
    heads: int = 8
    kv_heads: int = 2
    context: int = 2048
    seed: int = 20240501


def demo_model_info() -> ModelInfo:
    """A catalog-style entry for the demo model, so Modelfile and prompts use Blossom v5's format."""
    base = resolve("v5-4b")
    return ModelInfo("demo", f"blossom-edge/{DEMO_NAME}", "demo", "none (random weights)", "Qwen2ForCausalLM",
                     0.0, DemoShape().context, base.chat)


def _tokenizer_dir() -> Any:
    return resources.files("blossom_edge") / "data" / "demo_tokenizer"


def _vocab_size(tokenizer: dict[str, Any]) -> int:
    ids = list(tokenizer["model"]["vocab"].values()) + [t["id"] for t in tokenizer.get("added_tokens", [])]
    return max(ids) + 1


def _special_id(tokenizer: dict[str, Any], content: str) -> int:
    return next(t["id"] for t in tokenizer["added_tokens"] if t["content"] == content)


def _bf16(values: Any) -> bytes:
    """float32 → bfloat16 with round-to-nearest-even, as torch does."""
    import numpy as np

    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16
    return rounded.astype("<u2").tobytes()


def write_safetensors(path: Path, tensors: dict[str, Any]) -> None:
    """Write float32 arrays as a bfloat16 safetensors file (header sorted, 8-byte aligned)."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    blobs: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        blob = _bf16(tensors[name])
        header[name] = {"dtype": "BF16", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with atomic_output(path) as partial, partial.open("wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for blob in blobs:
            fh.write(blob)


def _weights(shape: DemoShape, vocab: int) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(shape.seed)
    head_dim = shape.hidden // shape.heads
    kv = shape.kv_heads * head_dim

    def normal(*dims: int) -> Any:
        return (rng.standard_normal(dims, dtype=np.float32) * 0.02).astype(np.float32)

    t: dict[str, Any] = {"model.embed_tokens.weight": normal(vocab, shape.hidden),
                         "model.norm.weight": np.ones(shape.hidden, np.float32),
                         "lm_head.weight": normal(vocab, shape.hidden)}
    for i in range(shape.layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = np.ones(shape.hidden, np.float32)
        t[p + "post_attention_layernorm.weight"] = np.ones(shape.hidden, np.float32)
        t[p + "self_attn.q_proj.weight"] = normal(shape.hidden, shape.hidden)
        t[p + "self_attn.q_proj.bias"] = normal(shape.hidden)
        t[p + "self_attn.k_proj.weight"] = normal(kv, shape.hidden)
        t[p + "self_attn.k_proj.bias"] = normal(kv)
        t[p + "self_attn.v_proj.weight"] = normal(kv, shape.hidden)
        t[p + "self_attn.v_proj.bias"] = normal(kv)
        t[p + "self_attn.o_proj.weight"] = normal(shape.hidden, shape.hidden)
        t[p + "mlp.gate_proj.weight"] = normal(shape.intermediate, shape.hidden)
        t[p + "mlp.up_proj.weight"] = normal(shape.intermediate, shape.hidden)
        t[p + "mlp.down_proj.weight"] = normal(shape.hidden, shape.intermediate)
    return t


def build_demo_checkpoint(directory: Path, shape: DemoShape = DemoShape()) -> Path:
    """Write the demo checkpoint into `directory` (created) and return it.

    Every file is a new one renamed into place: the demo is rerun over its old directory,
    and a link left there must be replaced, not written through.
    """
    directory.mkdir(parents=True, exist_ok=True)
    source = _tokenizer_dir()
    for name in TOKENIZER_FILES:
        atomic_write_bytes(directory / name, (source / name).read_bytes())
    tokenizer = read_json_object(directory / "tokenizer.json", required=True)
    vocab = _vocab_size(tokenizer)
    eos = _special_id(tokenizer, "<|endoftext|>")
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": shape.hidden,
        "intermediate_size": shape.intermediate,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "max_position_embeddings": shape.context,
        "max_window_layers": shape.layers,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "vocab_size": vocab,
        "bos_token_id": eos,
        "eos_token_id": eos,
        "tie_word_embeddings": False,
        "use_cache": True,
        "use_sliding_window": False,
        "sliding_window": shape.context,
        "attention_dropout": 0.0,
        "torch_dtype": "bfloat16",
    }
    atomic_write_text(directory / "config.json", json.dumps(config, indent=2) + "\n")
    atomic_write_text(directory / "generation_config.json",
                      json.dumps({"bos_token_id": eos, "eos_token_id": eos, "do_sample": False}, indent=2) + "\n")
    write_safetensors(directory / "model.safetensors", _weights(shape, vocab))
    return directory
