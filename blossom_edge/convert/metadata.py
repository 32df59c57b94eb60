"""`general.*` metadata: what the model is and where it came from.

gguf-py's `Metadata.load` reads the model card and config the way llama.cpp's converter
does; the catalog then fills what a Blossom card may omit (base model, licence) and the
source repository, so a GGUF found on a phone years later still says what it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gguf

    from blossom_edge.source import LocalSource

HF_URL = "https://huggingface.co"


def model_metadata(model_dir: Path, n_params: int, source: LocalSource) -> gguf.Metadata:
    import gguf

    meta = gguf.Metadata.load(None, model_dir, None, n_params)
    model = source.model
    if model is not None:
        meta.name = model.name
        meta.basename = model.name
        if not meta.license:
            meta.license = model.license
        if not meta.base_models:
            org, _, base = model.base_model.partition("/")
            meta.base_models = [{"name": base, "organization": org, "repo_url": f"{HF_URL}/{model.base_model}"}]
    elif meta.name is None:
        meta.name = source.repo_id.split("/")[-1] if source.repo_id else model_dir.name
    if source.repo_id:
        meta.repo_url = f"{HF_URL}/{source.repo_id}"
        meta.source_repo_url = meta.repo_url
        if source.revision:
            meta.source_url = f"{HF_URL}/{source.repo_id}/tree/{source.revision}"
    if meta.size_label is None and n_params > 0:
        meta.size_label = gguf.size_label(n_params, 0, 0, 0)
    return meta


def output_stem(source: LocalSource) -> str:
    """The file-name stem: the catalog name, else the repository or directory name."""
    if source.model is not None:
        return source.model.name
    if source.repo_id:
        return source.repo_id.split("/")[-1].lower()
    return source.path.resolve().name.lower()
