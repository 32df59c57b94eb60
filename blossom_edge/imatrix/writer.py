"""Importance matrices written in llama.cpp's GGUF imatrix format, with gguf-py.

The layout is what llama-imatrix writes and llama-quantize reads (`reader.py` reads it back):
`general.type = imatrix`, the datasets, chunk count and size, then per weight, in name order,
`<name>.in_sum2` (F32, one row per matrix) and `<name>.counts` (F32, one per matrix). Our own
provenance (model, context, text digest) goes under `blossom_edge.imatrix.*`, which llama.cpp
ignores, so `quantize` can tell whether a matrix beside its output was made for this model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from blossom_edge.base.atomic import atomic_output
from blossom_edge.imatrix.collector import Entry

PROVENANCE_PREFIX = "blossom_edge.imatrix."


def write_imatrix(path: Path, entries: Mapping[str, Entry], *, datasets: list[str], chunks: int, chunk_size: int,
                  provenance: Mapping[str, str | int]) -> Path:
    """Write the matrix to `path` through a partial file, so it appears only when complete."""
    import gguf

    with atomic_output(path) as partial:
        writer = gguf.GGUFWriter(str(partial), arch="imatrix")
        writer.add_type("imatrix")
        writer.add_array("imatrix.datasets", datasets)
        writer.add_uint32("imatrix.chunk_count", chunks)
        writer.add_uint32("imatrix.chunk_size", chunk_size)
        for key, value in provenance.items():
            if isinstance(value, int):
                writer.add_uint64(PROVENANCE_PREFIX + key, value)
            else:
                writer.add_string(PROVENANCE_PREFIX + key, value)
        for name in sorted(entries):
            # One row per count: a dense weight is one row however many matrices it stacks.
            entry = entries[name]
            rows = entry.counts.size
            writer.add_tensor(f"{name}.in_sum2", entry.sums.reshape(rows, -1).astype(np.float32))
            writer.add_tensor(f"{name}.counts", entry.counts.reshape(rows, 1).astype(np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return path


def read_provenance(path: Path) -> dict[str, str | int]:
    """The `blossom_edge.imatrix.*` keys of a matrix we wrote (empty for llama-imatrix's own files)."""
    import gguf

    from blossom_edge.inputs.gguf_check import check_gguf

    check_gguf(path, what="importance matrix")
    reader = gguf.GGUFReader(path)
    found: dict[str, str | int] = {}
    for key, field in reader.fields.items():
        if key.startswith(PROVENANCE_PREFIX):
            found[key[len(PROVENANCE_PREFIX):]] = field.contents()
    return found
