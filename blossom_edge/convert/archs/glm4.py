"""GLM-4-0414 (Blossom-V6.1-GLM-32B on GLM-4-32B-Base-0414): sandwich norms, a fused MLP, partial RoPE.

Each block normalises after attention and after the MLP as well as before them
(post_self_attn_layernorm, post_mlp_layernorm), and stores gate and up as one gate_up_proj,
which llama.cpp's glm4 graph takes as ffn_up and splits itself: TensorNameMap knows every
name, so no tensor changes. Only half of each head is rotated (partial_rotary_factor),
written as the rotary dimension count. The tokenizer splits like Llama-3's, but llama.cpp
ties GLM's no-BOS rule to the pre-tokenizer name "glm4", and the reference sets
<|endoftext|> as eos/unk/bos and <|user|> as end-of-turn when the tokenizer files do not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blossom_edge.convert.arch import Architecture, rope_parameters

if TYPE_CHECKING:
    import gguf

GLM4_BLOCK = ("ATTN_NORM", "ATTN_Q", "ATTN_K", "ATTN_V", "ATTN_OUT", "ATTN_POST_NORM", "FFN_NORM", "FFN_UP",
              "FFN_DOWN", "FFN_POST_NORM")
# GLM-4's default when config.json does not say (llama.cpp's converter assumes the same).
DEFAULT_PARTIAL_ROTARY = 0.5


def rotary_dims(config: dict, default_factor: float) -> int:
    """The rotated part of a head: head_dim × partial_rotary_factor, wherever the config keeps the factor."""
    factor = rope_parameters(config).get("partial_rotary_factor", config.get("partial_rotary_factor", default_factor))
    head_dim = config.get("head_dim") or int(config["hidden_size"]) // int(config["num_attention_heads"])
    return int(int(head_dim) * float(factor))


def _glm4_hparams(config: dict, writer: gguf.GGUFWriter) -> None:
    writer.add_rope_dimension_count(rotary_dims(config, DEFAULT_PARTIAL_ROTARY))


GLM4 = Architecture(
    hf_names=("Glm4ForCausalLM",),
    gguf_arch="GLM4",
    block_tensors=GLM4_BLOCK,
    extra_hparams=(_glm4_hparams,),
    pre_tokenizer_names=(("llama-bpe", "glm4"),),
    special_tokens=(("eos", "<|endoftext|>"), ("eot", "<|user|>"), ("unk", "<|endoftext|>"),
                    ("bos", "<|endoftext|>")),
)
