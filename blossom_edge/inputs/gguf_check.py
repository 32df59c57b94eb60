"""The hostile-header check every GGUF reader runs first: counts and lengths the file's bytes can hold.

gguf-py trusts every count and length in the header: it builds a numpy view per array item,
so a hostile file declaring 2**40 items makes it allocate without bound. `check_gguf` walks
the header first, in pure Python over a memory map, and refuses any count or length the
bytes that remain cannot hold, before gguf-py sees the file.
"""

from __future__ import annotations

import math
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGUFReader, GGUFValueType, Keys

from blossom_edge.base.errors import CorruptFileError, NotFoundError, excerpt

# Limits a header must stay within. gguf-py spends tens of microseconds and a few numpy views
# on each key, tensor and decoded array item, so these caps bound its time (about a second)
# and memory (about 100 MB) whatever a file declares. Real models carry a hundred keys at most,
# a few thousand tensors (DeepSeek-V3: 1,025) and short arrays beyond the tokenizer's.
MAX_KV = 1 << 13
MAX_TENSORS = 1 << 14
MAX_NAME_BYTES = 1 << 12
# Array items gguf-py decodes one view each (the tokenizer arrays a summary skips do not count).
MAX_DECODED_ITEMS = 1 << 16
MAX_ARRAY_DEPTH = 4
MAX_DIMS = 4  # GGML_MAX_DIMS
# Hyperparameters and token ids are 32-bit in llama.cpp.
MAX_COUNT = 2**32 - 1

_HEADER_BYTES = 4 + 4 + 8 + 8
_MIN_KV_BYTES = 8 + 1 + 4 + 1
_MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8
_SUPPORTED_VERSIONS = (2, 3)
_RESERVED_KEYS = frozenset({"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"})  # gguf-py's own fields
# Value types and their sizes as gguf-py reads them, so the check and the reader cannot disagree.
_SCALAR_SIZES = {int(t): np.dtype(d).itemsize for t, d in GGUFReader.gguf_scalar_to_np.items()}
_UINT32, _STRING, _ARRAY = int(GGUFValueType.UINT32), int(GGUFValueType.STRING), int(GGUFValueType.ARRAY)
_TYPE_SIZES = {int(t): sizes for t, sizes in GGML_QUANT_SIZES.items()}  # ggml type → (block, bytes per block)


@dataclass(frozen=True)
class KeySpan:
    """Where a key's value ends and how many items it holds (1 unless it is an array)."""

    end: int
    count: int


class _HeaderCheck:
    """One pass over a GGUF header that checks every count and length against the bytes left.

    Each step consumes at least one byte per item it loops over, and every loop's count is
    checked against the remaining bytes first, so the pass is linear in the file size.
    """

    def __init__(self, buf: mmap.mmap, path: Path, what: str, count_only: frozenset[str]) -> None:
        self.buf, self.size, self.pos = buf, len(buf), 0
        self.where = f"{what} {path}"
        self.count_only = count_only
        self.order = "<"
        self.decoded_items = 0

    def fail(self, problem: str) -> CorruptFileError:
        return CorruptFileError(f"{self.where}: {problem}")

    def need(self, n: int, what: str) -> None:
        left = self.size - self.pos
        if n > left:
            raise self.fail(f"truncated or damaged: {what} needs {n} bytes at offset {self.pos}, "
                            f"only {left} remain")

    def take(self, n: int, what: str) -> int:
        self.need(n, what)
        self.pos += n
        return self.pos - n

    def number(self, fmt: str, what: str) -> int:
        return struct.unpack_from(self.order + fmt, self.buf, self.take(struct.calcsize(fmt), what))[0]

    def name(self, what: str) -> str:
        length = self.number("Q", f"{what} length")
        if not 0 < length <= MAX_NAME_BYTES:
            raise self.fail(f"{what} at offset {self.pos - 8} is {length} bytes long; the limit is 1 to "
                            f"{MAX_NAME_BYTES}")
        raw = self.buf[self.take(length, what):self.pos]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{what} {excerpt(raw)} is not UTF-8") from exc

    def run(self) -> dict[str, KeySpan]:
        """Check the whole header and every tensor's extent; return the spans of the `count_only` keys."""
        self.version()
        n_tensors, n_kv = self.number("Q", "tensor count"), self.number("Q", "key count")
        self.counts(n_tensors, n_kv)
        spans, alignment = self.keys(n_kv)
        self.tensors(n_tensors, alignment)
        return spans

    def version(self) -> None:
        if self.buf[:4] != b"GGUF":
            raise self.fail("not a GGUF file (bad magic)")
        self.pos = 4
        if struct.unpack_from("<I", self.buf, 4)[0] & 0xFFFF == 0:
            self.order = ">"  # as gguf-py decides: a byte-swapped version has its low half zero
        version = self.number("I", "version")
        if version not in _SUPPORTED_VERSIONS:
            raise self.fail(f"GGUF version {version} is not supported (only {_SUPPORTED_VERSIONS})")

    def counts(self, n_tensors: int, n_kv: int) -> None:
        if n_kv > MAX_KV or n_tensors > MAX_TENSORS:
            raise self.fail(f"declares {n_tensors} tensors and {n_kv} keys; the limits are {MAX_TENSORS} "
                            f"and {MAX_KV}")
        self.need(n_kv * _MIN_KV_BYTES + n_tensors * _MIN_TENSOR_INFO_BYTES,
                  f"{n_tensors} tensor infos and {n_kv} keys")

    def keys(self, n_kv: int) -> tuple[dict[str, KeySpan], int]:
        spans: dict[str, KeySpan] = {}
        seen: set[str] = set()
        alignment = GGUF_DEFAULT_ALIGNMENT
        for _ in range(n_kv):
            key = self.name("key")
            if key in seen:
                raise self.fail(f"key {excerpt(key)} appears twice")
            if key in _RESERVED_KEYS:
                raise self.fail(f"key {key} is reserved for the reader's own fields")
            seen.add(key)
            vtype = self.number("I", f"type of {excerpt(key)}")
            start = self.pos
            if key in self.count_only and vtype != _ARRAY:
                raise self.fail(f"{key} must be an array, found value type {vtype}")
            count = self.value(vtype, key, 0)
            if key == Keys.General.ALIGNMENT:
                alignment = self.alignment(vtype, start)
            if key in self.count_only:
                spans[key] = KeySpan(self.pos, count)
        return spans, alignment

    def alignment(self, vtype: int, start: int) -> int:
        value = struct.unpack_from(self.order + "I", self.buf, start)[0] if vtype == _UINT32 else 0
        if value == 0 or value & (value - 1):
            raise self.fail(f"{Keys.General.ALIGNMENT} must be a uint32 power of two")
        return value

    def value(self, vtype: int, key: str, depth: int) -> int:
        """Step over one value of `vtype`; return its item count (1 for a scalar or a string)."""
        size = _SCALAR_SIZES.get(vtype)
        if size is not None:
            self.take(size, f"the value of {excerpt(key)}")
            return 1
        if vtype == _STRING:
            self.take(self.number("Q", f"string length in {excerpt(key)}"), f"a string in {excerpt(key)}")
            return 1
        if vtype != _ARRAY:
            raise self.fail(f"key {excerpt(key)} has unknown value type {vtype}")
        if depth >= MAX_ARRAY_DEPTH:
            raise self.fail(f"key {excerpt(key)} nests arrays deeper than {MAX_ARRAY_DEPTH}")
        item_type, count = self.number("I", f"array type of {excerpt(key)}"), self.number("Q", "array length")
        self.array(item_type, count, key, depth)
        return count

    def array(self, item_type: int, count: int, key: str, depth: int) -> None:
        """Step over `count` items: first what they need against what is left, then the decode budget."""
        what = f"{count} items of array {excerpt(key)}"
        item_size = _SCALAR_SIZES.get(item_type)
        least = item_size or {_STRING: 8, _ARRAY: 12}.get(item_type)
        if least is None:
            raise self.fail(f"array {excerpt(key)} has unknown item type {item_type}")
        self.need(count * least, what)
        self.spend(count, key)
        if item_size is not None:
            self.take(count * item_size, what)
        elif item_type == _STRING:
            self.strings(count, what)
        else:
            for _ in range(count):
                self.value(_ARRAY, key, depth + 1)

    def spend(self, count: int, key: str) -> None:
        """Count items gguf-py will build a view for; the tokenizer arrays a summary skips are free."""
        if key in self.count_only:
            return
        self.decoded_items += count
        if self.decoded_items > MAX_DECODED_ITEMS:
            raise self.fail(f"metadata arrays hold more than {MAX_DECODED_ITEMS} items (at key {excerpt(key)})")

    def strings(self, count: int, what: str) -> None:
        """Step over `count` strings in one tight loop: vocabularies hold 150k of them."""
        buf, pos = self.buf, self.pos
        length = struct.Struct(self.order + "Q").unpack_from
        try:
            for _ in range(count):
                pos += 8 + length(buf, pos)[0]
        except (struct.error, OverflowError):
            pos = self.size + 1
        if pos > self.size:
            raise self.fail(f"truncated or damaged: the strings of {what} run past the end of the file "
                            f"({self.size} bytes)")
        self.pos = pos

    def tensors(self, n_tensors: int, alignment: int) -> None:
        """Every tensor info, then every tensor's data inside the file and apart from the others."""
        extents = [self.tensor_info(alignment) for _ in range(n_tensors)]
        seen: set[str] = set()
        for name, _, _ in extents:
            if name in seen:
                raise self.fail(f"two tensors have the same name {excerpt(name)}")
            seen.add(name)
        data_start = -(-self.pos // alignment) * alignment
        end_of_previous, previous = 0, None
        for name, offset, n_bytes in sorted(extents, key=lambda e: (e[1], e[2])):
            if data_start + offset + n_bytes > self.size:
                raise self.fail(f"truncated or damaged: tensor {excerpt(name)} ends at byte "
                                f"{data_start + offset + n_bytes} but the file has {self.size}")
            if offset < end_of_previous:
                raise self.fail(f"tensors {excerpt(previous)} and {excerpt(name)} overlap")
            end_of_previous, previous = offset + n_bytes, name

    def tensor_info(self, alignment: int) -> tuple[str, int, int]:
        """(name, offset, byte length) of one tensor, its type and dimensions checked."""
        name = self.name("tensor name")
        n_dims = self.number("I", f"dimension count of {excerpt(name)}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise self.fail(f"tensor {excerpt(name)} has {n_dims} dimensions; the limit is 1 to {MAX_DIMS}")
        dims = [self.number("Q", f"dimensions of {excerpt(name)}") for _ in range(n_dims)]
        ggml_type = self.number("I", f"type of {excerpt(name)}")
        offset = self.number("Q", f"offset of {excerpt(name)}")
        if ggml_type not in _TYPE_SIZES:
            raise self.fail(f"tensor {excerpt(name)} has unknown ggml type {ggml_type}")
        block, type_size = _TYPE_SIZES[ggml_type]
        if dims[0] % block:
            raise self.fail(f"tensor {excerpt(name)} has rows of {dims[0]}, not whole blocks of {block} for its type")
        # Zero dimensions aside, as numpy sizes the view: an empty tensor may not claim 2**62 rows either.
        extent = math.prod(d for d in dims if d) * type_size // block
        if extent > self.size:
            raise self.fail(f"truncated or damaged: tensor {excerpt(name)} of dimensions {dims} needs {extent} "
                            f"bytes, more than the whole file ({self.size})")
        if offset % alignment:
            raise self.fail(f"tensor {excerpt(name)} data offset {offset} is not a multiple of {alignment}")
        return name, offset, math.prod(dims) * type_size // block


def require_gguf_file(path: Path, what: str = "GGUF file") -> None:
    """Refuse a path that cannot hold a GGUF with the true reason, before anything reads it: missing,
    a directory (e.g. a checkpoint passed where its GGUF was meant) or empty (an interrupted copy),
    rather than "no such file" or "bad magic", which would send the user looking elsewhere."""
    a = "an" if what[:1].lower() in "aeiou" else "a"
    if path.is_dir():
        raise NotFoundError(f"{path} is a directory, not {a} {what}")
    if not path.is_file():
        raise NotFoundError(f"no such {what}: {path}")
    if path.stat().st_size == 0:
        raise CorruptFileError(f"{path} is empty (0 bytes), not {a} {what}")


def check_gguf(path: Path, what: str = "GGUF file", count_only: frozenset[str] = frozenset()) -> dict[str, KeySpan]:
    """Refuse a GGUF whose header declares more than it holds, before gguf-py reads it.

    Arrays under `count_only` (which must be arrays) are exempt from the decoded-items cap,
    for a reader that skips them; their spans are returned. Raises one CorruptFileError
    naming `what`, the path and the limit.
    """
    require_gguf_file(path, what)
    size = path.stat().st_size
    if size < _HEADER_BYTES:
        raise CorruptFileError(f"{what} {path}: truncated: {size} bytes, a GGUF header needs {_HEADER_BYTES}")
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        return _HeaderCheck(buf, path, what, count_only).run()
