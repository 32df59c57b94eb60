"""Blossom's Ollama tags: the published ones, and the `-gpu` variants that must match --gpu.

Whether a tag is well formed is Ollama's rule (`go.names`); which tag a model gets, and that a
`-gpu` tag always carries full GPU offload, is Blossom's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blossom_edge.base.errors import UsageError
from blossom_edge.ollama.go.names import check_tag

if TYPE_CHECKING:
    from blossom_edge.model.catalog import ModelInfo


def is_gpu_tag(tag: str) -> bool:
    """Whether a tag names the all-layers-on-GPU variant (`gpu`, `4b-gpu`)."""
    return tag == "gpu" or tag.endswith("-gpu")


def default_tag(model: ModelInfo, gpu: bool) -> str:
    """The tag a model is published under: `4b`, `4b-gpu`."""
    return model.ollama_name(gpu=gpu).split(":", 1)[1]


def choose_tag(model: ModelInfo, tag: str | None, gpu: bool) -> str:
    """The tag, checked by Ollama's rules and against --gpu (a `-gpu` tag must be the GPU variant)."""
    tag = check_tag(tag) if tag else default_tag(model, gpu)
    if is_gpu_tag(tag) != gpu:
        wanted = "add --gpu" if is_gpu_tag(tag) else "drop --gpu or use a tag ending in -gpu"
        raise UsageError(f"tag '{tag}' {'names' if is_gpu_tag(tag) else 'does not name'} the GPU variant: {wanted}")
    return tag
