"""The published file-name convention, both ways: `blossom-v5-4b` + Q4_K_M ⇄ `blossom-v5-4b-Q4_K_M.gguf`.

Convert, quantize, the vision projector, the kept intermediate, Modelfiles and `fit` all name files through here,
and `modelfile`/`ollama create` read a file's model back from its name through here, so the
two directions cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

# A type suffix an input name may already carry (`model-f16`, `model.Q8_0`): dropped, not doubled.
_TYPE_SUFFIX = re.compile(r"[-.](I?Q\d\w*|TQ\d_0|MXFP4_MOE|BF16|F16|F32)$", re.IGNORECASE)
INTERMEDIATE_SUFFIX = ".intermediate.gguf"
IMATRIX_SUFFIX = ".imatrix.gguf"
# llama.cpp's converter names a projector after its model file with this prefix.
PROJECTOR_PREFIX = "mmproj-"
# A projector is small beside its model and quantizing it costs image quality: f16 unless asked.
DEFAULT_PROJECTOR_TYPE = "F16"


def base_stem(stem: str) -> str:
    """`Blossom-V5-4B-F16` → `blossom-v5-4b`: lower-case, without a type suffix."""
    return _TYPE_SUFFIX.sub("", stem).lower()


def gguf_name(stem: str, type_name: str) -> str:
    """`blossom-v5-4b-Q4_K_M.gguf`: the stem in lower case, the type in upper case."""
    return f"{base_stem(stem)}-{type_name.upper()}.gguf"


def intermediate_name(stem: str) -> str:
    """The 16-bit file made on the way to a quant, until it is kept under its `gguf_name`."""
    return f"{base_stem(stem)}{INTERMEDIATE_SUFFIX}"


def imatrix_name(stem: str) -> str:
    """`blossom-v5-4b.imatrix.gguf`: one importance matrix per model, whatever type it is used for."""
    return f"{base_stem(stem)}{IMATRIX_SUFFIX}"


def projector_name(stem: str, type_name: str) -> str:
    """`mmproj-blossom-v7.1-9b-F16.gguf`: one vision projector per model, shared by all its quant types."""
    return f"{PROJECTOR_PREFIX}{gguf_name(stem, type_name)}"


def stem_of(path: Path, stems: Iterable[str]) -> str | None:
    """Which of `stems` a file is named after (the longest that fits), or None.

    `blossom-v5.1-9b-Q4_K_M.gguf` is `blossom-v5.1-9b`, never `blossom-v5`: the stem must be
    followed by the type's `-` or the extension's `.`.
    """
    name = path.name.lower()
    found = [s for s in stems if name.startswith(f"{s.lower()}-") or name.startswith(f"{s.lower()}.")]
    return max(found, key=len) if found else None
