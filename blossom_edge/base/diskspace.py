"""Will it fit? A free-space check before work that writes gigabytes.

Running out of disk after twenty minutes of converting is the worst way to learn it, so the
pipeline adds up what it will write (per file system, since the cache, intermediate and output
may live on different ones) and stops at once with the numbers when it does not fit. A
temporary intermediate that fits in RAM goes to a RAM-backed directory instead, so it costs
no disk at all (`place_intermediate`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from blossom_edge.base.errors import ResourceError

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
    from blossom_edge.base.output import human_bytes

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


# ----------------------------------------------------------------------------- intermediates in RAM

# The intermediate may take at most this share of available RAM: the quantizer, verification and
# everything else on the machine still need the rest, and tmpfs pages cannot be swapped out if
# there is no swap.
RAM_SHARE = 0.5
RAM_DIR = Path("/dev/shm")
_RAM_PREFIX = "blossom-edge-"


@dataclass(frozen=True)
class Placement:
    """Where a temporary file goes: `directory` to write it in, and whether that is RAM or disk."""

    directory: Path
    in_ram: bool

    @property
    def location(self) -> str:
        return "ram" if self.in_ram else "disk"


def available_ram() -> int:
    """Bytes the kernel says can be used without swapping (MemAvailable), which tmpfs writes consume."""
    import psutil

    return int(psutil.virtual_memory().available)


def ram_dir() -> Path | None:
    """A RAM-backed directory we may write to (Linux's /dev/shm), or None where there is none."""
    if sys.platform.startswith("linux") and RAM_DIR.is_dir() and os.access(RAM_DIR, os.W_OK | os.X_OK):
        return RAM_DIR
    return None


def place_intermediate(size: int, output_dir: Path, *, keep: bool) -> Placement:
    """RAM when `size` fits comfortably there and the file is not to be kept, else beside the output.

    A 16-bit intermediate is as large as the checkpoint; in RAM it never touches the disk, and the
    quantizer reads it at memory speed. "Comfortably" is at most RAM_SHARE of available RAM and
    within the tmpfs's own free space (its size limit is separate from RAM).
    """
    if not keep and fits_in_ram(size):
        ram = ram_dir()
        assert ram is not None  # fits_in_ram found it
        _sweep_orphans(ram)
        return Placement(Path(tempfile.mkdtemp(prefix=f"{_RAM_PREFIX}{os.getpid()}-", dir=ram)), True)
    return Placement(output_dir, False)


def fits_in_ram(size: int) -> bool:
    """Whether `size` bytes, with margin, fit in the RAM directory under RAM_SHARE of available RAM."""
    ram = ram_dir()
    if ram is None:
        return False
    wanted = int(size * (1 + MARGIN_FRACTION)) + MARGIN_BYTES
    return wanted <= RAM_SHARE * available_ram() and wanted <= shutil.disk_usage(ram).free


def _sweep_orphans(ram: Path) -> None:
    """Remove RAM directories left by runs that were killed outright (SIGKILL, OOM): they hold RAM until reboot."""
    import psutil

    for stale in ram.glob(f"{_RAM_PREFIX}*-*"):
        pid = stale.name[len(_RAM_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
