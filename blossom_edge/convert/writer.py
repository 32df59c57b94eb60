"""Streams a conversion plan into a GGUF file through gguf-py's GGUFWriter, atomically.

The writer's own state machine lays out header, key/values, tensor infos and aligned
data; we only feed it `StreamedTensor`s, so at no point is more than a chunk of any
tensor in memory. The file appears under its final name only once complete.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from blossom_edge.atomic import atomic_output
from blossom_edge.convert.plan import Plan
from blossom_edge.convert.stream import StreamedTensor

if TYPE_CHECKING:
    import gguf


def fast_writer(arch: str) -> gguf.GGUFWriter:
    """A GGUFWriter that packs large vocabulary arrays in bulk.

    gguf-py packs array items one by one through `_pack_val`; for a 150k-token vocabulary
    with its merges that is over a second of pure Python before the first tensor byte, on a
    phone several. Only plain little-endian arrays of strings, ints or floats take the bulk
    path, which writes exactly the bytes the stock method would (a test compares them);
    everything else goes to gguf-py unchanged.
    """
    import struct

    import gguf

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

    return _BulkArrayWriter(path=None, arch=arch)


def write_gguf(
    output: Path,
    plan: Plan,
    fill_keys: Callable[[gguf.GGUFWriter], None],
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Write `plan`'s tensors to `output` after the key/values `fill_keys` adds."""
    writer = fast_writer(plan.arch.arch_name)
    fill_keys(writer)
    for planned in plan.tensors:
        # The element shape with a non-uint8 dtype tells GGUFWriter to take the shape as is.
        writer.add_tensor_info(planned.name, planned.shape, np.dtype(np.float32), planned.nbytes,
                               raw_dtype=planned.qtype)
    with atomic_output(output) as partial:
        try:
            writer.write_header_to_file(path=partial)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for planned in plan.tensors:
                writer.write_tensor_data(StreamedTensor(planned, on_bytes))  # type: ignore[arg-type]
        finally:
            writer.close()
