"""The files a device probe reads, from the live system or from a captured copy of them.

Everything comes from /proc, /sys and Android's `getprop`, read through a `Tree` so that a
captured copy of those files (`device --capture DIR`) can stand in for the live system
(`device --root DIR`). A capture is input anyone can hand us, so reading is bounded: at most
MAX_FILE_BYTES of a regular file, and a FIFO, a device or a symlink loop reads as missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from blossom_edge.base.bounded_read import NotRegularFile, read_prefix
from blossom_edge.base.errors import NotFoundError
from blossom_edge.device.procfs import kernel_int

GETPROP_FILE = "getprop.txt"
# The most of any one file a probe reads: the largest real /proc/cpuinfo (hundreds of cores)
# is well under this, and a capture's 1 GB "cpuinfo" must not be read whole.
MAX_FILE_BYTES = 1 << 20


class Tree:
    """Reads the files the probes need, under `root`, and remembers which ones it read.

    The live system is root "/" plus the `getprop` command; a capture is a directory with
    the same layout plus getprop.txt. Capturing is probing the live system and copying
    exactly the files that were read. A capture root that is not a directory is a
    NotFoundError rather than an empty device: nothing under it can be read, and a mistyped
    `--device-root` should not quietly plan for a device with no RAM.
    """

    def __init__(self, root: Path | str = "/", live: bool | None = None) -> None:
        self.root = Path(root)
        self.live = str(self.root) == "/" if live is None else live
        if not self.live and not self.root.is_dir():
            raise NotFoundError(f"no such capture directory: {self.root}")
        self.read_paths: dict[str, bytes] = {}
        self._getprop_text: str | None = None

    def _path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def read_bytes(self, rel: str) -> bytes | None:
        """The first MAX_FILE_BYTES of a regular file, or None."""
        data = _read_prefix(self._path(rel))
        if data is not None:
            self.read_paths[rel] = data
        return data

    def read(self, rel: str) -> str | None:
        """A text file with NULs (device-tree strings) and trailing space removed, or None."""
        data = self.read_bytes(rel)
        if data is None:
            return None
        return data.decode("utf-8", "replace").replace("\x00", "\n").strip()

    def read_int(self, rel: str, bounds: tuple[int, int]) -> int | None:
        """The file's first word as an integer within `bounds`, or None: a value the field
        cannot physically have is as unknown as one we could not read."""
        words = (self.read(rel) or "").split(maxsplit=1)
        value = kernel_int(words[0]) if words else None
        return value if value is not None and bounds[0] <= value <= bounds[1] else None

    def listdir(self, rel: str) -> list[str]:
        """Entry names, without those no kernel makes (undecodable bytes, control characters):
        they would end up in the output, which must stay printable UTF-8."""
        try:
            return sorted(name for name in os.listdir(self._path(rel)) if name.isprintable())
        except (OSError, ValueError):
            return []

    def getprop_text(self) -> str | None:
        """What `getprop` prints: from the command when live on Android, else from getprop.txt."""
        if self._getprop_text is not None:
            return self._getprop_text
        if self.live:
            exe = shutil.which("getprop")
            if exe is None:
                return None
            try:
                text = subprocess.run([exe], capture_output=True, text=True, errors="replace", timeout=10,
                                      check=False).stdout[:MAX_FILE_BYTES]
            except (OSError, subprocess.SubprocessError):
                return None
        else:
            data = _read_prefix(self.root / GETPROP_FILE)
            if data is None:
                return None
            text = data.decode("utf-8", "replace")
        self._getprop_text = text
        return text


def _read_prefix(path: Path) -> bytes | None:
    """At most MAX_FILE_BYTES of a regular file, or None for anything else (a FIFO cannot hang
    the probe); /proc and /sys files are regular files, so the live system reads as before."""
    try:
        return read_prefix(path, MAX_FILE_BYTES)
    except (OSError, ValueError, NotRegularFile):
        return None
