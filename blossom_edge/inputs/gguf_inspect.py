"""`inspect`'s report of one GGUF file: its summary, its layer kinds and experts, and the RAM it needs at a context.

A vision projector (`mmproj-*.gguf`, architecture `clip`) has no context, vocabulary or KV
cache: its report is the encoder's facts instead (projector type, image and patch size,
blocks, widths), `kind` telling the two apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gguf import Keys

from blossom_edge.base.errors import CorruptFileError, excerpt
from blossom_edge.inputs.gguf_check import MAX_COUNT
from blossom_edge.inputs.gguf_info import GGUFInfo, read_gguf_info
from blossom_edge.model.memory import estimate

# What gguf-py's converter writes in a projector's general.type, and the architecture it declares.
PROJECTOR_TYPE = "mmproj"
PROJECTOR_ARCHITECTURE = "clip"
# The vision encoder's sizes a projector report shows: report field → clip.vision.* key.
_VISION_COUNTS = {
    "image_size": Keys.ClipVision.IMAGE_SIZE,
    "patch_size": Keys.ClipVision.PATCH_SIZE,
    "block_count": Keys.ClipVision.BLOCK_COUNT,
    "embedding_length": Keys.ClipVision.EMBEDDING_LENGTH,
    "feed_forward_length": Keys.ClipVision.FEED_FORWARD_LENGTH,
    "head_count": Keys.ClipVision.Attention.HEAD_COUNT,
    "projection_dim": Keys.ClipVision.PROJECTION_DIM,
    "spatial_merge_size": Keys.ClipVision.SPATIAL_MERGE_SIZE,
}


def is_projector(info: GGUFInfo) -> bool:
    """A multimodal projector rather than a language model (what llama.cpp's libmtmd loads, not llama_model)."""
    return info.metadata.get(Keys.General.TYPE) == PROJECTOR_TYPE or info.architecture == PROJECTOR_ARCHITECTURE


def _count(info: GGUFInfo, key: str) -> int | None:
    value = info.metadata.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    raise CorruptFileError(f"{info.path}: {key} must be a whole number from 0 to {MAX_COUNT}, "
                           f"found {type(value).__name__} {excerpt(value)}")


def _file_type_name(value: Any) -> str | None:
    """`F16` for general.file_type 1: llama.cpp's name without its MOSTLY_/ALL_ prefix."""
    from gguf import LlamaFileType

    if not isinstance(value, int) or isinstance(value, bool) or value not in LlamaFileType._value2member_map_:
        return None
    return LlamaFileType(value).name.partition("_")[2]


def projector_report(info: GGUFInfo) -> dict[str, Any]:
    """A projector's facts as plain data: its encoder's sizes, projector type, file type, tensors, size."""
    projector_type = info.metadata.get(Keys.Clip.PROJECTOR_TYPE, info.metadata.get(Keys.ClipVision.PROJECTOR_TYPE))
    if projector_type is not None and not isinstance(projector_type, str):
        raise CorruptFileError(f"{info.path}: {Keys.Clip.PROJECTOR_TYPE} must be a string, "
                               f"found {type(projector_type).__name__} {excerpt(projector_type)}")
    return {
        "kind": "projector",
        "path": str(info.path),
        "file_size": info.file_size,
        "architecture": info.architecture,
        "name": info.name,
        "projector_type": projector_type,
        "has_vision_encoder": info.metadata.get(Keys.Clip.HAS_VISION_ENCODER) is True,
        "vision": {field: _count(info, key) for field, key in _VISION_COUNTS.items()},
        "file_type": info.metadata.get(Keys.General.FILE_TYPE),
        "file_type_name": _file_type_name(info.metadata.get(Keys.General.FILE_TYPE)),
        "n_params": info.n_params,
        "bits_per_weight": round(info.bits_per_weight, 4),
        "tensors": sum(t.tensors for t in info.types.values()),
        "tensor_bytes": info.tensor_bytes,
        "types": {k: vars(v) for k, v in sorted(info.types.items())},
    }


def inspect_report(path: Path, n_ctx: int) -> dict[str, Any]:
    """`inspect`'s report as plain data (the summary and the RAM estimate at `n_ctx`); table and --json render it."""
    info = read_gguf_info(path)
    if is_projector(info):
        return projector_report(info)
    data = {"kind": "model", **info.to_dict()}
    data["quantization_version"] = info.metadata.get(Keys.General.QUANTIZATION_VERSION)
    data["file_type"] = info.metadata.get(Keys.General.FILE_TYPE)
    shape = info.model_shape()
    data["memory"] = {"n_ctx": n_ctx, **estimate(shape, n_ctx).to_dict()}
    data["experts"] = ({"count": shape.n_expert, "used": shape.n_expert_used, "bytes": info.expert_bytes}
                       if shape.n_expert else None)
    data["layer_kinds"] = {"full_attention": shape.n_layer - shape.n_recurrent_layers,
                           "linear_attention": shape.n_recurrent_layers}
    return data
