"""Content hashes of model files: manifests record them and Ollama names blobs by them."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path


def sha256_file(path: Path, chunk: int = 1 << 22, stop: threading.Event | None = None) -> str:
    """The file's sha256; `stop` lets a caller abandon a multi-gigabyte hash (then returns "")."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            if stop is not None and stop.is_set():
                return ""
            digest.update(block)
    return digest.hexdigest()
