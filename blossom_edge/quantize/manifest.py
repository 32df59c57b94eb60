"""The manifest beside each output: how a GGUF was made, so a file found later can be traced and checked.

`blossom-v5-4b-Q4_K_M.gguf` gets `blossom-v5-4b-Q4_K_M.manifest.json` with its sha256 and size,
the source and its revision, the quant type, importance matrix, tool versions and timings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blossom_edge.base.atomic import atomic_write_text

MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(gguf_path: Path) -> Path:
    """`blossom-v5-4b-Q4_K_M.gguf` → `blossom-v5-4b-Q4_K_M.manifest.json`."""
    return gguf_path.with_name(gguf_path.stem + MANIFEST_SUFFIX)


def tool_versions() -> dict[str, str]:
    """The versions a manifest records: ours, the binding's and the llama.cpp it vendors."""
    import llama_cpp

    from blossom_edge import __version__

    return {
        "blossom_edge": __version__,
        "llama_cpp_python": llama_cpp.__version__,
        "llama_cpp": llama_cpp.llama_version().decode(),
    }


def write_manifest(gguf_path: Path, sha256: str, record: dict[str, Any]) -> Path:
    """Write the manifest beside the GGUF, atomically, with its sha256 and size filled in."""
    data = {"file": gguf_path.name, "sha256": sha256, "bytes": gguf_path.stat().st_size, **record}
    target = manifest_path(gguf_path)
    return atomic_write_text(target, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
