"""ARM CPU part numbers → core name, size class and the instructions the core implements.

Kernels list features in /proc/cpuinfo from the HWCAP bits they know about; older ones
(Android 4.9/4.14 kernels) leave out `asimddp` and `i8mm` on cores that execute them, and
llama.cpp's fast Q4_0/Q8_0 paths depend on exactly those two. The part number in
/proc/cpuinfo is always there, so we fill the gap from this table. SVE is not derived:
it needs kernel support for its register state, so only the kernel's word counts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CorePart:
    """One core design: its marketing name, whether it is an efficiency core, and ISA extras."""

    name: str
    little: bool
    features: frozenset[str]


_V82 = frozenset({"neon", "fp16"})
_DOT = _V82 | {"dotprod"}
_I8MM = _DOT | {"i8mm"}

# (implementer, part) → core; implementer 0x41 is Arm Ltd., 0x51 Qualcomm, 0x4e NVIDIA.
PARTS: dict[tuple[int, int], CorePart] = {
    (0x41, 0xD03): CorePart("Cortex-A53", True, frozenset({"neon"})),
    (0x41, 0xD04): CorePart("Cortex-A35", True, frozenset({"neon"})),
    (0x41, 0xD05): CorePart("Cortex-A55", True, _DOT),
    (0x41, 0xD07): CorePart("Cortex-A57", False, frozenset({"neon"})),
    (0x41, 0xD08): CorePart("Cortex-A72", False, frozenset({"neon"})),
    (0x41, 0xD09): CorePart("Cortex-A73", False, frozenset({"neon"})),
    (0x41, 0xD0A): CorePart("Cortex-A75", False, _DOT),
    (0x41, 0xD0B): CorePart("Cortex-A76", False, _DOT),
    (0x41, 0xD0D): CorePart("Cortex-A77", False, _DOT),
    (0x41, 0xD41): CorePart("Cortex-A78", False, _DOT),
    (0x41, 0xD42): CorePart("Cortex-A78AE", False, _DOT),
    (0x41, 0xD44): CorePart("Cortex-X1", False, _DOT),
    (0x41, 0xD46): CorePart("Cortex-A510", True, _I8MM),
    (0x41, 0xD47): CorePart("Cortex-A710", False, _I8MM),
    (0x41, 0xD48): CorePart("Cortex-X2", False, _I8MM),
    (0x41, 0xD4D): CorePart("Cortex-A715", False, _I8MM),
    (0x41, 0xD4E): CorePart("Cortex-X3", False, _I8MM),
    (0x41, 0xD80): CorePart("Cortex-A520", True, _I8MM),
    (0x41, 0xD81): CorePart("Cortex-A720", False, _I8MM),
    (0x41, 0xD82): CorePart("Cortex-X4", False, _I8MM),
    (0x41, 0xD85): CorePart("Cortex-X925", False, _I8MM),
    (0x41, 0xD87): CorePart("Cortex-A725", False, _I8MM),
    (0x41, 0xD88): CorePart("Cortex-A520AE", True, _I8MM),
    (0x51, 0x800): CorePart("Kryo 260/280 Gold (A73)", False, frozenset({"neon"})),
    (0x51, 0x801): CorePart("Kryo 260/280 Silver (A53)", True, frozenset({"neon"})),
    (0x51, 0x802): CorePart("Kryo 385 Gold (A75)", False, _DOT),
    (0x51, 0x803): CorePart("Kryo 385 Silver (A55)", True, _DOT),
    (0x51, 0x804): CorePart("Kryo 485 Gold (A76)", False, _DOT),
    (0x51, 0x805): CorePart("Kryo 485 Silver (A55)", True, _DOT),
    (0x4E, 0x004): CorePart("NVIDIA Carmel", False, _DOT),
}


def lookup(implementer: int | None, part: int | None) -> CorePart | None:
    """The core design for an (implementer, part) pair from /proc/cpuinfo, if we know it."""
    if implementer is None or part is None:
        return None
    return PARTS.get((implementer, part))
