"""Qwen3.5 dense (Blossom-V6.4-9B): gated-delta-net linear attention mixed with full attention, plus MTP.

Every fourth block (config layer_types) is full attention with a gated query (q_proj is twice
as wide), per-head q/k norms and partial RoPE; the others are linear attention whose
checkpoint form llama.cpp's converter reshapes on the way (`Qwen3NextModel.modify_tensors`
and `_LinearAttentionVReorderBase`): A_log becomes A = −exp(A_log), dt_bias is renamed to
dt_proj.bias, the conv1d kernel is squeezed to 2-D, every RMS-norm weight but the gated
one gets its +1 (checkpoints store w − 1), and with more value than key heads the value
heads move from grouped to tiled order in in_proj_qkv, in_proj_z, in_proj_a/b, A_log,
dt_bias, conv1d (rows) and out_proj (columns). The multi-token-prediction layer (`mtp.*`)
becomes block num_hidden_layers with its nextn tensors. The multimodal checkpoint's vision
tower is not part of the text GGUF: `convert/projector.py` writes it as the projector file
(the reference's `--mmproj` run), or with `--no-mmproj` it is left out with one line.

Differs from the reference: a checkpoint re-saved without its mtp.* tensors converts to a
GGUF without the MTP block (the reference stops or writes a file llama.cpp refuses), saying
so.

The mechanisms are data and functions a Qwen3.5-MoE module reuses: `layer_kinds`,
`rewrite_tensor`, `adapt_config`, `write_linear_attention_hparams` and the block tuples.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from blossom_edge.convert.arch import Architecture, rope_parameters
from blossom_edge.convert.archs.glm4 import rotary_dims
from blossom_edge.convert.transforms import Rewritten, Transform, grouped_to_tiled, row_pieces

if TYPE_CHECKING:
    import gguf

    from blossom_edge.inputs.checkpoint import TensorRef

log = logging.getLogger(__name__)

# What each kind of block holds (gguf.MODEL_TENSOR names), before its feed-forward part.
FULL_ATTENTION = ("ATTN_NORM", "ATTN_Q", "ATTN_K", "ATTN_V", "ATTN_OUT", "ATTN_Q_NORM", "ATTN_K_NORM", "ATTN_POST_NORM")
LINEAR_ATTENTION = ("ATTN_NORM", "ATTN_QKV", "ATTN_GATE", "SSM_CONV1D", "SSM_BETA", "SSM_ALPHA", "SSM_NORM", "SSM_OUT",
                    "ATTN_POST_NORM")
MTP_EXTRA = ("NEXTN_EH_PROJ", "NEXTN_ENORM", "NEXTN_HNORM")
DENSE_FFN = ("FFN_GATE", "FFN_UP", "FFN_DOWN")
# Block kinds, as Architecture.layer_kinds names them.
FULL, LINEAR, MTP = "full_attention", "linear_attention", "mtp"
# Qwen3.5 rotates a quarter of each head, and uses interleaved M-RoPE whose default sections
# llama.cpp's converter writes when the config has none (its loader requires them).
DEFAULT_PARTIAL_ROTARY = 0.25
DEFAULT_MROPE_SECTIONS = (11, 11, 10, 0)
DEFAULT_FULL_ATTENTION_INTERVAL = 4
# The MTP layer's own tensors: checkpoint name → GGUF name within its block (gguf-py's
# TensorNameMap for qwen35 does not know them yet).
_MTP_OWN = {"fc": "nextn.eh_proj", "pre_fc_norm_embedding": "nextn.enorm", "pre_fc_norm_hidden": "nextn.hnorm",
            "norm": "nextn.shared_head_norm"}
_MTP_LAYER = re.compile(r"^(?:model\.)?mtp\.layers\.(\d+)\.")
# The multimodal checkpoint's parts that are not the text model.
_VISION = ("visual.", "vision_", "vision.")


def mtp_layers_stored(names: list[str]) -> int:
    """How many MTP layers the checkpoint's tensors hold."""
    found = [int(m.group(1)) for name in names if (m := _MTP_LAYER.match(name))]
    return max(found) + 1 if found else 0


def adapt_config(config: dict, names: list[str]) -> dict:
    """The config with mtp_num_hidden_layers as the tensors have it, saying so when that is fewer."""
    declared = int(config.get("mtp_num_hidden_layers") or 0)
    stored = mtp_layers_stored(names)
    if stored < declared:
        log.warning("the checkpoint has no mtp.* tensors for %d of the %d MTP layer(s) config.json declares: "
                    "the GGUF has %d MTP block(s) (llama.cpp's converter would fail here)",
                    declared - stored, declared, stored)
    return {**config, "mtp_num_hidden_layers": stored}


def layer_kinds(config: dict) -> tuple[str, ...]:
    """Each GGUF block's kind: config layer_types (else every fourth full), then the MTP blocks."""
    n_layers = int(config["num_hidden_layers"])
    types = config.get("layer_types")
    if not types:
        interval = int(config.get("full_attention_interval") or DEFAULT_FULL_ATTENTION_INTERVAL)
        types = [FULL if (i + 1) % interval == 0 else LINEAR for i in range(n_layers)]
    kinds = tuple(LINEAR if t == LINEAR else FULL for t in types[:n_layers])
    return kinds + (MTP,) * int(config.get("mtp_num_hidden_layers") or 0)


def _value_heads(config: dict) -> tuple[int, int, int, int] | None:
    """(key heads, value heads per key head, key head dim, value head dim) when value heads need reordering."""
    n_k, n_v = int(config.get("linear_num_key_heads") or 0), int(config.get("linear_num_value_heads") or 0)
    if not n_k or not n_v or n_k == n_v:
        return None
    return n_k, n_v // n_k, int(config["linear_key_head_dim"]), int(config["linear_value_head_dim"])


def _linear_attention(name: str, ref: TensorRef, config: dict) -> Rewritten:
    """A linear-attention tensor's reference rename, value map and value-head order."""
    values = "neg_exp" if name.endswith(".A_log") else None
    if name.endswith(".dt_bias"):
        name = name.removesuffix(".dt_bias") + ".dt_proj.bias"
    shape = tuple(d for d in ref.shape if d != 1) if ".conv1d" in name else None
    heads = _value_heads(config)
    if heads is None:
        return Rewritten(name, transform=Transform(shape, None, values) if shape or values else None)
    n_k, per_k, k_dim, v_dim = heads
    qk_rows = 2 * n_k * k_dim
    pieces, columns = (), None
    if ".in_proj_qkv." in name or ".conv1d" in name:
        pieces = row_pieces(ref, list(range(qk_rows)) + [qk_rows + r for r in grouped_to_tiled(n_k, per_k, v_dim)])
    elif ".in_proj_z." in name:
        pieces = row_pieces(ref, grouped_to_tiled(n_k, per_k, v_dim))
    elif ".in_proj_a." in name or ".in_proj_b." in name:
        pieces = row_pieces(ref, grouped_to_tiled(n_k, per_k, 1))
    elif ".out_proj." in name:
        columns = tuple(grouped_to_tiled(n_k, per_k, v_dim))
    elif name.endswith((".A_log", ".dt_proj.bias")):
        columns = tuple(grouped_to_tiled(n_k, per_k, 1))
    transform = Transform(shape, columns, values) if shape or columns or values else None
    return Rewritten(name, pieces, transform)


def rewrite_tensor(ref: TensorRef, config: dict) -> Rewritten | None:
    """A checkpoint tensor as llama.cpp's Qwen3.5 converter maps it; None for the vision tower."""
    name = ref.name.replace("language_model.", "")
    if any(part in name for part in _VISION):
        return None
    name = name.removeprefix("model.") if name.startswith("model.mtp.") else name
    n_layers = int(config["num_hidden_layers"])
    add_one = name.endswith("norm.weight") and not name.endswith("linear_attn.norm.weight")
    if name.startswith("mtp."):
        parts = name.split(".", 3)
        if len(parts) == 4 and parts[1] == "layers" and parts[2].isdecimal():
            name = f"model.layers.{n_layers + int(parts[2])}.{parts[3]}"
        elif len(parts) == 3 and parts[1] in _MTP_OWN:
            gguf_name = f"blk.{n_layers}.{_MTP_OWN[parts[1]]}.{parts[2]}"
            # The reference adds the norms' 1 after renaming them (enorm, hnorm, shared_head.norm).
            is_norm = parts[1] != "fc" and parts[2] == "weight"
            return Rewritten(gguf_name, transform=Transform(values="add_one") if is_norm else None)
    if ".linear_attn." in name:
        return _linear_attention(name, ref, config)
    return Rewritten(name, transform=Transform(values="add_one") if add_one else None)


def write_linear_attention_hparams(config: dict, writer: gguf.GGUFWriter) -> None:
    """The gated delta net's sizes, which blocks are recurrent, partial and M-RoPE, the MTP count."""
    sections = list(rope_parameters(config).get("mrope_section") or DEFAULT_MROPE_SECTIONS)
    writer.add_rope_dimension_sections((sections + [0] * 4)[:4])
    if (n_mtp := int(config.get("mtp_num_hidden_layers") or 0)) > 0:
        writer.add_nextn_predict_layers(n_mtp)
    writer.add_ssm_conv_kernel(int(config["linear_conv_kernel_dim"]))
    writer.add_ssm_state_size(int(config["linear_key_head_dim"]))
    writer.add_ssm_group_count(int(config["linear_num_key_heads"]))
    writer.add_ssm_time_step_rank(int(config["linear_num_value_heads"]))
    writer.add_ssm_inner_size(int(config["linear_value_head_dim"]) * int(config["linear_num_value_heads"]))
    if config.get("layer_types"):
        # The gguf-py on PyPI has no add_recurrent_layers yet; this is the key it writes.
        writer.add_array(f"{writer.arch}.attention.recurrent_layers", [kind == LINEAR for kind in layer_kinds(config)])
    writer.add_full_attention_interval(int(config.get("full_attention_interval") or DEFAULT_FULL_ATTENTION_INTERVAL))
    writer.add_rope_dimension_count(rotary_dims(config, DEFAULT_PARTIAL_ROTARY))


QWEN3_5 = Architecture(
    hf_names=("Qwen3_5ForConditionalGeneration", "Qwen3_5ForCausalLM"),
    gguf_arch="QWEN35",
    extra_hparams=(write_linear_attention_hparams,),
    adapt_config=adapt_config,
    rewrite=rewrite_tensor,
    left_out="--no-mmproj: vision tower skipped (convert/projector.py writes it as a file of its own)",
    layer_kinds=layer_kinds,
    kind_tensors=((FULL, FULL_ATTENTION + DENSE_FFN), (LINEAR, LINEAR_ATTENTION + DENSE_FFN),
                  (MTP, FULL_ATTENTION + DENSE_FFN + MTP_EXTRA)),
)
