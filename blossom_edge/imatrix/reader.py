"""Importance-matrix files as llama-quantize reads them: llama.cpp's GGUF format or the legacy .dat.

The loader lives in llama.cpp's tool, not in the library we call, so it is done here, with
gguf-py for the GGUF format and numpy for the legacy one. Both check every count and length
against the bytes that remain before looping or allocating (a GGUF header through
`gguf_check.check_gguf`), so a damaged or hostile file is one CorruptFileError, in linear
time and memory no larger than the file.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from blossom_edge.base.errors import CorruptFileError, excerpt
from blossom_edge.inputs.gguf_check import check_gguf

_KIND = "importance matrix"
# A legacy entry is at least a name length, one name byte, a call count and a value count.
_MIN_LEGACY_ENTRY = 4 + 1 + 4 + 4


def load_imatrix(path: Path) -> dict[str, Any]:
    """`entries` (tensor name → float32 importance, normalised as llama-quantize does), `file`,
    `chunks` and `dataset`."""
    with path.open("rb") as fh:
        magic = fh.read(4)
    meta: dict[str, Any] = {"file": str(path), "chunks": 0, "dataset": None}
    entries = _load_gguf(path, meta) if magic == b"GGUF" else _load_legacy(path)
    if not entries:
        raise CorruptFileError(f"{_KIND} {path} has no entries")
    meta["entries"] = entries
    return meta


def _load_gguf(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Entries from llama.cpp's GGUF format (`<name>.in_sum2` and `<name>.counts` per tensor); fills `meta`."""
    from gguf import GGUFReader

    check_gguf(path, what=_KIND)
    try:
        reader = GGUFReader(path)
    except (ValueError, IndexError, KeyError, OSError) as exc:  # what the check cannot see, e.g. I/O
        raise CorruptFileError(f"{_KIND} {path} is not readable: {excerpt(str(exc))}") from exc
    sums = {t.name[: -len(".in_sum2")]: t for t in reader.tensors if t.name.endswith(".in_sum2")}
    counts = {t.name[: -len(".counts")]: t for t in reader.tensors if t.name.endswith(".counts")}
    unpaired = sums.keys() ^ counts.keys()
    if unpaired:
        raise CorruptFileError(f"{_KIND} {path}: {excerpt(min(unpaired))} has in_sum2 or counts but not both")
    meta["chunks"] = _chunk_count(path, reader.fields.get("imatrix.chunk_count"))
    meta["dataset"] = _dataset(path, reader.fields.get("imatrix.datasets"))
    return {name: _normalised(path, name, tensor, counts[name]) for name, tensor in sums.items()}


def _normalised(path: Path, name: str, sums: Any, counts: Any) -> Any:
    """Per-row mean squared activations, as llama-quantize divides them; 1 where nothing was counted."""
    import numpy as np
    from gguf import GGMLQuantizationType

    if sums.tensor_type != GGMLQuantizationType.F32 or counts.tensor_type != GGMLQuantizationType.F32:
        raise CorruptFileError(f"{_KIND} {path}: {excerpt(name)} is stored as {sums.tensor_type.name} and "
                               f"{counts.tensor_type.name}, not F32")
    s = np.asarray(sums.data, dtype=np.float32).reshape(-1)
    c = np.asarray(counts.data, dtype=np.float32).reshape(-1)
    if not c.size or not s.size or s.size % c.size:
        raise CorruptFileError(f"{_KIND} {path}: {excerpt(name)} has {s.size} in_sum2 values for {c.size} counts, "
                               "not a whole number per count")
    per = s.reshape(len(c), -1)
    with np.errstate(all="ignore"):  # NaN, inf or overflow: refused below, not a warning on stderr
        out = np.where(c[:, None] > 0, per / np.where(c[:, None] > 0, c[:, None], 1), 1.0)
    return _importance(path, name, out.reshape(-1).astype(np.float32))


def _importance(path: Path, name: str, values: Any) -> Any:
    """`values` if importance can be them (a mean of squares: finite, non-negative), else the error naming the entry."""
    import numpy as np

    with np.errstate(invalid="ignore"):
        plausible = bool(np.isfinite(values).all() and (values >= 0).all())
    if not plausible:
        raise CorruptFileError(f"{_KIND} {path}: {excerpt(name)} holds negative, infinite or NaN importance")
    return values


def _chunk_count(path: Path, field: Any) -> int:
    """How many chunks llama-imatrix averaged; it goes into the output's metadata, so it must be a count."""
    from gguf import GGUFValueType

    if field is None:
        return 0
    integer_types = {GGUFValueType.UINT8, GGUFValueType.UINT16, GGUFValueType.UINT32, GGUFValueType.UINT64,
                     GGUFValueType.INT8, GGUFValueType.INT16, GGUFValueType.INT32, GGUFValueType.INT64}
    value = field.contents() if len(field.types) == 1 and field.types[0] in integer_types else -1
    if value < 0:
        raise CorruptFileError(f"{_KIND} {path}: imatrix.chunk_count must be a non-negative integer")
    return int(value)


def _dataset(path: Path, field: Any) -> str | None:
    """The first dataset named, whether the file stores one string or an array of them."""
    from gguf import GGUFValueType

    if field is None:
        return None
    if field.types not in ([GGUFValueType.STRING], [GGUFValueType.ARRAY, GGUFValueType.STRING],
                           [GGUFValueType.ARRAY]):
        raise CorruptFileError(f"{_KIND} {path}: imatrix.datasets must be a string or an array of strings")
    return bytes(field.parts[field.data[0]]).decode("utf-8", "replace") if field.data else None


class _Cursor:
    """Reads the legacy format front to back, refusing any length the remaining bytes cannot hold."""

    def __init__(self, raw: bytes, path: Path) -> None:
        self.raw, self.path, self.pos = raw, path, 0

    def fail(self, problem: str) -> CorruptFileError:
        return CorruptFileError(f"{_KIND} {self.path} (GGUF or legacy .dat): {problem}")

    def left(self) -> int:
        return len(self.raw) - self.pos

    def take(self, n: int, what: str) -> int:
        if n > self.left():
            raise self.fail(f"truncated: {what} needs {n} bytes at offset {self.pos}, only {self.left()} remain")
        self.pos += n
        return self.pos - n

    def int32(self, what: str) -> int:
        return struct.unpack_from("<i", self.raw, self.take(4, what))[0]

    def count(self, what: str, item_bytes: int) -> int:
        """A count that must be non-negative and fit, `item_bytes` each, in what is left."""
        value = self.int32(what)
        if not 0 <= value <= self.left() // item_bytes:
            raise self.fail(f"{what} is {value}; the {self.left()} bytes left hold at most "
                            f"{self.left() // item_bytes}")
        return value


def _load_legacy(path: Path) -> dict[str, Any]:
    """Entries from the legacy .dat: int32 count, then per entry a name, call count and float32 values."""
    import numpy as np

    cursor = _Cursor(path.read_bytes(), path)
    entries: dict[str, Any] = {}
    for _ in range(cursor.count("entry count", _MIN_LEGACY_ENTRY)):
        raw_name = cursor.raw[cursor.take(cursor.count("name length", 1), "name"):cursor.pos]
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise cursor.fail(f"entry name {excerpt(raw_name)} is not UTF-8") from exc
        if not name:
            raise cursor.fail(f"entry {len(entries)} has an empty name")
        if name in entries:
            raise cursor.fail(f"entry {excerpt(name)} appears twice")
        ncall = cursor.int32(f"call count of {excerpt(name)}")
        if ncall < 0:
            raise cursor.fail(f"call count of {excerpt(name)} is {ncall}")
        nval = cursor.count(f"value count of {excerpt(name)}", 4)
        values = np.frombuffer(cursor.raw, "<f4", nval, cursor.take(4 * nval, f"values of {excerpt(name)}"))
        with np.errstate(all="ignore"):
            entries[name] = _importance(path, name, values / ncall if ncall > 0 else values.copy())
    return entries


def provenance_keys(meta: dict[str, Any]) -> dict[str, str | int]:
    """The keys llama-quantize writes into its output to say which importance matrix it used.

    The file is named without its directory (llama-quantize writes the path as typed), so a
    published GGUF does not carry the publisher's local paths.
    """
    keys: dict[str, str | int] = {"quantize.imatrix.file": Path(meta["file"]).name}
    if meta["dataset"]:
        keys["quantize.imatrix.dataset"] = meta["dataset"]
    keys["quantize.imatrix.entries_count"] = len(meta["entries"])
    keys["quantize.imatrix.chunks_count"] = int(meta["chunks"])
    return keys
