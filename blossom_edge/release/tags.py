"""The Ollama names a release publishes, from the catalog's own accessors.

The catalog gives each model its published model:tag (for the default quant type, and its
`-gpu` variant); other types of the same model get the type appended to that tag, so
`azure99/blossom:4b` ships `azure99/blossom:4b-q8_0` and `azure99/blossom:4b-q8_0-gpu` too.
A model without a published name gets the local name `ollama create` would use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from blossom_edge.model.catalog import ModelInfo
    from blossom_edge.ollama.go.names import ModelName


def ollama_name(model: ModelInfo, qtype: str, gpu: bool) -> ModelName:
    """The name one (type, cpu|gpu) of `model` is published under, checked by Ollama's rules."""
    from blossom_edge.model.catalog import DEFAULT_QTYPE
    from blossom_edge.ollama.go.names import parse_model_name

    if model.published is None:
        return parse_model_name(model.local_ollama_name(qtype, gpu))
    repo, _, tag = model.ollama_name(gpu=False).partition(":")
    if qtype.lower() != DEFAULT_QTYPE:
        tag = f"{tag}-{qtype.lower()}"
    return parse_model_name(f"{repo}:{tag}-gpu" if gpu else f"{repo}:{tag}")


def modelfile_name(name: ModelName) -> str:
    """`blossom-4b-q8_0-gpu.Modelfile`: one per published name, beside the GGUFs."""
    return f"{name.model}-{name.tag}.Modelfile"
