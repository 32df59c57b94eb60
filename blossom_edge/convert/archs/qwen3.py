"""Qwen3 (Blossom v6.1): per-head RMS norms on q and k, and an explicit head_dim.

The q/k norms map through TensorNameMap; head_dim becomes key/value_length in the
common keys because Qwen3's head size is not hidden_size / n_head.
"""

from blossom_edge.convert.arch import DENSE_BLOCK, Architecture

QWEN3 = Architecture(hf_names=("Qwen3ForCausalLM",), gguf_arch="QWEN3",
                     block_tensors=(*DENSE_BLOCK, "ATTN_Q_NORM", "ATTN_K_NORM"))
