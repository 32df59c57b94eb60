"""Outputs that either exist complete or not at all.

A converter or quantizer that dies half-way (Ctrl-C, a full disk, llama.cpp aborting)
must not leave a file with the final name that looks usable. Everything is written to
`NAME.partial` beside the final path, flushed to disk, and only then renamed; on any
failure the partial file is removed and the exception goes on up unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from blossom_edge.errors import BlossomError

PARTIAL_SUFFIX = ".partial"


class OutputNotWritableError(BlossomError):
    """The directory chosen for an output cannot be written to."""


def partial_path(final: Path) -> Path:
    """Where the work-in-progress for `final` lives; shown to users if they look mid-run."""
    return final.with_name(final.name + PARTIAL_SUFFIX)


def check_writable_dir(directory: Path) -> None:
    """Fail before hours of work, not after, when the output directory is unusable.

    `os.access` is not enough: root passes it on a read-only mount, so a probe file is
    created and removed.
    """
    if not directory.is_dir():
        raise OutputNotWritableError(f"output directory does not exist: {directory}")
    probe = directory / f".blossom-edge-probe-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise OutputNotWritableError(f"cannot write to {directory}: {exc.strerror or exc}") from exc


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return  # some platforms (Windows, a few FUSE mounts) cannot open directories
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextmanager
def atomic_output(final: Path | str) -> Iterator[Path]:
    """Yield the `.partial` path to write; on success it becomes `final`, on failure it is removed.

    The body may write the partial path itself or hand it to a child process; it must
    exist when the body ends. A stale partial from an earlier crash is replaced.

        with atomic_output(out_dir / "model-Q4_K_M.gguf") as tmp:
            write_gguf(tmp)
    """
    final = Path(final)
    check_writable_dir(final.parent)
    partial = partial_path(final)
    partial.unlink(missing_ok=True)
    try:
        yield partial
        if not partial.is_file():
            raise FileNotFoundError(2, "the output was not written", str(partial))
        _fsync_path(partial)
        os.replace(partial, final)
        _fsync_path(final.parent, directory=True)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def atomic_write_text(final: Path | str, text: str) -> Path:
    """A small text output (Modelfile, manifest) written whole or not at all, as UTF-8 bytes."""
    final = Path(final)
    with atomic_output(final) as partial:
        partial.write_bytes(text.encode("utf-8"))
    return final
