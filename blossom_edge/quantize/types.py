"""The types llama.cpp's quantizer offers: names, typical size, and which need an importance matrix.

Type numbers are gguf-py's `LlamaFileType` (llama.h's `enum llama_ftype`), looked up by name,
so this table only adds what gguf-py does not know: typical bits per weight and the
importance-matrix rule llama-quantize enforces.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from blossom_edge.base.errors import NotFoundError, UsageError

# Tensor types that lose nothing against a 16-bit checkpoint.
LOSSLESS_TYPES = frozenset({"F32", "F16", "BF16"})
# In llama.h but not yet in gguf-py 0.19's LlamaFileType; tests check it against llama-cpp-python.
_NOT_IN_GGUF_PY = {"Q2_0": 41}


@dataclass(frozen=True)
class QuantType:
    """One type llama.cpp's quantizer offers; `bpw` is typical for a whole 8B model, mixes included."""

    name: str
    bpw: float
    needs_imatrix: bool = False
    alias_of: str | None = None

    @property
    def ftype(self) -> int:
        """llama.h's file-type number, what `llama_model_quantize` is asked for."""
        from gguf import LlamaFileType

        name = self.alias_of or self.name
        if name in _NOT_IN_GGUF_PY:
            return _NOT_IN_GGUF_PY[name]
        return int(LlamaFileType.ALL_F32 if name == "F32" else LlamaFileType[f"MOSTLY_{name}"])


# bpw for the mixes come from the sizes llama.cpp reports for Llama-3-8B (embeddings and output
# kept at higher precision count in). For the IQ types llama.cpp's table gives only the block's own
# bits, which a whole file exceeds by 10-30 % (the embeddings and output stay at 4-6 bits), so theirs
# are the sizes of published Llama-3(.1)-8B-Instruct files (8.03 B parameters) of bartowski's
# Meta-Llama-3-8B-Instruct-GGUF-special-tokens and Meta-Llama-3.1-8B-Instruct-GGUF repositories on the
# Hugging Face Hub: IQ1_S 2.02 GB, IQ1_M 2.16, IQ2_XXS 2.40, IQ2_XS 2.61, IQ2_S 2.76, IQ2_M 2.95,
# IQ3_XXS 3.27, IQ3_XS 3.52, IQ3_M 3.78, IQ4_XS 4.45 (IQ3_S and IQ4_NL: block bits; no file was found).
QUANT_TYPES: tuple[QuantType, ...] = (
    QuantType("Q1_0", 1.125),
    QuantType("TQ1_0", 1.69),
    QuantType("IQ1_S", 2.01, needs_imatrix=True),
    QuantType("TQ2_0", 2.06),
    QuantType("IQ1_M", 2.15, needs_imatrix=True),
    QuantType("Q2_0", 2.25),
    QuantType("IQ2_XXS", 2.39, needs_imatrix=True),
    QuantType("IQ2_XS", 2.6, needs_imatrix=True),
    QuantType("IQ2_S", 2.75, needs_imatrix=True),
    QuantType("IQ2_M", 2.94, needs_imatrix=True),
    QuantType("IQ3_XXS", 3.26, needs_imatrix=True),
    QuantType("Q2_K_S", 3.17, needs_imatrix=True),
    QuantType("Q2_K", 3.17),
    QuantType("IQ3_S", 3.44),
    QuantType("IQ3_XS", 3.51),
    QuantType("Q3_K_S", 3.65),
    QuantType("IQ3_M", 3.77),
    QuantType("Q3_K_M", 4.0),
    QuantType("Q3_K", 4.0, alias_of="Q3_K_M"),
    QuantType("MXFP4_MOE", 4.25),
    QuantType("IQ4_XS", 4.43),
    QuantType("Q3_K_L", 4.31),
    QuantType("IQ4_NL", 4.5),
    QuantType("Q4_0", 4.64),
    QuantType("Q4_K_S", 4.67),
    QuantType("Q4_K_M", 4.9),
    QuantType("Q4_K", 4.9, alias_of="Q4_K_M"),
    QuantType("Q4_1", 5.11),
    QuantType("Q5_0", 5.57),
    QuantType("Q5_K_S", 5.57),
    QuantType("Q5_K_M", 5.7),
    QuantType("Q5_K", 5.7, alias_of="Q5_K_M"),
    QuantType("Q5_1", 6.04),
    QuantType("Q6_K", 6.57),
    QuantType("Q8_0", 8.51),
    QuantType("BF16", 16.0),
    QuantType("F16", 16.0),
    QuantType("F32", 32.0),
)

_BY_NAME = {q.name: q for q in QUANT_TYPES}


def parse_qtype(text: str) -> QuantType:
    """The quant type a user named (any case, `q4_k` → Q4_K_M), or a usage error listing them all."""
    key = text.strip().upper().replace("-", "_")
    found = _BY_NAME.get(key)
    if found is not None:
        return _BY_NAME[found.alias_of] if found.alias_of else found
    near = difflib.get_close_matches(key, list(_BY_NAME), n=1, cutoff=0.5)
    hint = f" (did you mean {near[0].lower()}?)" if near else ""
    valid = ", ".join(f"{q.name.lower()} {q.bpw:g}" for q in QUANT_TYPES if not q.alias_of)
    raise UsageError(f"unknown quant type '{text}'{hint}; valid types with typical bits per weight: {valid}")


# Types whose quantizer takes no importance matrix: an `--imatrix auto` for them is a mistake.
_IGNORES_IMATRIX = frozenset({"Q8_0", "BF16", "F16", "F32"})
AUTO, NONE = "auto", "none"


def imatrix_choice(qtype: QuantType, given: str | Path | None) -> Path | str | None:
    """What `--imatrix` means for this type: a file, AUTO (compute one), or None (quantize without).

    Not given: AUTO for the types llama.cpp refuses without one, None for the rest (their
    output stays what plain llama-quantize makes).
    """
    text = str(given).strip().lower() if given is not None else None
    if text is None:
        return AUTO if qtype.needs_imatrix else None
    if text == NONE:
        if qtype.needs_imatrix:
            raise UsageError(f"{qtype.name.lower()} needs an importance matrix: use --imatrix auto (the default) "
                             "or --imatrix FILE, or pick a type such as q2_k, iq3_s or iq4_xs")
        return None
    if text == AUTO:
        if qtype.name in _IGNORES_IMATRIX:
            raise UsageError(f"{qtype.name.lower()} does not use an importance matrix; drop --imatrix")
        return AUTO
    path = Path(str(given)).expanduser()
    require_imatrix(qtype, path)
    return path


def require_imatrix(qtype: QuantType, imatrix: Path | None) -> None:
    """llama.cpp refuses these without an importance matrix; say so before any work starts."""
    if imatrix is None and qtype.needs_imatrix:
        raise UsageError(
            f"{qtype.name.lower()} needs an importance matrix: pass --imatrix FILE or --imatrix auto "
            "(computed by `blossom-edge imatrix`), or pick a type such as q2_k, iq3_s or iq4_xs"
        )
    if imatrix is not None and not imatrix.is_file():
        raise NotFoundError(f"no such importance matrix file: {imatrix}")
    if imatrix is not None:
        from blossom_edge.imatrix.reader import load_imatrix

        # Read it here too: in the quantizer child a damaged file would surface as a traceback.
        load_imatrix(imatrix)
