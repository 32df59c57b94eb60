"""Mixture-of-experts tensors: which checkpoint tensors form one stacked GGUF tensor, in which order.

A checkpoint keeps a layer's experts apart (`mlp.experts.7.up_proj.weight`, one per expert)
or fused (`mlp.experts.gate_up_proj`, [E, 2F, H] with gate rows before up rows in each
expert); GGUF wants one 3-D tensor per projection, [E, F, H] in numpy order, experts in
index order. llama.cpp's converter builds that tensor in memory (`torch.stack`), so its
peak grows with the expert count. Here a stacked tensor is only a list of `Piece`s: runs
of whole rows of the stored tensors, in output order, each one contiguous bytes in its
shard. `convert/stream.py` converts or copies them one after another at computed offsets,
so no more than a chunk of any expert is ever in memory and a layer's experts may span
shards. Both layouts produce the names gguf-py's TensorNameMap knows
(`model.layers.N.mlp.experts.gate_proj.weight` → `blk.N.ffn_gate_exps.weight`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from blossom_edge.base.errors import CorruptFileError, UnsupportedError, excerpt
from blossom_edge.inputs.checkpoint import DTYPE_SIZES, TensorRef

if TYPE_CHECKING:
    import gguf

# config.json spellings of the expert count (transformers 5 writes num_local_experts, the
# hub's Qwen checkpoints num_experts) and of the experts used per token, in llama.cpp's order.
EXPERT_COUNT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")
EXPERT_USED_KEYS = ("num_experts_per_tok", "num_experts_per_token", "top_k_experts")
# Projections stored one tensor per expert, and the fused forms (gate+up splits in two).
PROJECTIONS = ("gate_proj", "up_proj", "down_proj")
FUSED_PROJECTIONS = ("gate_up_proj", "down_proj")
_PER_EXPERT = re.compile(rf"^(?P<prefix>.+\.experts)\.(?P<expert>\d+)\.(?P<proj>{'|'.join(PROJECTIONS)})\.weight$")
_FUSED = re.compile(rf"^(?P<prefix>.+\.experts)\.(?P<proj>{'|'.join(FUSED_PROJECTIONS)})(?:\.weight)?$")


@dataclass(frozen=True)
class Piece:
    """Rows `row` … `row + rows` of a stored tensor (a row is a vector along its last axis).

    Whole rows of a row-major tensor are contiguous, so a piece is one byte range of one shard:
    what `copy_file_range` moves as is, or what is read a chunk of rows at a time to convert.
    """

    ref: TensorRef
    row: int
    rows: int

    @property
    def row_len(self) -> int:
        return self.ref.shape[-1] if len(self.ref.shape) >= 2 else self.ref.n_elements

    @property
    def offset(self) -> int:
        return self.ref.offset + self.row * self.row_len * DTYPE_SIZES[self.ref.dtype]

    @property
    def nbytes(self) -> int:
        return self.rows * self.row_len * DTYPE_SIZES[self.ref.dtype]


def whole(ref: TensorRef) -> Piece:
    """A stored tensor as one piece: all of its rows."""
    n_rows = ref.n_elements // ref.shape[-1] if len(ref.shape) >= 2 and ref.shape[-1] else 1
    return Piece(ref, 0, n_rows)


@dataclass(frozen=True)
class Stacked:
    """One stacked expert tensor: a name TensorNameMap maps, its [E, rows, cols] shape, its pieces.

    `ref` describes the tensor that would exist if the experts were stacked in memory (name,
    dtype, shape); its bytes are the pieces', in order, and nothing reads `ref.offset`.
    """

    ref: TensorRef
    pieces: tuple[Piece, ...]


def expert_count(config: dict) -> int | None:
    """The number of experts per layer the config declares (0 or None: a dense model)."""
    return _config_int(config, EXPERT_COUNT_KEYS)


def experts_used(config: dict) -> int | None:
    """How many experts each token is routed to."""
    return _config_int(config, EXPERT_USED_KEYS)


def _config_int(config: dict, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1 << 16:
            raise CorruptFileError(f"config.json: {key} must be a whole number from 0 to {1 << 16}, "
                                   f"not {excerpt(value)}")
        return value
    return None


def _stacked_ref(name: str, first: TensorRef, shape: tuple[int, ...]) -> TensorRef:
    n = 1
    for d in shape:
        n *= d
    return TensorRef(name, first.dtype, shape, first.shard, first.offset, n * DTYPE_SIZES[first.dtype])


def _same_kind(members: list[TensorRef], what: str) -> None:
    first = members[0]
    for ref in members[1:]:
        if (ref.dtype, ref.shape) != (first.dtype, first.shape):
            raise UnsupportedError(f"{what}: {ref.name} is {ref.dtype} {list(ref.shape)} but {first.name} is "
                                   f"{first.dtype} {list(first.shape)}; the experts of a layer must match")


def _per_expert(prefix: str, proj: str, by_expert: dict[int, TensorRef], n_experts: int) -> Stacked:
    """Experts stored one tensor each: stacked in expert order, each expert one piece."""
    what = f"{prefix}.*.{proj}"
    missing = next((e for e in range(n_experts) if e not in by_expert), None)
    if missing is not None:
        raise UnsupportedError(f"the checkpoint has no tensor {prefix}.{missing}.{proj}.weight (config.json declares "
                               f"{n_experts} experts): the download is incomplete or a shard is missing")
    extra = sorted(e for e in by_expert if e >= n_experts)
    if extra:
        raise UnsupportedError(f"{prefix}.{extra[0]}.{proj}.weight is expert {extra[0]}, but config.json declares "
                               f"{n_experts} experts")
    members = [by_expert[e] for e in range(n_experts)]
    _same_kind(members, what)
    if len(members[0].shape) != 2:
        raise UnsupportedError(f"{members[0].name} has shape {list(members[0].shape)}; an expert's projection is 2-D")
    shape = (n_experts, *members[0].shape)
    return Stacked(_stacked_ref(f"{prefix}.{proj}.weight", members[0], shape), tuple(whole(m) for m in members))


def split_gate_up(prefix: str, ref: TensorRef) -> list[Stacked]:
    """A fused [E, 2F, H] gate_up_proj as two stacked tensors: gate (rows 0…F of each expert), then up.

    llama.cpp's converter splits it on dim -2 the same way (Qwen2MoeModel.modify_tensors).
    """
    if len(ref.shape) != 3 or ref.shape[1] % 2:
        raise UnsupportedError(f"{ref.name} has shape {list(ref.shape)}; a fused gate_up_proj is "
                               "[experts, 2 × feed-forward, hidden]")
    n_experts, two_ff, _ = ref.shape
    ff = two_ff // 2
    shape = (n_experts, ff, ref.shape[2])
    return [Stacked(_stacked_ref(f"{prefix}.{proj}.weight", ref, shape),
                    tuple(Piece(ref, e * two_ff + half * ff, ff) for e in range(n_experts)))
            for half, proj in enumerate(("gate_proj", "up_proj"))]


def _fused(prefix: str, proj: str, ref: TensorRef, n_experts: int) -> list[Stacked]:
    if len(ref.shape) != 3 or ref.shape[0] != n_experts:
        raise UnsupportedError(f"{ref.name} has shape {list(ref.shape)}; config.json declares {n_experts} experts, "
                               "so it must be [experts, rows, columns]")
    if proj == "gate_up_proj":
        return split_gate_up(prefix, ref)
    return [Stacked(_stacked_ref(f"{prefix}.{proj}.weight", ref, ref.shape), (whole(ref),))]


def stack_experts(refs: Iterable[TensorRef], config: dict) -> list[TensorRef | Stacked]:
    """The checkpoint's tensors with every layer's expert tensors replaced by stacked ones.

    A stacked tensor takes the place of its layer's first expert tensor, so the output keeps
    the checkpoint's order. A dense model (no expert count in config.json) passes through.
    """
    refs = list(refs)
    n_experts = expert_count(config)
    if not n_experts:
        return refs
    out: list[TensorRef | Stacked | tuple[str, str]] = []
    per_expert: dict[tuple[str, str], dict[int, TensorRef]] = {}
    for ref in refs:
        if m := _PER_EXPERT.match(ref.name):
            key = (m["prefix"], m["proj"])
            if key not in per_expert:
                per_expert[key] = {}
                out.append(key)
            per_expert[key][int(m["expert"])] = ref
        elif m := _FUSED.match(ref.name):
            out.extend(_fused(m["prefix"], m["proj"], ref, n_experts))
        else:
            out.append(ref)
    return [_per_expert(*item, per_expert[item], n_experts) if isinstance(item, tuple) else item for item in out]


def write_moe_hparams(config: dict, writer: gguf.GGUFWriter) -> None:
    """The expert sizes llama.cpp reads beside the counts (which the common keys write)."""
    if (n_ff_exp := config.get("moe_intermediate_size")) is not None:
        writer.add_expert_feed_forward_length(int(n_ff_exp))
    if (n_ff_shexp := config.get("shared_expert_intermediate_size")) is not None:
        writer.add_expert_shared_feed_forward_length(int(n_ff_shexp))
