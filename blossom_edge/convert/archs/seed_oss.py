"""Seed-OSS (Blossom-V6.3-36B on Seed-OSS-36B-Base): a LLaMA-shaped decoder with q/k/v biases.

llama.cpp's converter writes it with nothing beyond the common keys and renames nothing
but through TensorNameMap; in its seed_oss graph the norm before the MLP is called
attn_post_norm (post_attention_layernorm maps there), and head_dim is explicit
(128 with 80 heads of a 5120-wide model), which the common keys carry as key/value length.
"""

from blossom_edge.convert.arch import Architecture

SEED_OSS_BLOCK = ("ATTN_NORM", "ATTN_Q", "ATTN_K", "ATTN_V", "ATTN_OUT", "ATTN_POST_NORM", "FFN_GATE", "FFN_UP",
                  "FFN_DOWN")

SEED_OSS = Architecture(hf_names=("SeedOssForCausalLM",), gguf_arch="SEED_OSS", block_tensors=SEED_OSS_BLOCK)
