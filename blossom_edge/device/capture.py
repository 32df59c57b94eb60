"""Copying the files a probe reads on this machine, so the device can be probed elsewhere later.

A capture goes with a bug report or into tests (`device --capture DIR`), and `device --root DIR`
or `--device-root DIR` reads it back through a `Tree` as if it were the live system.
"""

from __future__ import annotations

import stat
from pathlib import Path

from blossom_edge.base.atomic import OutputBlockedError, atomic_write_bytes
from blossom_edge.device.probe import probe
from blossom_edge.device.procfs import parse_cpu_list
from blossom_edge.device.tree import GETPROP_FILE, Tree


def capture(dest: Path) -> list[str]:
    """Write the files the probes read on this machine under `dest`; return their paths.

    A capture is often made into a directory that holds an older one, or a tree unpacked
    from someone else's bug report: each file is written as a new one and renamed into place,
    and each directory on the way must be a real directory inside `dest`, so a symlink or
    hard link planted there is replaced, never written through.
    """
    tree = Tree("/", live=True)
    probe(tree)
    for extra in ("scaling_max_freq",):
        for cpu in parse_cpu_list(tree.read("/sys/devices/system/cpu/present")):
            tree.read(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/{extra}")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for rel, data in sorted(tree.read_paths.items()):
        parts = Path(rel.lstrip("/")).parts
        atomic_write_bytes(_capture_dir(dest, parts[:-1]) / parts[-1], data)
        written.append(rel)
    text = tree.getprop_text()
    if text:
        atomic_write_bytes(dest / GETPROP_FILE, text.encode("utf-8"))
        written.append(GETPROP_FILE)
    return written


def _capture_dir(dest: Path, parts: tuple[str, ...]) -> Path:
    """`dest/parts…`, made one level at a time; a level that is a symlink (leading outside the
    capture) or not a directory ends the capture in one line instead of being followed."""
    directory = dest
    for part in parts:
        directory = directory / part
        try:
            directory.mkdir()
        except FileExistsError:
            if not stat.S_ISDIR(directory.lstat().st_mode):
                raise OutputBlockedError(f"{directory} is not a directory of the capture (a link or a file); "
                                         f"capture into a new directory") from None
    return directory
