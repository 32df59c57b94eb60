"""Sizes typed on the command line (`8G`, `512M`, `1.5GiB`, `50GB`) as bytes: the one parser every size option uses.

What a unit letter means depends on what is measured, so each option says: RAM is counted in powers
of 1024 (a phone's "8 GB" is 8 GiB), while the Hub's 50 GB file limit and llama.cpp's gguf-split
count in powers of 1000. `KiB`, `MiB`, … are powers of 1024 for every option. A number without a
unit is refused rather than guessed: "4" read as bytes or as gigabytes surprises someone either way.
"""

from __future__ import annotations

import re
from fractions import Fraction

from blossom_edge.base.errors import UsageError, excerpt

# Digits, an optional fraction, then an optional K/M/G/T and B or iB; ASCII digits only (int() and
# float() also take other scripts' digits and underscores, which no size is written with).
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([KMGT]?)(I?B)?\s*", re.IGNORECASE | re.ASCII)
_PREFIXES = "KMGT"
# Longer than any size anyone types; keeps a pasted flood of digits out of Fraction and the message.
MAX_TEXT = 40
# 1 EiB: past every device and file this tool meets, and within what a C int64 holds.
MAX_BYTES = 1 << 60


def unit_help(*, binary: bool) -> str:
    """The units sentence of an option's --help, so every size option explains them the same way."""
    if binary:
        return "Units K, M, G, T, with or without B or iB, are powers of 1024; a unit is required."
    return "Units K, M, G, T (or KB, MB, …) are powers of 1000, KiB, MiB, GiB, TiB of 1024; a unit is required."


def parse_size(text: str, *, option: str, example: str, binary: bool) -> int:
    """Bytes for `text`, whole (a fraction of a byte is dropped); anything else is one UsageError naming `option`.

    `binary` says whether K, M, G, T (alone or with B) are powers of 1024 for this option.
    """
    shown = excerpt(text, MAX_TEXT)
    match = _SIZE.fullmatch(text) if len(text) <= MAX_TEXT else None
    if match is None or ((match.group(3) or "").upper() == "IB" and not match.group(2)):
        raise UsageError(f"invalid size '{shown}' for {option}: give a number and a unit, like {example}")
    number, prefix, suffix = match.group(1), match.group(2).upper(), (match.group(3) or "").upper()
    if not prefix and not suffix:
        raise UsageError(f"{option} takes a size with a unit, like {example}; '{shown}' has none")
    base = 1024 if binary or suffix == "IB" else 1000
    size = int(Fraction(number) * base ** (_PREFIXES.index(prefix) + 1 if prefix else 0))
    if size < 1:
        raise UsageError(f"invalid size '{shown}' for {option}: it must be at least one byte")
    if size > MAX_BYTES:
        raise UsageError(f"invalid size '{shown}' for {option}: more than 1 EiB, past any device or file")
    return size
