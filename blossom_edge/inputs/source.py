"""What a SRC argument is, decided once: a GGUF file, a checkpoint directory, or a model on the hub.

Every command takes the same SRC (`4b`, `Azure99/blossom-v5-4b@main`, `./ckpt`, `x-Q4_K_M.gguf`);
`classify` is the one place that tells them apart, and the typed value is passed down, so no
step has to guess from a string again. `LocalSource` is a checkpoint once it is on local disk,
with its JSON files read once (`CheckpointFiles`) for every step that needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from blossom_edge.model.catalog import ModelInfo


@dataclass(frozen=True)
class GgufSource:
    """A GGUF file (an existing file, or any `*.gguf` path, which then fails as missing where it is read)."""

    path: Path
    text: str


@dataclass(frozen=True)
class CheckpointDir:
    """A checkpoint directory on local disk; `model` when its name (or its snapshot's repository) is
    a catalog name; `repo_id` and `revision` when it is a Hugging Face cache snapshot."""

    path: Path
    text: str
    model: ModelInfo | None = None
    repo_id: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class HubSource:
    """A catalog alias or `org/name`, with the revision asked for (`@rev`); downloaded when first needed."""

    repo_id: str
    revision: str | None
    text: str
    model: ModelInfo | None = None


Source = GgufSource | CheckpointDir | HubSource


def classify(text: str | Source) -> Source:
    """The one place a SRC argument is told apart; a value already classified passes through."""
    from blossom_edge.model.catalog import lookup

    if not isinstance(text, str):
        return text
    path = Path(text).expanduser()
    if path.is_dir():
        snapshot = snapshot_repo(path)
        if snapshot is None:
            return CheckpointDir(path, text, lookup(path.resolve().name))
        repo_id, revision = snapshot
        return CheckpointDir(path, text, lookup(repo_id), repo_id, revision)
    if path.is_file() or path.suffix.lower() == ".gguf":
        return GgufSource(path, text)
    repo_id, _, revision = text.partition("@")
    model = lookup(text)
    return HubSource(model.repo_id if model else repo_id, revision or None, text, model)


def snapshot_repo(path: Path) -> tuple[str, str] | None:
    """(`Org/Name`, commit) for huggingface-hub's cache layout `…/models--Org--Name/snapshots/<commit>`,
    whose directory name says nothing of the model; None for any other directory."""
    resolved = Path(path).resolve()
    parent, repo = resolved.parent, resolved.parent.parent.name
    if parent.name != "snapshots" or not repo.startswith("models--"):
        return None
    org, sep, name = repo[len("models--"):].partition("--")
    return (f"{org}/{name}", resolved.name) if sep and org and name else None


@dataclass(frozen=True)
class CheckpointFiles:
    """A checkpoint's JSON files, each read once through the bounded reader: {} where a file is absent."""

    config: dict[str, Any] = field(default_factory=dict)
    tokenizer_config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, directory: Path) -> CheckpointFiles:
        from blossom_edge.base.bounded_read import read_json_object

        return cls(read_json_object(directory / "config.json", required=False),
                   read_json_object(directory / "tokenizer_config.json", required=False))


@dataclass(frozen=True)
class LocalSource:
    """A checkpoint on local disk: `repo_id`/`revision` are set when it came from the hub, `model` when
    the catalog knows it."""

    path: Path
    repo_id: str | None = None
    revision: str | None = None
    model: ModelInfo | None = None

    def describe(self) -> str:
        """For manifests and notes: the repo and revision, else the local path."""
        if self.repo_id:
            return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id
        return str(self.path)

    @cached_property
    def files(self) -> CheckpointFiles:
        """Read on first use, then handed to every step: config.json is read once per run, not five times."""
        return CheckpointFiles.read(self.path)

    @property
    def config(self) -> dict[str, Any]:
        return self.files.config
