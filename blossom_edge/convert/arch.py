"""Architectures as data: which GGUF architecture a Hugging Face class becomes, and how.

An `Architecture` names the llama.cpp architecture and says what its converter does
differently (Q/K rows permuted, add_prefix_space copied); the hyperparameter keys common to
every decoder are written here, and an architecture module (`archs/<name>.py`) adds only
what differs. The registry of them all is `archs/__init__.py`, which imports this module and
never the other way round. Tensor names go through
gguf-py's TensorNameMap, which already knows every Hugging Face spelling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gguf

HparamWriter = Callable[[dict, "gguf.GGUFWriter"], None]


@dataclass(frozen=True)
class Architecture:
    """How one Hugging Face architecture becomes GGUF."""

    hf_names: tuple[str, ...]
    gguf_arch: str  # gguf.MODEL_ARCH member name, e.g. "QWEN2"
    # llama.cpp's LLaMA graph expects rotary halves interleaved the way Meta's original
    # checkpoints stored them; Hugging Face's LLaMA/Mistral weights must be permuted back.
    permute_qk: bool = False
    # llama.cpp's converter class for it (LlamaModel) copies tokenizer_config.json's
    # add_prefix_space into tokenizer.ggml.add_space_prefix; Qwen's classes do not.
    space_prefix_key: bool = False
    extra_hparams: tuple[HparamWriter, ...] = field(default=())

    @property
    def model_arch(self) -> gguf.MODEL_ARCH:
        import gguf

        return gguf.MODEL_ARCH[self.gguf_arch]

    @property
    def arch_name(self) -> str:
        import gguf

        return gguf.MODEL_ARCH_NAMES[self.model_arch]


def _find(config: dict, *keys: str) -> object | None:
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    return None


def rope_parameters(config: dict) -> dict:
    """RoPE settings from either spelling: transformers ≥5 nests them in `rope_parameters`."""
    nested = config.get("rope_parameters") or {}
    legacy = config.get("rope_scaling") or {}
    merged = {**legacy, **nested}
    if "rope_theta" not in merged and config.get("rope_theta") is not None:
        merged["rope_theta"] = config["rope_theta"]
    if "rope_type" not in merged and "type" in merged:
        merged["rope_type"] = merged["type"]
    return merged


def write_common_hparams(config: dict, writer: gguf.GGUFWriter, file_type: int) -> None:
    """The hyperparameters llama.cpp reads for every decoder-only model, as its converter writes them."""
    import gguf

    writer.add_block_count(int(config["num_hidden_layers"]))
    if (n_ctx := _find(config, "max_position_embeddings", "n_ctx", "n_positions")) is not None:
        writer.add_context_length(int(n_ctx))
    writer.add_embedding_length(int(config["hidden_size"]))
    if (n_ff := _find(config, "intermediate_size")) is not None:
        writer.add_feed_forward_length(int(n_ff))
    writer.add_head_count(int(config["num_attention_heads"]))
    if (n_kv := _find(config, "num_key_value_heads")) is not None:
        writer.add_head_count_kv(int(n_kv))
    rope = rope_parameters(config)
    rope_type, factor = rope.get("rope_type"), rope.get("factor")
    if rope_type == "linear" and factor is not None:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(factor))
    elif rope_type == "yarn" and factor is not None:
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(float(factor))
        writer.add_rope_scaling_orig_ctx_len(int(rope["original_max_position_embeddings"]))
    if rope.get("rope_theta") is not None:
        writer.add_rope_freq_base(float(rope["rope_theta"]))
    if (eps := _find(config, "rms_norm_eps")) is not None:
        writer.add_layer_norm_rms_eps(float(eps))
    if (head_dim := config.get("head_dim")) is not None:
        writer.add_key_length(int(head_dim))
        writer.add_value_length(int(head_dim))
    writer.add_file_type(file_type)
