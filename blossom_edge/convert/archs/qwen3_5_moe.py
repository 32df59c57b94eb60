"""Qwen3.5-MoE (Blossom-V6.4-35B-A3B): Qwen3.5's layer mix with a routed-plus-shared expert MLP.

Everything about the blocks themselves (linear and full attention, their tensor transforms,
the MTP layer, the vision tower kept for the projector file) is Qwen3.5's, imported from `archs/qwen3_5.py`.
What is added is the MLP of every block, MTP included: a router (mlp.gate → ffn_gate_inp),
routed experts stacked by `convert/experts.py`, and one shared expert with its own sigmoid
gate (mlp.shared_expert_gate → ffn_gate_inp_shexp; both routers stay F32). The hub
checkpoint stores the main blocks' experts fused (`experts.gate_up_proj` [E, 2F, H], split
into gate and up; `experts.down_proj` [E, H, F]) and the MTP layer's one tensor per expert;
both layouts stream without gathering a layer, as llama.cpp's converter (Qwen2MoeModel,
under Qwen3_5MoeTextModel) would otherwise. The expert widths are the MoE keys of their own.
"""

from blossom_edge.convert.arch import Architecture
from blossom_edge.convert.archs.qwen3_5 import (
    FULL,
    FULL_ATTENTION,
    LINEAR,
    LINEAR_ATTENTION,
    MTP,
    MTP_EXTRA,
    adapt_config,
    layer_kinds,
    rewrite_tensor,
    write_linear_attention_hparams,
)
from blossom_edge.convert.experts import write_moe_hparams

MOE_FFN = ("FFN_GATE_INP", "FFN_GATE_EXP", "FFN_UP_EXP", "FFN_DOWN_EXP", "FFN_GATE_INP_SHEXP", "FFN_GATE_SHEXP",
           "FFN_UP_SHEXP", "FFN_DOWN_SHEXP")

QWEN3_5_MOE = Architecture(
    hf_names=("Qwen3_5MoeForConditionalGeneration", "Qwen3_5MoeForCausalLM"),
    gguf_arch="QWEN35MOE",
    extra_hparams=(write_moe_hparams, write_linear_attention_hparams),
    adapt_config=adapt_config,
    rewrite=rewrite_tensor,
    left_out="--no-mmproj: vision tower skipped (convert/projector.py writes it as a file of its own)",
    layer_kinds=layer_kinds,
    kind_tensors=((FULL, FULL_ATTENTION + MOE_FFN), (LINEAR, LINEAR_ATTENTION + MOE_FFN),
                  (MTP, FULL_ATTENTION + MOE_FFN + MTP_EXTRA)),
)
