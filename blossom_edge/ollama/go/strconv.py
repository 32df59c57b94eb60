"""Go's strconv, as far as Ollama leans on it to read a Modelfile (at `OLLAMA_COMMIT`, `blossom_edge.ollama.go`).

Ollama's parser drops what `IsPrint` rejects, and `api.FormatParams` types every PARAMETER
with `ParseInt`, `ParseFloat` and `ParseBool`: a value Python would read differently from Go
is a Modelfile that passes here and fails in `ollama create`, so Go's grammar is kept exactly,
and every error Go returns is a ValueError here.
"""

from __future__ import annotations

import math
import re
import struct

_INT = re.compile(r"[+-]?[0-9]+\Z")
_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)"
                        r"(?:[eE][+-]?[0-9](?:_?[0-9])*)?\Z")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+\Z")
_SPECIAL_FLOATS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
                   "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}
_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
          "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def is_print(ch: str) -> bool:
    """`strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space, which is
    the set Python's `isprintable` keeps too."""
    return ch.isprintable()


def parse_float32(text: str) -> float:
    """`strconv.ParseFloat(text, 32)`: bad syntax and values beyond float32's range are errors."""
    if text.lower() in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text.lower()]
    if _DEC_FLOAT.match(text):
        value = float(text.replace("_", ""))
    elif _HEX_FLOAT.match(text):
        try:
            value = float.fromhex(text)
        except OverflowError:
            value = math.inf
    else:
        raise ValueError(text)
    if math.isinf(value):  # a finite spelling past float64 ("1e999"): Go's ErrRange
        raise ValueError(text)
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        raise ValueError(text) from None


def parse_int64(text: str) -> int:
    """`strconv.ParseInt(text, 10, 64)`.

    Leading zeros go before int() sees the digits: Go accepts any number of them, and int()
    refuses strings past Python's 4300-digit limit with an error of its own.
    """
    if not _INT.match(text):
        raise ValueError(text)
    digits = text.lstrip("+-").lstrip("0") or "0"
    if len(digits) > 19:
        raise ValueError(text)
    value = -int(digits) if text.startswith("-") else int(digits)
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


def parse_bool(text: str) -> bool:
    """`strconv.ParseBool`: only its twelve spellings, where Python would take any non-empty string."""
    if text not in _BOOLS:
        raise ValueError(text)
    return _BOOLS[text]
