"""What a GGUF file is: architecture, size, hyperparameters, quant-type histogram, tokenizer facts.

Read with gguf-py's GGUFReader (memory-mapped, so a 20 GB file costs nothing to inspect),
with the tokenizer arrays stepped over by their declared lengths instead of decoded
(`engine/gguf_io.py`): a summary only needs their count.
`inspect`, `quantize`'s verification, `bench` and the memory estimate all start here, so a
file that is not GGUF or is cut short is reported once, in one line, from this module.

Every count and length in the header is checked first (`gguf_check.py`), so gguf-py never
allocates for what a hostile file merely declares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, Keys

from blossom_edge.base.errors import CorruptFileError, excerpt
from blossom_edge.engine.gguf_io import summary_reader_class
from blossom_edge.inputs.gguf_check import MAX_COUNT, check_gguf, require_gguf_file
from blossom_edge.model.shape import F32_BYTES, ModelShape

# The vocabulary-sized arrays a summary counts but never decodes (the charsmap, a few hundred
# thousand bytes in T5-style tokenizers, is one view per byte in gguf-py).
_SKIP_ARRAYS = frozenset({Keys.Tokenizer.LIST, Keys.Tokenizer.SCORES, Keys.Tokenizer.TOKEN_TYPE,
                          Keys.Tokenizer.MERGES, Keys.Tokenizer.PRECOMPILED_CHARSMAP})
# Ours, not a GGUF key: where `metadata` records the length of the token list it leaves out.
TOKEN_COUNT_KEY = "tokenizer.ggml.vocab_size"

# Architecture keys that hold a count; `GGUFInfo.arch_key` returns them checked.
_COUNT_KEYS = frozenset({
    Keys.LLM.BLOCK_COUNT, Keys.LLM.EMBEDDING_LENGTH, Keys.LLM.CONTEXT_LENGTH, Keys.LLM.VOCAB_SIZE,
    Keys.LLM.FEED_FORWARD_LENGTH, Keys.Attention.HEAD_COUNT, Keys.Attention.HEAD_COUNT_KV,
    Keys.Attention.KEY_LENGTH, Keys.Attention.VALUE_LENGTH,
    Keys.LLM.EXPERT_COUNT, Keys.LLM.EXPERT_USED_COUNT, Keys.LLM.FULL_ATTENTION_INTERVAL,
    Keys.SSM.CONV_KERNEL, Keys.SSM.INNER_SIZE, Keys.SSM.STATE_SIZE, Keys.SSM.GROUP_COUNT,
    Keys.SSM.TIME_STEP_RANK, Keys.LLM.NEXTN_PREDICT_LAYERS,
})
# Routed experts are stacked into tensors named `blk.N.ffn_{gate,up,down,gate_up}_exps.weight`.
EXPERT_TENSOR_MARK = "_exps."


@dataclass
class TypeCount:
    """How many tensors, weights and bytes one tensor type accounts for."""

    tensors: int = 0
    elements: int = 0
    bytes: int = 0


@dataclass
class GGUFInfo:
    """A summary of one GGUF file; `metadata` holds every key except the big vocab arrays.

    The accessors check the type of what they read, so a key of the wrong type is one
    CorruptFileError naming it wherever it is first used, not a ValueError in a caller.
    """

    path: Path
    file_size: int
    architecture: str
    name: str | None
    n_params: int
    tensor_bytes: int
    types: dict[str, TypeCount]
    metadata: dict[str, Any]
    tensor_types: dict[str, str] = field(repr=False)
    # Bytes of the routed-expert tensors: all held in RAM, only the active ones read per token.
    expert_bytes: int = 0

    def arch_key(self, key: str, default: Any = None) -> Any:
        """An architecture-scoped key, from its gguf.Keys template (`{arch}.block_count`) or its
        bare suffix (`block_count`): both → `qwen2.block_count`. Counts (layers, widths, heads,
        context, vocabulary) come back as checked ints."""
        template = key if "{arch}" in key else f"{{arch}}.{key}"
        full = template.format(arch=self.architecture)
        if full not in self.metadata:
            return default
        value = self.metadata[full]
        return self._count(full, value) if template in _COUNT_KEYS else value

    def _count(self, key: str, value: Any) -> int:
        """`value` if it is a whole number llama.cpp can hold, else the error that names `key`."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
            return value
        raise CorruptFileError(f"{self.path}: {key} must be a whole number from 0 to {MAX_COUNT}, "
                               f"found {type(value).__name__} {excerpt(value)}")

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * self.tensor_bytes / self.n_params if self.n_params else 0.0

    @property
    def n_layer(self) -> int:
        return self.arch_key(Keys.LLM.BLOCK_COUNT, 0)

    @property
    def n_embd(self) -> int:
        return self.arch_key(Keys.LLM.EMBEDDING_LENGTH, 0)

    @property
    def n_head(self) -> int:
        return self.arch_key(Keys.Attention.HEAD_COUNT, 0)

    @property
    def n_head_kv(self) -> int:
        return self.arch_key(Keys.Attention.HEAD_COUNT_KV, self.n_head)

    @property
    def head_dim(self) -> int:
        """Per-head size of K and V; Qwen3 states it, older models derive it from the width."""
        explicit = self.arch_key(Keys.Attention.KEY_LENGTH)
        if explicit:
            return explicit
        return self.n_embd // self.n_head if self.n_head else 0

    @property
    def context_length(self) -> int:
        return self.arch_key(Keys.LLM.CONTEXT_LENGTH, 0)

    @property
    def vocab_size(self) -> int:
        counted = self.metadata.get(TOKEN_COUNT_KEY)
        listed = self._count(TOKEN_COUNT_KEY, counted) if counted is not None else 0
        return listed or self.arch_key(Keys.LLM.VOCAB_SIZE) or 0

    @property
    def chat_template(self) -> str | None:
        template = self.metadata.get(Keys.Tokenizer.CHAT_TEMPLATE)
        if template is not None and not isinstance(template, str):
            raise CorruptFileError(f"{self.path}: {Keys.Tokenizer.CHAT_TEMPLATE} must be a string, "
                                   f"found {type(template).__name__} {excerpt(template)}")
        return template

    def special_tokens(self) -> dict[str, int]:
        """bos/eos/unk/pad/… ids as llama.cpp will use them."""
        prefix, suffix = "tokenizer.ggml.", "_token_id"
        return {
            key[len(prefix):-len(suffix)]: self._count(key, value)
            for key, value in self.metadata.items()
            if key.startswith(prefix) and key.endswith(suffix)
        }

    @property
    def mtp_layers(self) -> int:
        """Multi-token-prediction (nextn) layers a runtime may draft with: `{arch}.nextn_predict_layers`,
        or for Qwen3.5 files written before that key, one per `mtp.` layer tensor group (Ollama reads
        both, llm/llama_server.go hasMTPDraft)."""
        declared = int(self.arch_key(Keys.LLM.NEXTN_PREDICT_LAYERS, 0) or 0)
        if declared or self.architecture not in ("qwen35", "qwen35moe"):
            return declared
        return 1 if any(name.startswith("mtp.") for name in self.tensor_types) else 0

    def type_histogram(self) -> dict[str, int]:
        """Tensor counts per type, the figure llama-quantize prints at its end."""
        return {name: t.tensors for name, t in sorted(self.types.items())}

    def model_shape(self) -> ModelShape:
        """The dimensions memory and speed estimates need, read from this file (what `fit` takes from the catalog)."""
        embd_only = 0
        embd_type = self.tensor_types.get("token_embd.weight")
        if embd_type and "output.weight" in self.tensor_types:
            block, size = GGML_QUANT_SIZES[GGMLQuantizationType[embd_type]]
            embd_only = self.vocab_size * self.n_embd * size // block
        recurrent, state = _recurrent_layers(self)
        return ModelShape(
            n_layer=self.n_layer,
            n_embd=self.n_embd,
            n_head_kv=self.n_head_kv,
            head_dim=self.head_dim,
            n_vocab=self.vocab_size,
            n_ff=int(self.arch_key(Keys.LLM.FEED_FORWARD_LENGTH, 4 * self.n_embd) or 0),
            weight_bytes=self.tensor_bytes,
            embd_only_bytes=embd_only,
            n_expert=int(self.arch_key(Keys.LLM.EXPERT_COUNT, 0) or 0),
            n_expert_used=int(self.arch_key(Keys.LLM.EXPERT_USED_COUNT, 0) or 0),
            expert_share=self.expert_bytes / self.tensor_bytes if self.tensor_bytes else 0.0,
            n_recurrent_layers=recurrent,
            recurrent_state_bytes=state,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "file_size": self.file_size,
            "architecture": self.architecture,
            "name": self.name,
            "n_params": self.n_params,
            "bits_per_weight": round(self.bits_per_weight, 4),
            "context_length": self.context_length,
            "n_layer": self.n_layer,
            "n_embd": self.n_embd,
            "n_head": self.n_head,
            "n_head_kv": self.n_head_kv,
            "vocab_size": self.vocab_size,
            "types": {k: vars(v) for k, v in sorted(self.types.items())},
            "special_tokens": self.special_tokens(),
            "chat_template": self.chat_template,
        }


def _field_value(reader_field: Any) -> Any:
    """Decode a scalar, string or small array field into plain Python values."""

    value_type = reader_field.types[0] if reader_field.types else None
    if value_type == GGUFValueType.ARRAY:
        if reader_field.types[-1] == GGUFValueType.STRING:
            return [bytes(reader_field.parts[i]).decode("utf-8", "replace") for i in reader_field.data]
        return [reader_field.parts[i].tolist()[0] for i in reader_field.data]
    if value_type == GGUFValueType.STRING:
        return bytes(reader_field.parts[reader_field.data[0]]).decode("utf-8", "replace")
    return reader_field.parts[reader_field.data[0]].tolist()[0]


def _text_key(path: Path, metadata: dict[str, Any], key: str, default: str | None) -> str | None:
    """A `general.*` string, or the error naming the key when the file holds something else there."""
    value = metadata.get(key, default)
    if value is not None and not isinstance(value, str):
        raise CorruptFileError(f"{path}: {key} must be a string, found {type(value).__name__} {excerpt(value)}")
    return value


def read_gguf_info(path: Path | str) -> GGUFInfo:
    """Summarise a GGUF file, or raise one clear error if it is missing, not GGUF, truncated or hostile."""
    path = Path(path)
    require_gguf_file(path)
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise CorruptFileError(f"{path} is not a GGUF file (bad magic)")
    spans = check_gguf(path, count_only=_SKIP_ARRAYS)
    try:
        reader = summary_reader_class()(path, {key: span.end for key, span in spans.items()})
    except (ValueError, IndexError, KeyError, OSError) as exc:  # what the check above cannot see, e.g. I/O
        raise CorruptFileError(f"{path} is damaged: {excerpt(str(exc))}") from exc
    metadata: dict[str, Any] = {}
    for key, reader_field in reader.fields.items():
        if not key.startswith("GGUF."):
            metadata[key] = _field_value(reader_field)
    if Keys.Tokenizer.LIST in spans:
        metadata[TOKEN_COUNT_KEY] = spans[Keys.Tokenizer.LIST].count
    types: dict[str, TypeCount] = {}
    tensor_types: dict[str, str] = {}
    n_params = tensor_bytes = expert_bytes = 0
    for tensor in reader.tensors:
        type_name = tensor.tensor_type.name
        entry = types.setdefault(type_name, TypeCount())
        entry.tensors += 1
        entry.elements += int(tensor.n_elements)
        entry.bytes += int(tensor.n_bytes)
        tensor_types[tensor.name] = type_name
        n_params += int(tensor.n_elements)
        tensor_bytes += int(tensor.n_bytes)
        if EXPERT_TENSOR_MARK in tensor.name:
            expert_bytes += int(tensor.n_bytes)
    return GGUFInfo(
        path=path,
        file_size=path.stat().st_size,
        architecture=_text_key(path, metadata, Keys.General.ARCHITECTURE, "unknown"),
        name=_text_key(path, metadata, Keys.General.NAME, None),
        n_params=n_params,
        tensor_bytes=tensor_bytes,
        types=types,
        metadata=metadata,
        tensor_types=tensor_types,
        expert_bytes=expert_bytes,
    )


# Qwen3.5 puts full attention on every fourth layer when the file does not list them.
_DEFAULT_FULL_ATTENTION_INTERVAL = 4


def _recurrent_layers(info: GGUFInfo) -> tuple[int, int]:
    """(linear-attention layers, f32 state bytes each), as llama.cpp's qwen35 loader decides them.

    Its conv state is (kernel - 1) × (inner + 2 × groups × state) and its delta-net state
    state × inner, per layer and sequence (llama_hparams::n_embd_r / n_embd_s).
    """
    inner = info.arch_key(Keys.SSM.INNER_SIZE, 0)
    if not inner:
        return 0, 0
    flags = info.metadata.get(f"{info.architecture}.attention.recurrent_layers")
    if isinstance(flags, list):
        count = sum(bool(f) for f in flags[: info.n_layer])
    else:
        interval = info.arch_key(Keys.LLM.FULL_ATTENTION_INTERVAL, 0) or _DEFAULT_FULL_ATTENTION_INTERVAL
        count = sum((i + 1) % interval != 0 for i in range(info.n_layer))
    d_state, groups = info.arch_key(Keys.SSM.STATE_SIZE, 0), info.arch_key(Keys.SSM.GROUP_COUNT, 0)
    kernel = info.arch_key(Keys.SSM.CONV_KERNEL, 0)
    conv = max(kernel - 1, 0) * (inner + 2 * groups * d_state)
    return count, F32_BYTES * (conv + d_state * inner)
