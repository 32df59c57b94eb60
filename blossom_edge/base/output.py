"""Where output goes: data on stdout, everything for humans (progress, notes, errors) on stderr.

Keeping stdout for data is what lets `--json` be piped into jq while progress bars still
show on the terminal. These are the few helpers library code may use too (a note, a size);
a command's output, its modes and its progress bars are `cli/output.py`'s `Output`.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def err_console() -> Console:
    """The console for progress and notes; created on first use to keep start-up fast."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Write machine output: plain JSON, no colour, one document, newline-terminated."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A one-line note for humans on stderr (a warning, or where a result went); never wrapped."""
    err_console().print(message, soft_wrap=True)


def human_bytes(n: float) -> str:
    """Sizes the way people read them on a phone screen: 1.5 GiB, 640.0 MiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
