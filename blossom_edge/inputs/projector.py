"""A multimodal model's vision projector: telling one from a model, and finding the one beside a model.

A projector (`mmproj-blossom-v7.1-9b-F16.gguf`) lives beside the text model it serves. Quantize,
modelfile, `ollama create` and release all find it here, by the same rule, so a Modelfile's
second FROM line is always the file quantize wrote. What counts as a projector is what Ollama
(`isProjectorGGUF` in server/create.go at the pinned commit) counts: `general.type` mmproj or
projector, or a `clip` file with a vision or audio encoder and no text blocks.
"""

from __future__ import annotations

from pathlib import Path

from blossom_edge.base.errors import UsageError
from blossom_edge.model.naming import PROJECTOR_PREFIX


def is_projector(path: Path) -> bool:
    """Whether Ollama would take this GGUF as a projector layer (read through the bounded reader)."""
    from blossom_edge.inputs.gguf_info import read_gguf_info

    info = read_gguf_info(path)
    meta = info.metadata
    if meta.get("general.type") in ("mmproj", "projector"):
        return True
    arch = info.architecture
    if not meta.get(f"{arch}.block_count") and meta.get(f"{arch}.vision.block_count"):
        return True
    return arch == "clip" and not meta.get("clip.block_count") and bool(
        meta.get("clip.has_vision_encoder") or meta.get("clip.has_audio_encoder"))


def projector_beside(gguf: Path, stem: str) -> Path | None:
    """The projector written for the model `gguf` is a file of (`stem`: its model's file-name stem).

    It is `mmproj-<gguf name>` (what llama.cpp's converter names it) or `mmproj-<stem>-<TYPE>.gguf`
    (what quantize and release write once per model, for all its types). Several candidates are
    refused rather than guessed between: the user names one with --mmproj.
    """
    directory = gguf.parent
    candidates = [directory / f"{PROJECTOR_PREFIX}{gguf.name}", *sorted(directory.glob(f"{PROJECTOR_PREFIX}{stem}-*.gguf"))]
    found = list(dict.fromkeys(p for p in candidates if p.is_file() and is_projector(p)))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise UsageError(f"several vision projectors beside {gguf.name} ({names}); choose one with --mmproj FILE")
    return found[0] if found else None


def checked_projector(path: Path) -> Path:
    """A projector the user named, refused in one line when it is not one."""
    from blossom_edge.base.errors import NotFoundError

    if not path.is_file():
        raise NotFoundError(f"no such projector file: {path}")
    if not is_projector(path):
        raise UsageError(f"{path} is not a vision projector GGUF (general.type is not mmproj)")
    return path
