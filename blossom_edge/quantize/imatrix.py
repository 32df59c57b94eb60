"""Importance-matrix files as llama-quantize reads them: llama.cpp's GGUF format or the legacy .dat.

The loader lives in llama.cpp's tool, not in the library we call, so it is done here, with
gguf-py for the GGUF format and numpy for the legacy one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blossom_edge.errors import CorruptFileError


def load_imatrix(path: Path) -> dict[str, Any]:
    """`entries` (tensor name → float32 importance, normalised as llama-quantize does), `file`,
    `chunks` and `dataset`."""
    import numpy as np

    with path.open("rb") as fh:
        magic = fh.read(4)
    entries: dict[str, Any] = {}
    meta: dict[str, Any] = {"file": str(path), "chunks": 0, "dataset": None}
    if magic == b"GGUF":
        from gguf import GGUFReader

        try:
            reader = GGUFReader(path)
        except (ValueError, IndexError, KeyError, OSError) as exc:
            raise CorruptFileError(f"{path} is not a readable importance matrix: {exc}") from exc
        sums = {t.name[: -len(".in_sum2")]: t for t in reader.tensors if t.name.endswith(".in_sum2")}
        counts = {t.name[: -len(".counts")]: t for t in reader.tensors if t.name.endswith(".counts")}
        for name, tensor in sums.items():
            if name not in counts:
                raise CorruptFileError(f"importance matrix {path}: no counts for {name}")
            s = np.asarray(tensor.data, dtype=np.float32).reshape(-1)
            c = np.asarray(counts[name].data, dtype=np.float32).reshape(-1)
            per = s.reshape(len(c), -1)
            out = np.where(c[:, None] > 0, per / np.where(c[:, None] > 0, c[:, None], 1), 1.0)
            entries[name] = out.reshape(-1).astype(np.float32)
        field_ = reader.fields.get("imatrix.chunk_count")
        if field_ is not None:
            meta["chunks"] = int(field_.parts[field_.data[0]][0])
        field_ = reader.fields.get("imatrix.datasets")
        if field_ is not None and field_.data:
            meta["dataset"] = bytes(field_.parts[field_.data[0]]).decode("utf-8", "replace")
    else:
        raw = path.read_bytes()
        try:
            pos, (n_entries,) = 4, np.frombuffer(raw, np.int32, 1, 0)
            for _ in range(int(n_entries)):
                (length,) = np.frombuffer(raw, np.int32, 1, pos)
                name = raw[pos + 4: pos + 4 + int(length)].decode()
                pos += 4 + int(length)
                ncall, nval = (int(v) for v in np.frombuffer(raw, np.int32, 2, pos))
                pos += 8
                values = np.frombuffer(raw, np.float32, nval, pos).copy()
                pos += 4 * nval
                entries[name] = values / ncall if ncall > 0 else values
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptFileError(f"{path} is not an importance matrix (GGUF or .dat): {exc}") from exc
    if not entries:
        raise CorruptFileError(f"importance matrix {path} has no entries")
    meta["entries"] = entries
    return meta


def provenance_keys(meta: dict[str, Any]) -> dict[str, str | int]:
    """The keys llama-quantize writes into its output to say which importance matrix it used."""
    return {
        "quantize.imatrix.file": Path(meta["file"]).name,
        "quantize.imatrix.entries_count": len(meta["entries"]),
        "quantize.imatrix.chunks_count": int(meta["chunks"]),
    }
