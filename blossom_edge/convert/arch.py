"""Architectures as data: which GGUF architecture a Hugging Face class becomes, and how.

An `Architecture` names the llama.cpp architecture and says what its converter does
differently (Q/K rows permuted, add_prefix_space copied); the hyperparameter keys common to
every decoder are written here, and an architecture module (`archs/<name>.py`) adds only
what differs. The registry of them all is `archs/__init__.py`, which imports this module and
never the other way round. Tensor names go through
gguf-py's TensorNameMap, which already knows every Hugging Face spelling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from blossom_edge.base.errors import CorruptFileError, excerpt
from blossom_edge.convert.experts import expert_count, experts_used

if TYPE_CHECKING:
    import gguf

    from blossom_edge.convert.transforms import Rewritten
    from blossom_edge.inputs.checkpoint import TensorRef

HparamWriter = Callable[[dict, "gguf.GGUFWriter"], None]

# The tensors llama.cpp's graph needs in every block of a dense decoder (gguf.MODEL_TENSOR names).
DENSE_BLOCK = ("ATTN_NORM", "ATTN_Q", "ATTN_K", "ATTN_V", "ATTN_OUT", "FFN_NORM", "FFN_GATE", "FFN_UP", "FFN_DOWN")
# And outside the blocks; the output projection may be tied to the embedding.
GLOBAL_TENSORS = ("TOKEN_EMBD", "OUTPUT_NORM")


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
    # What every block must hold, checked before writing: llama.cpp refuses a file without it.
    block_tensors: tuple[str, ...] = DENSE_BLOCK
    extra_hparams: tuple[HparamWriter, ...] = field(default=())
    # The tokenizer.ggml.pre name llama.cpp gives a split rule in this architecture, where it is not
    # the rule's usual one (GLM-4 splits like Llama-3, and llama.cpp ties GLM's no-BOS rule to "glm4").
    pre_tokenizer_names: tuple[tuple[str, str], ...] = ()
    # Special-token roles the reference converter sets by token text when the tokenizer files leave them unset.
    special_tokens: tuple[tuple[str, str], ...] = ()
    # The config as the reference reads it, given the checkpoint's tensor names (e.g. the MTP
    # layers actually stored); None: config.json as it is.
    adapt_config: Callable[[dict, list[str]], dict] | None = None
    # A tensor as the reference hands it to the name map (renamed, rows reordered, values
    # transformed), or None when it is not part of the GGUF; None: every tensor as stored.
    rewrite: Callable[[TensorRef, dict], Rewritten | None] | None = None
    # Says what the tensors `rewrite` leaves out are, in the one line the plan logs about them.
    left_out: str = ""
    # The kind of every GGUF block, MTP blocks included (its length is the block count), and what
    # each kind must hold; None: num_hidden_layers blocks, each holding `block_tensors`.
    layer_kinds: Callable[[dict], tuple[str, ...]] | None = None
    kind_tensors: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def blocks(self, config: dict) -> tuple[str, ...]:
        """Every GGUF block's kind; blocks of the one default kind are "block"."""
        if self.layer_kinds is None:
            return ("block",) * int(config["num_hidden_layers"])
        return self.layer_kinds(config)

    def tensors_of_kind(self, kind: str) -> tuple[str, ...]:
        """The gguf.MODEL_TENSOR names a block of `kind` must hold."""
        return dict(self.kind_tensors).get(kind, self.block_tensors)

    @property
    def model_arch(self) -> gguf.MODEL_ARCH:
        import gguf

        return gguf.MODEL_ARCH[self.gguf_arch]

    @property
    def arch_name(self) -> str:
        import gguf

        return gguf.MODEL_ARCH_NAMES[self.model_arch]


# config.json numbers the converter reads: required ones, then those a model may leave out.
REQUIRED_INTS = ("num_hidden_layers", "hidden_size", "num_attention_heads")
OPTIONAL_INTS = ("num_key_value_heads", "intermediate_size", "max_position_embeddings", "n_ctx", "n_positions",
                 "vocab_size", "head_dim", "moe_intermediate_size", "shared_expert_intermediate_size")
# Far beyond any real model, and small enough that no product of them overflows what we allocate.
MAX_CONFIG_INT = 1 << 31


def _positive_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def check_config(config: dict) -> None:
    """Every config.json value the converter will use has the type it needs, or one line names it.

    A hand-edited or hostile config ("num_hidden_layers": "abc", a list of lists for
    architectures) would otherwise surface as a ValueError deep in the converter.
    """
    names = config.get("architectures")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise CorruptFileError(f"config.json: architectures must be a list of class names, not {excerpt(names)}")
    for key in REQUIRED_INTS:
        if config.get(key) is None:
            raise CorruptFileError(f"config.json has no {key}")
    for key in (*REQUIRED_INTS, *OPTIONAL_INTS):
        value = config.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                      and 1 <= value <= MAX_CONFIG_INT):
            raise CorruptFileError(f"config.json: {key} must be a whole number from 1 to {MAX_CONFIG_INT}, "
                                   f"not {excerpt(value)}")
    for key in ("rope_parameters", "rope_scaling"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise CorruptFileError(f"config.json: {key} must be an object, not {excerpt(config[key])}")
    values = {"rms_norm_eps": config.get("rms_norm_eps")}
    values.update({f"rope {k}": v for k, v in rope_parameters(config).items()
                   if k in ("factor", "rope_theta", "original_max_position_embeddings")})
    for key, value in values.items():
        if value is not None and not _positive_number(value):
            raise CorruptFileError(f"config.json: {key} must be a positive number, not {excerpt(value)}")
    rope = rope_parameters(config)
    if rope.get("rope_type") == "yarn" and rope.get("factor") is not None \
            and rope.get("original_max_position_embeddings") is None:
        raise CorruptFileError("config.json: yarn rope scaling needs original_max_position_embeddings")
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    if heads % kv_heads:
        raise CorruptFileError(f"config.json: num_attention_heads ({heads}) must be a multiple of "
                               f"num_key_value_heads ({kv_heads})")


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


def write_common_hparams(config: dict, writer: gguf.GGUFWriter, file_type: int, block_count: int | None = None) -> None:
    """The hyperparameters llama.cpp reads for every decoder-only model, as its converter writes them.

    `block_count` is the GGUF's (Architecture.blocks: MTP blocks count too), else num_hidden_layers.
    """
    import gguf

    writer.add_block_count(block_count if block_count is not None else int(config["num_hidden_layers"]))
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
    # Where llama.cpp's TextModel writes them, for any architecture whose config declares experts.
    if (n_experts := expert_count(config)) is not None:
        writer.add_expert_count(n_experts)
    if (n_used := experts_used(config)) is not None:
        writer.add_expert_used_count(n_used)
    if (head_dim := config.get("head_dim")) is not None:
        writer.add_key_length(int(head_dim))
        writer.add_value_length(int(head_dim))
    writer.add_file_type(file_type)
