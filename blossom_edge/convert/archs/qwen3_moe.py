"""Qwen3-MoE (Blossom-V6.3-30B-A3B on Qwen3-30B-A3B-Base: 128 experts, 8 routed per token).

Qwen3's attention (per-head q/k norms, explicit head_dim) with every block's MLP replaced by
a router (`mlp.gate` → ffn_gate_inp, kept F32) and experts stored one tensor per expert,
stacked per projection into ffn_{gate,up,down}_exps by `convert/experts.py`. The expert
counts are common keys; the expert width (moe_intermediate_size) is the one key of its own.
llama.cpp's qwen3moe graph always renormalises the top-k router weights, which is what
norm_topk_prob=true (every released Qwen3-MoE) asks for. It has no dense blocks either: a
checkpoint with some (mlp_only_layers) fails in the plan, its dense MLP having no GGUF name.
"""

from blossom_edge.convert.arch import Architecture
from blossom_edge.convert.experts import write_moe_hparams

MOE_BLOCK = ("ATTN_NORM", "ATTN_Q", "ATTN_K", "ATTN_V", "ATTN_OUT", "ATTN_Q_NORM", "ATTN_K_NORM", "FFN_NORM",
             "FFN_GATE_INP", "FFN_GATE_EXP", "FFN_UP_EXP", "FFN_DOWN_EXP")

QWEN3_MOE = Architecture(hf_names=("Qwen3MoeForCausalLM",), gguf_arch="QWEN3MOE", block_tensors=MOE_BLOCK,
                         extra_hparams=(write_moe_hparams,))
