"""gguf-py's writer and reader with two private methods overridden, for vocabulary-sized arrays.

Both are pinned by tests that compare them with the stock classes byte for byte
(`tests/test_convert_writer.py`) and field for field (`tests/test_gguf_info.py`).
"""

from __future__ import annotations

import functools
import struct
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gguf


def fast_writer(arch: str) -> gguf.GGUFWriter:
    """A GGUFWriter that packs large vocabulary arrays in bulk.

    gguf-py packs array items one by one through `_pack_val`; for a 150k-token vocabulary
    with its merges that is over a second of pure Python before the first tensor byte, on a
    phone several. Only plain little-endian arrays of strings, ints or floats take the bulk
    path, which writes exactly the bytes the stock method would; everything else goes to
    gguf-py unchanged. Public replacement: a bulk path in `GGUFWriter.add_array` itself.
    """
    import gguf
    import numpy as np

    def _bulk_array(items: list) -> bytes | None:
        first = items[0]
        if all(isinstance(i, (str, bytes, bytearray)) for i in items):
            encoded = [i.encode("utf-8") if isinstance(i, str) else bytes(i) for i in items]
            body = b"".join(struct.pack("<Q", len(e)) + e for e in encoded)
            ltype = gguf.GGUFValueType.STRING
        elif isinstance(first, float) and all(isinstance(i, float) for i in items):
            body = np.asarray(items, dtype="<f4").tobytes()
            ltype = gguf.GGUFValueType.FLOAT32
        elif all(isinstance(i, int) and not isinstance(i, bool) for i in items):
            body = np.asarray([int(i) for i in items], dtype="<i4").tobytes()
            ltype = gguf.GGUFValueType.INT32
        else:
            return None
        return struct.pack("<IQ", ltype, len(items)) + body

    class _BulkArrayWriter(gguf.GGUFWriter):
        def _pack_val(self, val, vtype, add_vtype, sub_type=None):  # noqa: ANN001, ANN202 - gguf's signature
            packed = None
            if (vtype == gguf.GGUFValueType.ARRAY and sub_type is None and isinstance(val, list)
                    and len(val) >= 256 and self.endianess == gguf.GGUFEndian.LITTLE):
                packed = _bulk_array(val)
            if packed is None:
                return super()._pack_val(val, vtype, add_vtype, sub_type)
            head = struct.pack("<I", vtype) if add_vtype else b""
            return head + packed

    return _BulkArrayWriter(path=None, arch=arch)


@functools.cache
def summary_reader_class(skip_arrays: frozenset[str]) -> type:
    """GGUFReader that records only the element count of the `skip_arrays` fields.

    gguf-py builds numpy views for every one of 150k token strings and merges, which took
    seconds per read on a Qwen-sized vocabulary, and a summary only needs their count.
    Skipped arrays are absent from `fields`; their lengths are in `array_lengths`.
    Public replacement: a lazy-fields option on `GGUFReader`. Built on first use so that
    importing this module does not import gguf-py (and numpy).
    """
    import numpy as np
    from gguf import GGUFReader, GGUFValueType
    from gguf.gguf_reader import ReaderField

    class SummaryReader(GGUFReader):
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
                if key in skip_arrays:
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
