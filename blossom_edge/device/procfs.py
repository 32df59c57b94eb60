"""Parsers of the text the kernel and Android write: getprop, /proc/meminfo, /proc/cpuinfo, CPU lists.

A capture is input anyone can hand us, so nothing here trusts the text to be what a kernel
writes: integers only in ASCII digits and within what the field can physically be (a
10^30 kB meminfo line is unknown, not a number), CPU lists capped at MAX_CPUS ids, and no
pattern is matched across a whole file. Text that does not parse is left out, never an error.
"""

from __future__ import annotations

import re

# CPU ids from here on are dropped: arm64 kernels top out at 4096 CPUs, and a list such as
# `0-99999999` must not become 10^8 cores to probe one by one.
MAX_CPUS = 4096
MAX_MEMORY_BYTES = 1 << 50  # 1 PiB
# An integer as the kernel writes one (ASCII, at most what a signed 64-bit value has);
# `str.isdigit` would also pass "٣" and "²", and int() then accepts the first and raises on the second.
_INT = re.compile(r"[+-]?[0-9]{1,19}")
_CPU_RANGE = re.compile(r"([0-9]{1,19})(?:-([0-9]{1,19}))?")
_HEX = re.compile(r"(?:0[xX])?([0-9a-fA-F]{1,16})")
# One `[key]: [value]` line; matched line by line so no pattern can span the whole file.
_GETPROP_LINE = re.compile(r"\[([^\]]+)\]:\s*\[(.*)\]\s*")


def kernel_int(word: str) -> int | None:
    """`word` as an integer if the kernel could have written it, else None (never a ValueError)."""
    return int(word) if _INT.fullmatch(word) else None


def parse_hex(value: str | None) -> int | None:
    """A `CPU implementer` or `CPU part` value; None when it is not one, so the core stays unnamed."""
    match = _HEX.fullmatch((value or "").strip())
    return int(match.group(1), 16) if match else None


def parse_getprop(text: str | None) -> dict[str, str]:
    """`[key]: [value]` lines → dict; anything else is ignored."""
    props: dict[str, str] = {}
    for line in (text or "").split("\n"):
        match = _GETPROP_LINE.fullmatch(line)
        if match:
            props[match.group(1)] = match.group(2)
    return props


def parse_meminfo(text: str | None) -> dict[str, int]:
    """/proc/meminfo → bytes per key (the kernel writes kB); an amount past MAX_MEMORY_BYTES is left out."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        amount = kernel_int(parts[0]) if parts else None
        if amount is None:
            continue
        amount *= 1024 if len(parts) > 1 and parts[1] == "kB" else 1
        if 0 <= amount <= MAX_MEMORY_BYTES:
            out[key.strip()] = amount
    return out


def parse_cpuinfo(text: str | None) -> tuple[list[dict[str, str]], dict[str, str]]:
    """/proc/cpuinfo → one dict per `processor` block, plus the trailing machine-wide block."""
    blocks: list[dict[str, str]] = []
    common: dict[str, str] = {}
    for chunk in re.split(r"\n\s*\n", text or ""):
        entry: dict[str, str] = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if _cpu_id(entry.get("processor", "")) is not None:
            blocks.append(entry)
        elif entry:
            common.update(entry)
    return blocks, common


def _cpu_id(text: str) -> int | None:
    """A `processor` number from /proc/cpuinfo, if it is one a kernel could write."""
    value = kernel_int(text)
    return value if value is not None and 0 <= value < MAX_CPUS else None


def parse_cpu_list(text: str | None) -> list[int]:
    """Kernel CPU lists such as `0-3,6` → [0, 1, 2, 3, 6], each id once, in order.

    Parts that are not `N` or `N-M` in ASCII digits with N ≤ M are skipped, and ids from
    MAX_CPUS on are dropped: `0-99999999` reads as CPUs 0 to 4095, and a list repeating
    `0-4095` a million times costs one pass over it.
    """
    present = bytearray(MAX_CPUS)
    for part in (text or "").replace("\n", ",").split(","):
        match = _CPU_RANGE.fullmatch(part.strip())
        if not match:
            continue
        lo, hi = int(match.group(1)), int(match.group(2) or match.group(1))
        if lo <= hi and lo < MAX_CPUS:
            hi = min(hi, MAX_CPUS - 1)
            present[lo:hi + 1] = b"\x01" * (hi + 1 - lo)
    return [cpu for cpu, on in enumerate(present) if on]
