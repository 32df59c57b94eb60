"""LLaMA-style models: Yi / Yi-1.5 (Blossom 9b, 34b; grouped-query attention), Mistral, Llama-3.

llama.cpp's converter maps MistralForCausalLM to the same `llama` architecture, and
writes two extra keys for it: vocab_size and the rotary dimension count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blossom_edge.convert.arch import Architecture

if TYPE_CHECKING:
    import gguf


def _llama_hparams(config: dict, writer: gguf.GGUFWriter) -> None:
    writer.add_vocab_size(int(config["vocab_size"]))
    head_dim = config.get("head_dim") or int(config["hidden_size"]) // int(config["num_attention_heads"])
    writer.add_rope_dimension_count(int(head_dim))


LLAMA = Architecture(
    hf_names=("LlamaForCausalLM", "MistralForCausalLM"),
    gguf_arch="LLAMA",
    permute_qk=True,
    space_prefix_key=True,
    extra_hparams=(_llama_hparams,),
)
