"""What a GGUF file is: architecture, size, hyperparameters, quant-type histogram, tokenizer facts.

Read with gguf-py's GGUFReader (memory-mapped, so a 20 GB file costs nothing to inspect),
with the tokenizer arrays stepped over by their declared lengths instead of decoded
(`engine/gguf_io.py`): a summary only needs their count.
`inspect`, `quantize`'s verification, `bench` and the memory estimate all start here, so a
file that is not GGUF or is cut short is reported once, in one line, from this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import Keys

from blossom_edge.engine.gguf_io import summary_reader_class
from blossom_edge.errors import CorruptFileError, NotFoundError

# The vocabulary-sized arrays a summary counts but never decodes.
_SKIP_ARRAYS = frozenset({Keys.Tokenizer.LIST, Keys.Tokenizer.SCORES, Keys.Tokenizer.TOKEN_TYPE,
                          Keys.Tokenizer.MERGES})
# Ours, not a GGUF key: where `metadata` records the length of the token list it leaves out.
TOKEN_COUNT_KEY = "tokenizer.ggml.vocab_size"


@dataclass
class TypeCount:
    """How many tensors, weights and bytes one tensor type accounts for."""

    tensors: int = 0
    elements: int = 0
    bytes: int = 0


@dataclass
class GGUFInfo:
    """A summary of one GGUF file; `metadata` holds every key except the big vocab arrays."""

    path: Path
    file_size: int
    architecture: str
    name: str | None
    n_params: int
    tensor_bytes: int
    types: dict[str, TypeCount]
    metadata: dict[str, Any]
    tensor_types: dict[str, str] = field(repr=False)

    def arch_key(self, key: str, default: Any = None) -> Any:
        """An architecture-scoped key, from its gguf.Keys template (`{arch}.block_count`) or its
        bare suffix (`block_count`): both → `qwen2.block_count`."""
        full = key.format(arch=self.architecture) if "{arch}" in key else f"{self.architecture}.{key}"
        return self.metadata.get(full, default)

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * self.tensor_bytes / self.n_params if self.n_params else 0.0

    @property
    def n_layer(self) -> int:
        return int(self.arch_key(Keys.LLM.BLOCK_COUNT, 0))

    @property
    def n_embd(self) -> int:
        return int(self.arch_key(Keys.LLM.EMBEDDING_LENGTH, 0))

    @property
    def n_head(self) -> int:
        return int(self.arch_key(Keys.Attention.HEAD_COUNT, 0))

    @property
    def n_head_kv(self) -> int:
        return int(self.arch_key(Keys.Attention.HEAD_COUNT_KV, self.n_head))

    @property
    def head_dim(self) -> int:
        """Per-head size of K and V; Qwen3 states it, older models derive it from the width."""
        explicit = self.arch_key(Keys.Attention.KEY_LENGTH)
        if explicit:
            return int(explicit)
        return self.n_embd // self.n_head if self.n_head else 0

    @property
    def context_length(self) -> int:
        return int(self.arch_key(Keys.LLM.CONTEXT_LENGTH, 0))

    @property
    def vocab_size(self) -> int:
        return int(self.metadata.get(TOKEN_COUNT_KEY) or self.arch_key(Keys.LLM.VOCAB_SIZE) or 0)

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get(Keys.Tokenizer.CHAT_TEMPLATE)

    def special_tokens(self) -> dict[str, int]:
        """bos/eos/unk/pad/… ids as llama.cpp will use them."""
        prefix, suffix = "tokenizer.ggml.", "_token_id"
        return {
            key[len(prefix):-len(suffix)]: int(value)
            for key, value in self.metadata.items()
            if key.startswith(prefix) and key.endswith(suffix)
        }

    def type_histogram(self) -> dict[str, int]:
        """Tensor counts per type, the figure llama-quantize prints at its end."""
        return {name: t.tensors for name, t in sorted(self.types.items())}

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
    from gguf import GGUFValueType

    value_type = reader_field.types[0] if reader_field.types else None
    if value_type == GGUFValueType.ARRAY:
        if reader_field.types[-1] == GGUFValueType.STRING:
            return [bytes(reader_field.parts[i]).decode("utf-8", "replace") for i in reader_field.data]
        return [reader_field.parts[i].tolist()[0] for i in reader_field.data]
    if value_type == GGUFValueType.STRING:
        return bytes(reader_field.parts[reader_field.data[0]]).decode("utf-8", "replace")
    return reader_field.parts[reader_field.data[0]].tolist()[0]


def read_gguf_info(path: Path | str) -> GGUFInfo:
    """Summarise a GGUF file, or raise one clear error if it is missing, not GGUF or truncated."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no such GGUF file: {path}")
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise CorruptFileError(f"{path} is not a GGUF file (bad magic)")
    try:
        reader = summary_reader_class(_SKIP_ARRAYS)(path)
    except Exception as exc:  # gguf-py raises ValueError/IndexError/OSError on damaged files alike
        raise CorruptFileError(f"{path} is damaged or truncated: {exc}") from exc
    file_size = path.stat().st_size
    metadata: dict[str, Any] = {}
    for key, reader_field in reader.fields.items():
        if not key.startswith("GGUF."):
            metadata[key] = _field_value(reader_field)
    types: dict[str, TypeCount] = {}
    tensor_types: dict[str, str] = {}
    n_params = tensor_bytes = 0
    if Keys.Tokenizer.LIST in reader.array_lengths:
        metadata[TOKEN_COUNT_KEY] = reader.array_lengths[Keys.Tokenizer.LIST]
    for tensor in reader.tensors:
        if tensor.data_offset + tensor.n_bytes > file_size:
            raise CorruptFileError(f"{path} is truncated: tensor {tensor.name} ends past the end of the file")
        type_name = tensor.tensor_type.name
        entry = types.setdefault(type_name, TypeCount())
        entry.tensors += 1
        entry.elements += int(tensor.n_elements)
        entry.bytes += int(tensor.n_bytes)
        tensor_types[tensor.name] = type_name
        n_params += int(tensor.n_elements)
        tensor_bytes += int(tensor.n_bytes)
    architecture = str(metadata.get(Keys.General.ARCHITECTURE, "unknown"))
    return GGUFInfo(
        path=path,
        file_size=file_size,
        architecture=architecture,
        name=metadata.get(Keys.General.NAME),
        n_params=n_params,
        tensor_bytes=tensor_bytes,
        types=types,
        metadata=metadata,
        tensor_types=tensor_types,
    )


def inspect_report(path: Path, n_ctx: int) -> dict[str, Any]:
    """`inspect`'s report as plain data (the summary and the RAM estimate at `n_ctx`); table and --json render it."""
    from blossom_edge.memory import estimate
    from blossom_edge.shape import ModelShape

    info = read_gguf_info(path)
    data = info.to_dict()
    data["quantization_version"] = info.metadata.get(Keys.General.QUANTIZATION_VERSION)
    data["file_type"] = info.metadata.get(Keys.General.FILE_TYPE)
    data["memory"] = {"n_ctx": n_ctx, **estimate(ModelShape.from_gguf(info), n_ctx).to_dict()}
    return data
