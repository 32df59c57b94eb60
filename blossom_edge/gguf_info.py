"""What a GGUF file is: architecture, size, hyperparameters, quant-type histogram, tokenizer facts.

Read with gguf-py's GGUFReader (memory-mapped, so a 20 GB file costs nothing to inspect),
subclassed so the tokenizer arrays are stepped over by their declared lengths instead of
decoded: gguf-py builds numpy views for every one of 150k token strings and merges, which
took seconds per read on a Qwen-sized vocabulary, and a summary only needs their count.
`inspect`, `quantize`'s verification, `bench` and the memory estimate all start here, so a
file that is not GGUF or is cut short is reported once, in one line, from this module.
"""

from __future__ import annotations

import functools
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blossom_edge.errors import CorruptFileError, NotFoundError

_SKIP_ARRAYS = frozenset({"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                          "tokenizer.ggml.merges"})


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
        """An architecture-scoped key such as `block_count` → `qwen2.block_count`."""
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * self.tensor_bytes / self.n_params if self.n_params else 0.0

    @property
    def n_layer(self) -> int:
        return int(self.arch_key("block_count", 0))

    @property
    def n_embd(self) -> int:
        return int(self.arch_key("embedding_length", 0))

    @property
    def n_head(self) -> int:
        return int(self.arch_key("attention.head_count", 0))

    @property
    def n_head_kv(self) -> int:
        return int(self.arch_key("attention.head_count_kv", self.n_head))

    @property
    def head_dim(self) -> int:
        """Per-head size of K and V; Qwen3 states it, older models derive it from the width."""
        explicit = self.arch_key("attention.key_length")
        if explicit:
            return int(explicit)
        return self.n_embd // self.n_head if self.n_head else 0

    @property
    def context_length(self) -> int:
        return int(self.arch_key("context_length", 0))

    @property
    def vocab_size(self) -> int:
        return int(self.metadata.get("tokenizer.ggml.vocab_size") or self.arch_key("vocab_size") or 0)

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get("tokenizer.chat_template")

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


@functools.cache
def _summary_reader_class() -> type:
    """GGUFReader that records only the element count of the `_SKIP_ARRAYS` fields.

    Built lazily so importing this module does not import gguf-py (and numpy) for commands that
    never open a GGUF. It overrides gguf-py's private `_build_fields`, pinned by the test that
    compares it with the stock reader on real vocabulary files.
    """
    import numpy as np
    from gguf import GGUFReader, GGUFValueType
    from gguf.gguf_reader import ReaderField

    class SummaryReader(GGUFReader):
        """Skipped arrays are absent from `fields`; their lengths are in `array_lengths`."""

        def __init__(self, path: Path) -> None:
            self.array_lengths: dict[str, int] = {}
            super().__init__(path)

        def _skip_value(self, buf: memoryview, offs: int, value_type: int) -> int:
            """Offset just past one value of `value_type` at `offs`, reading lengths only."""
            order = "<" if (sys.byteorder == "little") == (self.byte_order == "I") else ">"
            gtype = GGUFValueType(value_type)
            if gtype == GGUFValueType.STRING:
                return offs + 8 + struct.unpack_from(order + "Q", buf, offs)[0]
            scalar = self.gguf_scalar_to_np.get(gtype)
            if scalar is not None:
                return offs + scalar().itemsize
            if gtype != GGUFValueType.ARRAY:
                raise ValueError(f"Unknown/unhandled field type {gtype}")
            item_type, count = struct.unpack_from(order + "IQ", buf, offs)
            offs += 12
            item_scalar = self.gguf_scalar_to_np.get(GGUFValueType(item_type))
            if item_scalar is not None:
                return offs + count * item_scalar().itemsize
            if item_type == GGUFValueType.STRING:  # the common big case, kept to one tight loop
                length = struct.Struct(order + "Q").unpack_from
                for _ in range(count):
                    offs += 8 + length(buf, offs)[0]
                return offs
            for _ in range(count):
                offs = self._skip_value(buf, offs, item_type)
            return offs

        def _build_fields(self, offs: int, count: int) -> int:
            buf = memoryview(self.data)
            for _ in range(count):
                orig_offs = offs
                kv_klen, kv_kdata = self._get_str(offs)
                offs += int(kv_klen.nbytes + kv_kdata.nbytes)
                raw_kv_type = self._get(offs, np.uint32)
                offs += int(raw_kv_type.nbytes)
                key = str(bytes(kv_kdata), encoding="utf-8")
                if key in _SKIP_ARRAYS:
                    if key in self.array_lengths:
                        raise KeyError(f"Duplicate {key} already in list")
                    end = self._skip_value(buf, offs, int(raw_kv_type[0]))
                    is_array = raw_kv_type[0] == GGUFValueType.ARRAY
                    self.array_lengths[key] = int(self._get(offs + 4, np.uint64)[0]) if is_array else 1
                    offs = end
                    continue
                parts: list[Any] = [kv_klen, kv_kdata, raw_kv_type]
                size, field_parts, field_idxs, field_types = self._get_field_parts(offs, raw_kv_type[0])
                self._push_field(ReaderField(orig_offs, key, parts + field_parts,
                                             [i + len(parts) for i in field_idxs], field_types), skip_sum=True)
                offs += size
            return offs

    return SummaryReader


def read_gguf_info(path: Path | str) -> GGUFInfo:
    """Summarise a GGUF file, or raise one clear error if it is missing, not GGUF or truncated."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no such GGUF file: {path}")
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise CorruptFileError(f"{path} is not a GGUF file (bad magic)")
    try:
        reader = _summary_reader_class()(path)
    except Exception as exc:  # gguf-py raises ValueError/IndexError/OSError on damaged files alike
        raise CorruptFileError(f"{path} is damaged or truncated: {exc}") from exc
    file_size = path.stat().st_size
    metadata: dict[str, Any] = {}
    for key, reader_field in reader.fields.items():
        if not key.startswith("GGUF."):
            metadata[key] = _field_value(reader_field)
    if "tokenizer.ggml.tokens" in reader.array_lengths:
        metadata["tokenizer.ggml.vocab_size"] = reader.array_lengths["tokenizer.ggml.tokens"]
    types: dict[str, TypeCount] = {}
    tensor_types: dict[str, str] = {}
    n_params = tensor_bytes = 0
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
    architecture = str(metadata.get("general.architecture", "unknown"))
    return GGUFInfo(
        path=path,
        file_size=file_size,
        architecture=architecture,
        name=metadata.get("general.name"),
        n_params=n_params,
        tensor_bytes=tensor_bytes,
        types=types,
        metadata=metadata,
        tensor_types=tensor_types,
    )
