"""Qwen1.5 / Qwen2 / Qwen2.5 (Blossom v5 4b/14b/32b, v6): q/k/v carry biases, embeddings tied or not.

Nothing beyond the common keys: TensorNameMap already maps the biases, and a tied
checkpoint simply has no lm_head, which llama.cpp handles by reusing token_embd.
"""

from blossom_edge.convert.arch import Architecture

QWEN2 = Architecture(hf_names=("Qwen2ForCausalLM",), gguf_arch="QWEN2")
