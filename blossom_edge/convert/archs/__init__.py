"""Every architecture the converter supports, and the lookup from a config.json; add a module and list it here."""

from __future__ import annotations

from blossom_edge.base.errors import UnsupportedError
from blossom_edge.convert.arch import Architecture, check_config
from blossom_edge.convert.archs.glm4 import GLM4
from blossom_edge.convert.archs.llama import LLAMA
from blossom_edge.convert.archs.qwen2 import QWEN2
from blossom_edge.convert.archs.qwen3 import QWEN3
from blossom_edge.convert.archs.qwen3_5 import QWEN3_5
from blossom_edge.convert.archs.qwen3_5_moe import QWEN3_5_MOE
from blossom_edge.convert.archs.qwen3_moe import QWEN3_MOE
from blossom_edge.convert.archs.seed_oss import SEED_OSS

ARCHITECTURES = (QWEN2, QWEN3, QWEN3_MOE, LLAMA, GLM4, SEED_OSS, QWEN3_5, QWEN3_5_MOE)
_BY_HF_NAME = {name: arch for arch in ARCHITECTURES for name in arch.hf_names}


def supported_names() -> list[str]:
    return sorted(_BY_HF_NAME)


def architecture_for(config: dict) -> Architecture:
    """The architecture for a config.json, or one line naming the ones we support."""
    check_config(config)
    names = config.get("architectures") or []
    for name in names:
        if name in _BY_HF_NAME:
            return _BY_HF_NAME[name]
    shown = ", ".join(names) if names else "none declared in config.json"
    raise UnsupportedError(
        f"unsupported architecture ({shown}); supported: {', '.join(supported_names())}"
    )
