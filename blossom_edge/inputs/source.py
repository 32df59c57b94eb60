"""What a source argument is: a GGUF file, or a checkpoint on local disk and where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from blossom_edge.model.catalog import ModelInfo


@dataclass(frozen=True)
class LocalSource:
    """`repo_id`/`revision` are set when it came from the hub; `model` when the catalog knows it."""

    path: Path
    repo_id: str | None = None
    revision: str | None = None
    model: ModelInfo | None = None

    def describe(self) -> str:
        """For manifests and notes: the repo and revision, else the local path."""
        if self.repo_id:
            return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id
        return str(self.path)


def is_gguf_source(source: str) -> bool:
    """Whether a SRC argument names a GGUF file (an existing file, or any `*.gguf` path) rather than a checkpoint."""
    path = Path(source).expanduser()
    return path.is_file() or path.suffix.lower() == ".gguf"
