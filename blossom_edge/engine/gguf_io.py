"""gguf-py's writer and reader with two private methods overridden, for vocabulary-sized arrays.

Both are pinned by tests that compare them with the stock classes byte for byte
(`tests/engine/test_convert_writer.py`) and field for field (`tests/inputs/test_gguf_info.py`).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
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
def summary_reader_class() -> type:
    """GGUFReader that steps over the fields named in `skip_to`, straight to where each ends.

    gguf-py builds numpy views for every one of 150k token strings and merges, which took
    seconds per read on a Qwen-sized vocabulary, and a summary only needs their count.
    The caller walks the header first (`gguf_check.check_gguf`), which checks every length
    and learns where each skipped value ends, so this reader never walks them again.
    Skipped fields are absent from `fields`.
    Public replacement: a lazy-fields option on `GGUFReader`. Built on first use so that
    importing this module does not import gguf-py (and numpy).
    """
    import numpy as np
    from gguf import GGUFReader
    from gguf.gguf_reader import ReaderField

    class SummaryReader(GGUFReader):
        def __init__(self, path: Path, skip_to: Mapping[str, int]) -> None:
            self.skip_to = skip_to
            super().__init__(path)

        def _build_fields(self, offs: int, count: int) -> int:
            for _ in range(count):
                orig_offs = offs
                kv_klen, kv_kdata = self._get_str(offs)
                offs += int(kv_klen.nbytes + kv_kdata.nbytes)
                raw_kv_type = self._get(offs, np.uint32)
                offs += int(raw_kv_type.nbytes)
                key = str(bytes(kv_kdata), encoding="utf-8")
                if key in self.skip_to:
                    offs = self.skip_to[key]
                    continue
                parts: list[Any] = [kv_klen, kv_kdata, raw_kv_type]
                size, field_parts, field_idxs, field_types = self._get_field_parts(offs, raw_kv_type[0])
                self._push_field(ReaderField(orig_offs, key, parts + field_parts,
                                             [i + len(parts) for i in field_idxs], field_types), skip_sum=True)
                offs += size
            return offs

    return SummaryReader
