"""What a release may skip: outputs whose records still match what this run would make.

A GGUF counts as done when its manifest names the same source (repository and revision, or
local path), the same tool versions and type, and the sha256 of the file on disk; its quality
figures and shards when their records name that same sha256. The records other than the
manifests live in the model's `.release/` directory, which is never published.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blossom_edge.base.atomic import atomic_write_text
from blossom_edge.base.bounded_read import read_json_object
from blossom_edge.base.errors import CorruptFileError, NotFoundError

STATE_DIR = ".release"
# Records are the manifests and `.release/` files we write: a few kilobytes (a split record lists
# its shards).
MAX_RECORD_BYTES = 1 << 20


def state_dir(model_dir: Path) -> Path:
    """Where a model's release records and its 16-bit intermediate live (beside its outputs, so on the shared disk)."""
    return model_dir / STATE_DIR


def read_record(path: Path) -> dict[str, Any] | None:
    """A JSON record, or None when it is missing or damaged (then the step is simply redone).

    Damaged is whatever our JSON reader refuses as content (not JSON, too deep, too large, not an
    object); a FIFO, device or directory at a record's name is refused in one line instead, since
    redoing the step would end by failing to write its record there.
    """
    try:
        return read_json_object(path, required=True, limit=MAX_RECORD_BYTES)
    except (NotFoundError, CorruptFileError):
        return None


def write_record(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def same_source(found: Any, wanted: dict[str, Any]) -> bool:
    """The same checkpoint: repository and revision for a download, the path for a local directory."""
    return isinstance(found, dict) and all(found.get(k) == wanted.get(k) for k in ("repo_id", "revision", "path"))


def matching_manifest(final: Path, qtype: str, source: dict[str, Any], tools: dict[str, str]) -> dict[str, Any] | None:
    """The manifest of `final` when the file is what this run would make, else None."""
    from blossom_edge.base.digest import sha256_file
    from blossom_edge.quantize.manifest import manifest_path

    data = read_record(manifest_path(final))
    if data is None or not final.is_file():
        return None
    if data.get("qtype") != qtype or data.get("tools") != tools or not same_source(data.get("source"), source):
        return None
    if data.get("bytes") != final.stat().st_size or sha256_file(final) != data.get("sha256"):
        return None
    return data


def quality_path(model_dir: Path, final: Path) -> Path:
    return state_dir(model_dir) / f"{final.name}.quality.json"


def quality_method() -> dict[str, Any]:
    """What a quality record must have been measured on to stand: today's evaluation text and context."""
    from blossom_edge.quantize.quality import DEFAULT_CTX, eval_text

    return {"text_sha256": eval_text().sha256, "ctx": DEFAULT_CTX}


def matching_quality(model_dir: Path, final: Path, sha256: str) -> dict[str, Any] | None:
    """Perplexity and KL of `final` measured on the file with this sha256 by today's method, else None."""
    data = read_record(quality_path(model_dir, final))
    if data is None or data.get("sha256") != sha256:
        return None
    return data if all(data.get(k) == v for k, v in quality_method().items()) else None


def split_path(model_dir: Path, final: Path) -> Path:
    return state_dir(model_dir) / f"{final.name}.split.json"


def matching_split(model_dir: Path, final: Path, sha256: str, max_size: int) -> dict[str, Any] | None:
    """The shards of `final` made at this size from the file with this sha256, each still on disk unchanged."""
    from blossom_edge.base.digest import sha256_file

    data = read_record(split_path(model_dir, final))
    if data is None or data.get("sha256") != sha256 or data.get("max_size") != max_size:
        return None
    shards = data.get("shards")
    if not isinstance(shards, list) or not all(isinstance(s, dict) and isinstance(s.get("file"), str) for s in shards):
        return None
    for shard in shards:
        path = model_dir / shard["file"]
        if not path.is_file() or path.stat().st_size != shard.get("bytes") or sha256_file(path) != shard.get("sha256"):
            return None
    return data


def intermediate_record_path(model_dir: Path, stem: str) -> Path:
    return state_dir(model_dir) / f"{stem}.intermediate.json"


def matching_intermediate(model_dir: Path, stem: str, source: dict[str, Any],
                          tools: dict[str, str]) -> dict[str, Any] | None:
    """An intermediate left by an interrupted release of this same source, by size and mtime.

    Hashing a checkpoint-sized file would cost as much as converting it again; a file we wrote
    ourselves, unchanged since (same size and mtime), is trusted instead.
    """
    from blossom_edge.model.naming import intermediate_name

    data = read_record(intermediate_record_path(model_dir, stem))
    path = state_dir(model_dir) / intermediate_name(stem)
    if data is None or not path.is_file() or not same_source(data.get("source"), source) or data.get("tools") != tools:
        return None
    stat = path.stat()
    return data if (data.get("bytes"), data.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns) else None
