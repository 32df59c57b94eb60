"""Will it fit? A free-space check before work that writes gigabytes.

Running out of disk after twenty minutes of converting is the worst way to learn it, so the
pipeline adds up what it will write (per file system, since the cache, intermediate and output
may live on different ones) and stops at once with the numbers when it does not fit.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from blossom_edge.errors import ResourceError

# Head-room for metadata, file-system overhead and estimates that come out a little low.
MARGIN_FRACTION = 0.05
MARGIN_BYTES = 64 << 20


@dataclass(frozen=True)
class DiskNeed:
    """`bytes` that will be written under `where`, called `label` in messages."""

    label: str
    where: Path
    bytes: int


def _existing(path: Path) -> Path:
    """The nearest existing ancestor: outputs are checked before their directory is made."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged write could still use on the file system holding `path`."""
    return shutil.disk_usage(_existing(path)).free


def check_free_space(needs: list[DiskNeed]) -> None:
    """Raise ResourceError, one line with the numbers, if the writes cannot fit."""
    from blossom_edge.output import human_bytes

    by_device: dict[int, list[DiskNeed]] = {}
    for need in needs:
        if need.bytes > 0:
            by_device.setdefault(os.stat(_existing(need.where)).st_dev, []).append(need)
    for group in by_device.values():
        total = sum(n.bytes for n in group)
        wanted = int(total * (1 + MARGIN_FRACTION)) + MARGIN_BYTES
        free = free_bytes(group[0].where)
        if wanted > free:
            parts = " + ".join(f"{n.label} {human_bytes(n.bytes)}" for n in group)
            raise ResourceError(
                f"not enough free disk space in {_existing(group[0].where)}: need about {human_bytes(wanted)} "
                f"({parts}, with margin), {human_bytes(free)} free; free some space or choose another "
                "directory with -o"
            )
