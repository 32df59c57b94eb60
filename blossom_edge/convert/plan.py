"""The conversion plan: for every checkpoint tensor, its GGUF name, output type and size.

Decided before a byte is written, so `--dry-run` prints exactly what a real run does,
disk space can be checked up front, and an unmappable tensor fails before the output
file exists. The type rules follow llama.cpp's converter: 1-D tensors, norms and biases
stay F32; `q8_0` falls back to F16 for rows that are not a whole number of 32-blocks.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from blossom_edge.base.errors import UnsupportedError, UsageError
from blossom_edge.convert.arch import GLOBAL_TENSORS, Architecture
from blossom_edge.convert.experts import Piece, Stacked, stack_experts, whole
from blossom_edge.convert.transforms import Rewritten, Transform
from blossom_edge.inputs.checkpoint import Checkpoint, TensorRef

if TYPE_CHECKING:
    import gguf

log = logging.getLogger(__name__)

OUTTYPES = ("auto", "f32", "f16", "bf16", "q8_0")
# Buffers transformers registers but that carry no weights.
IGNORED_SUFFIXES = (".rotary_emb.inv_freq", ".attention.masked_bias", ".attention.bias")
# Tensor kinds llama.cpp's converter keeps in F32 whatever the output type (its prepare_tensors
# list, as far as our architectures have them): routers and convolution kernels.
ALWAYS_F32 = ("FFN_GATE_INP", "FFN_GATE_INP_SHEXP", "SSM_CONV1D")


@dataclass(frozen=True)
class PlannedTensor:
    source: TensorRef
    name: str
    qtype: gguf.GGMLQuantizationType
    nbytes: int
    # Q/K of LLaMA-style models: the number of heads whose rotary halves are interleaved.
    permute_heads: int | None = None
    # A stacked expert tensor: its bytes are these runs of stored rows, in order (experts.py);
    # `source` then only describes the stacked whole. Empty for a tensor stored as it is.
    pieces: tuple[Piece, ...] = ()
    # What the reference converter does to the values besides casting (convert/transforms.py).
    transform: Transform | None = None

    @property
    def segments(self) -> tuple[Piece, ...]:
        """Where the output's rows come from, in order: the pieces, or all of `source`."""
        return self.pieces or (whole(self.source),)

    @property
    def shape(self) -> tuple[int, ...]:
        if self.transform is not None and self.transform.shape is not None:
            return self.transform.shape
        return self.source.shape


@dataclass(frozen=True)
class Plan:
    arch: Architecture
    outtype: str
    file_type: int
    tensors: list[PlannedTensor]
    # config.json as the architecture's hyperparameter writers read it (Architecture.adapt_config).
    config: dict = field(default_factory=dict)

    @property
    def tensor_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def n_params(self) -> int:
        return sum(t.source.n_elements for t in self.tensors)


def resolve_outtype(outtype: str, checkpoint: Checkpoint) -> str:
    """`auto` keeps a 16-bit source as it is (bf16 stays bf16); F32 sources become f16, as llama.cpp does."""
    outtype = outtype.lower()
    if outtype not in OUTTYPES:
        raise UsageError(f"unknown --outtype '{outtype}'; choose one of {', '.join(OUTTYPES)}")
    if outtype != "auto":
        return outtype
    for ref in checkpoint.tensors():
        if len(ref.shape) >= 2:
            return "bf16" if ref.dtype == "BF16" else "f16"
    return "f16"


def llama_file_type(outtype: str) -> int:
    """general.file_type for a resolved output type (the text GGUF's and the projector's)."""
    import gguf

    return {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "bf16": gguf.LlamaFileType.MOSTLY_BF16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }[outtype]


def _qtype_for(name: str, ref: TensorRef, outtype: str) -> gguf.GGMLQuantizationType:
    import gguf

    Q = gguf.GGMLQuantizationType
    if len(ref.shape) <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        return Q.F32
    kinds = {gguf.TENSOR_NAMES[gguf.MODEL_TENSOR[kind]].rsplit(".", 1)[-1] for kind in ALWAYS_F32}
    if name.removesuffix(".weight").rsplit(".", 1)[-1] in kinds:
        return Q.F32
    wanted = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0}[outtype]
    if wanted == Q.Q8_0 and ref.shape[-1] % gguf.GGML_QUANT_SIZES[Q.Q8_0][0] != 0:
        return Q.F16
    return wanted


def tensor_nbytes(shape: tuple[int, ...], qtype: gguf.GGMLQuantizationType) -> int:
    """The bytes a tensor of `shape` (numpy order) takes in GGUF as `qtype`."""
    import gguf

    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    n = 1
    for d in shape:
        n *= d
    return n // block_size * type_size


def build_plan(checkpoint: Checkpoint, arch: Architecture, outtype: str, *, quiet_left_out: bool = False) -> Plan:
    """Map every tensor to its GGUF name and type; an unknown tensor is an error, never dropped.

    What the architecture leaves out of the text model (a vision tower) is said in one line,
    unless `quiet_left_out`: the caller writes it to a file of its own (convert/projector.py).
    """
    import gguf

    config = checkpoint.config
    if arch.adapt_config is not None:
        config = arch.adapt_config(config, [ref.name for ref in checkpoint.tensors()])
    n_blocks = len(arch.blocks(config))
    name_map = gguf.get_tensor_name_map(arch.model_arch, n_blocks)
    outtype = resolve_outtype(outtype, checkpoint)
    n_head = int(config["num_attention_heads"])
    n_head_kv = int(config.get("num_key_value_heads") or n_head)
    planned: list[PlannedTensor] = []
    seen: set[str] = set()
    left_out: list[str] = []
    for item in stack_experts(checkpoint.tensors(), config):
        ref, pieces = (item.ref, item.pieces) if isinstance(item, Stacked) else (item, ())
        if ref.name.endswith(IGNORED_SUFFIXES):
            continue
        rewritten = Rewritten(ref.name) if arch.rewrite is None else arch.rewrite(ref, config)
        if rewritten is None:
            left_out.append(ref.name)
            continue
        pieces = rewritten.pieces or pieces
        # A name the architecture already gives in GGUF form is one gguf-py's map does not know yet.
        name = rewritten.name if _BLOCK.match(rewritten.name) else \
            name_map.get_name(rewritten.name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise UnsupportedError(f"tensor {ref.name} has no GGUF equivalent for {arch.hf_names[0]}")
        if name in seen:
            raise UnsupportedError(f"two checkpoint tensors map to {name}; the checkpoint is inconsistent")
        seen.add(name)
        permute = None
        if arch.permute_qk and ref.name.endswith("q_proj.weight"):
            permute = n_head
        elif arch.permute_qk and ref.name.endswith("k_proj.weight"):
            permute = n_head_kv
        qtype = _qtype_for(name, ref, outtype)
        planned.append(PlannedTensor(ref, name, qtype, tensor_nbytes(ref.shape, qtype), permute, pieces,
                                     rewritten.transform))
    if left_out and not quiet_left_out:
        log.warning("left out %d tensor(s) (%s, …): %s", len(left_out), left_out[0], arch.left_out)
    check_complete(planned, arch, arch.blocks(config))
    return Plan(arch, outtype, int(llama_file_type(outtype)), planned, config)


_BLOCK = re.compile(r"^blk\.(\d+)\.(.+)$")


def check_complete(planned: list[PlannedTensor], arch: Architecture, blocks: tuple[str, ...]) -> None:
    """Every tensor llama.cpp will ask for is there, or one line names the first one missing.

    A checkpoint that lost one layer's projection (a shard re-saved by hand, no index to
    notice) otherwise converts into a GGUF that llama.cpp refuses to load. Besides the
    architecture's own list for each block's kind (`blocks`, see Architecture.blocks), a
    tensor that any block of a kind has must be in every block of that kind.
    """
    import gguf

    have = {t.name for t in planned}
    # One example per block kind and tensor ("ffn_down.weight"), to show the checkpoint's own name for it.
    example: dict[str, PlannedTensor] = {}
    by_kind: dict[str, set[str]] = {kind: set() for kind in blocks}
    for t in planned:
        if (m := _BLOCK.match(t.name)) and int(m.group(1)) < len(blocks):
            example.setdefault(m.group(2), t)
            by_kind[blocks[int(m.group(1))]].add(m.group(2))
    for kind in by_kind:
        by_kind[kind] |= {gguf.TENSOR_NAMES[gguf.MODEL_TENSOR[k]].split(".", 2)[2] + ".weight"
                          for k in arch.tensors_of_kind(kind)}
    wanted = [gguf.TENSOR_NAMES[gguf.MODEL_TENSOR[k]] + ".weight" for k in GLOBAL_TENSORS]
    wanted += [f"blk.{bid}.{name}" for bid, kind in enumerate(blocks) for name in sorted(by_kind[kind])]
    missing = next((name for name in wanted if name not in have), None)
    if missing is None:
        return
    m = _BLOCK.match(missing)
    like = example.get(m.group(2)) if m else None
    hint = f" (block {_BLOCK.match(like.name).group(1)} has it as {like.source.name})" if like else ""
    raise UnsupportedError(f"the checkpoint has no tensor for {missing}{hint}: llama.cpp could not load the "
                           "result; the download is incomplete or a shard is missing")
