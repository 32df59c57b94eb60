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


# Go strings are bytes; here they are str, with any byte that is not UTF-8 carried as the lone
# surrogate `surrogateescape` makes of it, so a text template can hold what Go's strings hold.
_SIMPLE_ESCAPES = {"a": 0x07, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B, "\\": 0x5C}
_HEX = frozenset("0123456789abcdefABCDEF")


def go_bytes(text: str) -> bytes:
    """The bytes of a Go string held as str."""
    return text.encode("utf-8", "surrogateescape")


def go_string(data: bytes) -> str:
    """A Go string (any bytes) held as str."""
    return data.decode("utf-8", "surrogateescape")


def _unquote_body(body: str, quote: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == quote or ch == "\n":
            raise ValueError(body)
        if ch != "\\":
            out += go_bytes(ch)
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError(body)
        esc = body[i + 1]
        i += 2
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
        elif esc in "'\"":
            if esc != quote:
                raise ValueError(body)
            out.append(ord(esc))
        elif esc in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i:i + n]
            if len(digits) != n or not set(digits) <= _HEX:
                raise ValueError(body)
            i += n
            value = int(digits, 16)
            if esc == "x":
                out.append(value)
            elif value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise ValueError(body)
            else:
                out += chr(value).encode("utf-8")
        elif esc in "01234567":
            digits = body[i - 1:i + 2]
            if len(digits) != 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
                raise ValueError(body)
            i += 2
            out.append(int(digits, 8))
        else:
            raise ValueError(body)
    return bytes(out)


def unquote(literal: str) -> str:
    """`strconv.Unquote` for a "double-quoted" or `raw` literal: escapes decode to the bytes Go
    gives (\\x and octal escapes may make bytes that are not UTF-8), a raw string loses its \\r."""
    if len(literal) >= 2 and literal[0] == literal[-1] == "`":
        body = literal[1:-1]
        if "`" in body:
            raise ValueError(literal)
        return body.replace("\r", "")
    if len(literal) >= 2 and literal[0] == literal[-1] == '"':
        return go_string(_unquote_body(literal[1:-1], '"'))
    raise ValueError(literal)


def unquote_char(literal: str) -> int:
    """The rune of a 'c' character literal, as text/template's parser reads it with `UnquoteChar`."""
    if len(literal) < 3 or literal[0] != "'" or literal[-1] != "'":
        raise ValueError(literal)
    body = literal[1:-1]
    if body.startswith("\\") and body[1:2] in ("x", "0", "1", "2", "3", "4", "5", "6", "7"):
        data = _unquote_body(body, "'")
        if len(data) != 1:
            raise ValueError(literal)
        return data[0]
    decoded = _unquote_body(body, "'").decode("utf-8", "surrogateescape")
    if len(decoded) != 1:
        raise ValueError(literal)
    return ord(decoded)


def quote(text: str) -> str:
    """`strconv.Quote`: printable runes kept, the rest escaped; bytes that are not UTF-8 as \\xNN."""
    return _quote(text, '"')


def quote_rune(code: int) -> str:
    """`strconv.QuoteRune`, fmt's %q of an integer: 'a', '\\n', a code point that is no rune as '�'."""
    if not 0 <= code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD
    return _quote(chr(code), "'")


def _quote(text: str, delimiter: str) -> str:
    out = [delimiter]
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF and delimiter == '"':
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == delimiter or ch == "\\":
            out.append("\\" + ch)
        elif is_print(ch):
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append(delimiter)
    return "".join(out)


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest digits that read back as `value` and the decimal point's place: 0.0125 is ("125", -1)."""
    mantissa, _, exponent = f"{abs(value):.17e}".partition("e")
    shortest = repr(abs(value))
    if "e" in shortest:
        mantissa, _, exponent = shortest.partition("e")
    else:
        whole, _, frac = shortest.partition(".")
        digits = (whole + frac).lstrip("0")
        point = len(whole) if whole != "0" else -(len(frac) - len(frac.lstrip("0")))
        digits = digits.rstrip("0") or "0"
        return digits, point if digits != "0" else 1
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).rstrip("0") or "0"
    return digits, int(exponent) + 1


def _digits_text(sign: str, digits: str, point: int, exponent: bool) -> str:
    if exponent:
        exp = point - 1
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def format_float(value: float) -> str:
    """`strconv.FormatFloat(value, 'g', -1, 64)`, which is fmt's %v of a float64: the shortest
    digits that read back as `value`, with an exponent when it is below -4 or from 6 on (1e+06)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    digits, point = _shortest_digits(value)
    return _digits_text(sign, digits, point, not -4 <= point - 1 < 6)


def json_float(value: float) -> str:
    """encoding/json's float64: shortest digits, an exponent only below 1e-6 or from 1e21 on,
    written without a leading zero in it (1e-7, 1e+21)."""
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    digits, point = _shortest_digits(value)
    exponent = value != 0 and not 1e-6 <= abs(value) < 1e21
    text = _digits_text(sign, digits, point, exponent)
    return text.replace("e-0", "e-") if exponent else text
