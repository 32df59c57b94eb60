"""Outputs that either exist complete or not at all.

A converter or quantizer that dies half-way (Ctrl-C, a full disk, llama.cpp aborting)
must not leave a file with the final name that looks usable. Everything is written to
`NAME.partial` beside the final path, flushed to disk, and only then renamed; on any
failure the partial file is removed and the exception goes on up unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from blossom_edge.errors import BlossomError, UsageError

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


class OutputBusyError(BlossomError):
    """Another run is writing the same output right now."""


def refuse_overwriting(output: Path, inputs: Iterable[Path]) -> None:
    """Refuse an output that is (or resolves to, or is a hard link of) one of the inputs.

    The final rename would replace the input with the output: `convert -o` naming one of the
    checkpoint's own shards used to destroy the checkpoint and exit 0.
    """
    target = output.expanduser().resolve()
    for source in inputs:
        source = Path(source).expanduser()
        same = source.resolve() == target
        if not same and target.exists() and source.exists():
            same = os.path.samefile(source, target)
        if same:
            raise UsageError(f"the output {output} is one of the inputs ({source.name}); choose another output")


def _claim(partial: Path) -> int:
    """Open `partial` and hold an exclusive lock on it: the one writer of this output.

    A partial left by a run that died is locked by nobody and is taken over; one held by a
    live run makes this one fail at once. After locking, the name must still be the file we
    locked: the other run may have renamed it into place meanwhile.
    """
    import fcntl

    while True:
        fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusyError(f"another run is writing {partial.name.removesuffix(PARTIAL_SUFFIX)} right now "
                                  f"({partial.name} is locked); wait for it or choose another output") from None
        try:
            if os.stat(partial).st_ino == os.fstat(fd).st_ino:
                os.ftruncate(fd, 0)
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _remove_if_ours(partial: Path, fd: int) -> None:
    try:
        if os.stat(partial).st_ino == os.fstat(fd).st_ino:
            partial.unlink()
    except FileNotFoundError:
        pass


@contextmanager
def atomic_output(final: Path | str) -> Iterator[Path]:
    """Yield the `.partial` path to write; on success it becomes `final`, on failure it is removed.

    The body may write the partial path itself or hand it to a child process; it must
    write something. The partial is locked for the whole run, so two runs cannot write the
    same output at once (the second fails with one line); a stale partial from an earlier
    crash is taken over.

        with atomic_output(out_dir / "model-Q4_K_M.gguf") as tmp:
            write_gguf(tmp)
    """
    final = Path(final)
    check_writable_dir(final.parent)
    partial = partial_path(final)
    fd = _claim(partial)
    try:
        yield partial
        if not partial.is_file() or partial.stat().st_size == 0:
            raise FileNotFoundError(2, "the output was not written", str(partial))
        _fsync_path(partial)
        os.replace(partial, final)
        _fsync_path(final.parent, directory=True)
    except BaseException:
        _remove_if_ours(partial, fd)
        raise
    finally:
        os.close(fd)


def atomic_write_text(final: Path | str, text: str) -> Path:
    """A small text output (Modelfile, manifest) written whole or not at all, as UTF-8 bytes."""
    final = Path(final)
    with atomic_output(final) as partial:
        partial.write_bytes(text.encode("utf-8"))
    return final
