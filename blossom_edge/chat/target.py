"""Which file a chat loads: a GGUF path as given, or for an alias the file `quantize` wrote for it.

`quantize` writes `blossom-v5-4b-Q4_K_M.gguf` into the current directory unless told otherwise,
so an alias is looked up there. A chat never downloads: a missing file is one line saying which
command makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from blossom_edge.base.errors import NotFoundError

if TYPE_CHECKING:
    from blossom_edge.inputs.gguf_info import GGUFInfo
    from blossom_edge.model.catalog import ModelInfo


@dataclass(frozen=True)
class ChatTarget:
    """The GGUF to load, its summary, and the catalog entry its name says it is (None if it says none)."""

    path: Path
    info: GGUFInfo
    model: ModelInfo | None


def resolve_target(text: str, directory: Path | None = None) -> ChatTarget:
    """A GGUF path (checked to be one), or the quantized file for an alias in `directory` (default: here)."""
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.model.catalog import resolve

    path = Path(text).expanduser()
    if _looks_like_path(text, path):
        return ChatTarget(path, read_gguf_info(path), model_of(path))
    model = resolve(text)  # an unknown alias is one line naming the nearest ones
    path = quantized_file(model, text, directory or Path.cwd())
    return ChatTarget(path, read_gguf_info(path), model)


def _looks_like_path(text: str, path: Path) -> bool:
    return path.exists() or path.suffix.lower() == ".gguf" or "/" in text or "\\" in text


def model_of(path: Path) -> ModelInfo | None:
    """The catalog entry a file is named after (`blossom-v5-4b-Q4_K_M.gguf` → v5-4b), or None."""
    from blossom_edge.model.catalog import MODELS
    from blossom_edge.model.naming import stem_of

    stem = stem_of(path, [m.name for m in MODELS])
    return next((m for m in MODELS if m.name == stem), None)


def quantized_file(model: ModelInfo, alias: str, directory: Path) -> Path:
    """The quantized GGUF of `model` in `directory`: the default type's if there, else the first by name."""
    from blossom_edge.model.catalog import DEFAULT_QTYPE
    from blossom_edge.model.naming import IMATRIX_SUFFIX, INTERMEDIATE_SUFFIX

    preferred = directory / model.gguf_filename(DEFAULT_QTYPE)
    if preferred.is_file():
        return preferred
    found = sorted(p for p in directory.glob("*.gguf")
                   if p.is_file() and not p.name.endswith((IMATRIX_SUFFIX, INTERMEDIATE_SUFFIX))
                   and (m := model_of(p)) is not None and m.name == model.name)
    if found:
        return found[0]
    raise NotFoundError(f"no quantized {model.name} in {directory}: run `blossom-edge quantize {alias} "
                        f"{DEFAULT_QTYPE}` first (it downloads {model.repo_id})")
