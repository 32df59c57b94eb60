"""`inspect`'s report of one GGUF file: its summary, its layer kinds and experts, and the RAM it needs at a context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gguf import Keys

from blossom_edge.inputs.gguf_info import read_gguf_info
from blossom_edge.model.memory import estimate


def inspect_report(path: Path, n_ctx: int) -> dict[str, Any]:
    """`inspect`'s report as plain data (the summary and the RAM estimate at `n_ctx`); table and --json render it."""
    info = read_gguf_info(path)
    data = info.to_dict()
    data["quantization_version"] = info.metadata.get(Keys.General.QUANTIZATION_VERSION)
    data["file_type"] = info.metadata.get(Keys.General.FILE_TYPE)
    shape = info.model_shape()
    data["memory"] = {"n_ctx": n_ctx, **estimate(shape, n_ctx).to_dict()}
    data["experts"] = ({"count": shape.n_expert, "used": shape.n_expert_used, "bytes": info.expert_bytes}
                       if shape.n_expert else None)
    data["layer_kinds"] = {"full_attention": shape.n_layer - shape.n_recurrent_layers,
                           "linear_attention": shape.n_recurrent_layers}
    return data
