"""Outputs that either exist complete or not at all, written only into files the run created.

A converter or quantizer that dies half-way (Ctrl-C, a full disk, llama.cpp aborting)
must not leave a file with the final name that looks usable. Everything is written to
`NAME.partial` beside the final path, flushed to disk, and only then renamed; on any
failure the partial file is removed and the exception goes on up unchanged.

The partial is always a new inode this run created (O_CREAT|O_EXCL|O_NOFOLLOW) and holds
an exclusive flock for the whole run. Whatever already sits at `NAME.partial` (a symlink
to ~/.bashrc, a hard link to another file, a stale partial, a FIFO) is never opened for
writing: unless a live run holds it, it is taken away and a fresh file made. The final
rename replaces the entry `NAME` itself, so a symlink there is replaced, not written
through.

The body and its writers (gguf-py, matplotlib, llama.cpp in a child process) open the
partial again by its path, usually with O_TRUNC. Nothing can swap the name in between:
every run of this tool creates a partial only where no entry exists (O_EXCL) and removes
a file only while holding a lock on it, which it cannot get while we hold ours; anyone else
who could rename over it needs write access to the directory, which already lets them
replace the output itself (in a sticky directory such as /tmp not even that: only an
entry's owner may replace it). Before the rename the name is checked to still be our
inode and its size read through our own descriptor, so a swap is refused, not published.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from blossom_edge.base.errors import BlossomError, UsageError

PARTIAL_SUFFIX = ".partial"
# What a stale entry is renamed to before it is removed: `NAME.partial.stale-<random>`.
STALE_INFIX = ".stale-"


class OutputNotWritableError(BlossomError):
    """The directory chosen for an output cannot be written to."""


class OutputBusyError(BlossomError):
    """Another run is writing the same output right now."""


class OutputBlockedError(BlossomError):
    """Something at `NAME.partial` (or `NAME`) that is no run's partial and cannot be cleared away."""


def partial_path(final: Path) -> Path:
    """Where the work-in-progress for `final` lives; shown to users if they look mid-run."""
    return final.with_name(final.name + PARTIAL_SUFFIX)


def check_writable_dir(directory: Path) -> None:
    """Fail before hours of work, not after, when the output directory is unusable.

    `os.access` is not enough: root passes it on a read-only mount, so a probe file is
    created and removed. The probe's name is random and it is created exclusively, so an
    entry planted under a guessable name is neither followed (touching a symlink's target)
    nor taken for a failure.
    """
    if not directory.is_dir():
        raise OutputNotWritableError(f"output directory does not exist: {directory}")
    probe = directory / f".blossom-edge-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.touch(mode=0o600, exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise OutputNotWritableError(f"cannot write to {directory}: {exc.strerror or exc}") from exc


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable, where the platform lets a directory be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # some platforms (Windows, a few FUSE mounts) cannot open directories
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    """Whether two stats are of one file. An inode number is reused as soon as it is freed, so
    each comparison is made while a descriptor holds the regular file; the type tells a removed
    symlink (which nothing holds) from a new partial that got its number."""
    return (a.st_dev, a.st_ino, stat.S_IFMT(a.st_mode)) == (b.st_dev, b.st_ino, stat.S_IFMT(b.st_mode))


def _names(path: Path, fd: int) -> bool:
    """Whether the entry `path` is, right now, the file open as `fd`: not a link to it, not a newer file."""
    try:
        return _same_file(os.lstat(path), os.fstat(fd))
    except FileNotFoundError:
        return False


def _busy(partial: Path) -> OutputBusyError:
    return OutputBusyError(f"another run is writing {partial.name.removesuffix(PARTIAL_SUFFIX)} right now "
                           f"({partial.name} is locked); wait for it or choose another output")


def _claim(partial: Path) -> int:
    """Create `partial` as a new file and hold an exclusive lock on it: the one writer of this output.

    O_EXCL with O_NOFOLLOW creates a new inode or fails; it never opens what is already
    there, so an existing entry is cleared away first (or found held by a live run, which
    makes this run fail at once) and creation tried again. A run clearing a stale entry may
    lock our new file in the instant before we do; then that run is the writer and this one
    is busy. After locking, the name must still be the file we locked: a clearing run may
    have taken it away meanwhile, and then we start over.
    """
    import fcntl

    while True:
        try:
            fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            _clear(partial)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(partial) from None
        if _names(partial, fd):
            return fd
        os.close(fd)


def _clear(partial: Path) -> None:
    """Take away what sits at `partial` unless a live run holds it, without ever opening it for writing.

    Runs that clear the same entry take turns on a lock of its directory, held only while
    clearing: otherwise the slower of two, acting on what it saw before the faster one
    cleared the entry and made a new partial, would take that partial away from under its
    writer. A file system that cannot lock a directory (NFS without local_lock) clears
    without turns; `_take_away` still never removes an entry it did not see, and at worst
    one of two runs clearing at the same instant fails at the check before its rename.

    A regular file is opened read-only (never following a link, never blocking on a FIFO
    swapped in) only to learn whether a run holds its lock; a shared lock is enough to see
    an exclusive one and, unlike an exclusive one, works on a read-only descriptor over NFS.
    It is kept until the entry is gone, so the file's creator cannot start writing into it,
    and the name is checked again once it is held: the run that held it may have finished
    and renamed it meanwhile. Symlinks, FIFOs, sockets and device nodes hold no lock; only
    their entry is removed. Returns with nothing done when the entry changed under us: the
    caller looks again.
    """
    import fcntl

    with _turns(partial.parent):
        try:
            seen = os.lstat(partial)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(seen.st_mode):
            raise OutputBlockedError(f"{partial} is a directory, not a partial output; "
                                     f"remove it or choose another output")
        if not stat.S_ISREG(seen.st_mode):
            _take_away(partial, seen)
            return
        try:
            fd = os.open(partial, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except PermissionError as exc:
            raise OutputBlockedError(f"{partial} is in the way and cannot be read to see whether a run holds it "
                                     f"({exc.strerror}); remove it or choose another output") from exc
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP):
                return
            raise
        try:
            if not _same_file(os.fstat(fd), seen):
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _busy(partial) from None
            if _names(partial, fd):
                _take_away(partial, seen)
        finally:
            os.close(fd)


@contextmanager
def _turns(directory: Path) -> Iterator[None]:
    """An exclusive lock on `directory` for as long as the body runs, where the file system has one."""
    import fcntl

    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # no directory locks here: clear without turns, as the docstring of `_clear` says
        yield
    finally:
        os.close(fd)


def _take_away(partial: Path, seen: os.stat_result) -> None:
    """Remove the entry `seen` at `partial`, and no other.

    Unlinking by name could remove a newer partial that another run created (and locked)
    after a third run took `seen` away, where directory locks cannot make runs take turns.
    So the entry is first renamed to a random name of our own, which moves whatever is
    there in one step, and removed only if it is `seen`; anything else is a live run's
    file, linked back under its name for its owner. Unlinking a symlink removes the link,
    never its target.
    """
    aside = partial.with_name(f"{partial.name}{STALE_INFIX}{secrets.token_hex(8)}")
    try:
        os.rename(partial, aside)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputBlockedError(f"{partial} is in the way and cannot be removed ({exc.strerror}); "
                                 f"remove it or choose another output") from exc
    if _same_file(os.lstat(aside), seen):
        os.unlink(aside)
        return
    try:
        os.link(aside, partial, follow_symlinks=False)
    except OSError:
        pass  # yet another entry took the name: the owner of the one we moved finds its name gone and fails
    else:
        os.unlink(aside)
    raise _busy(partial)


def _publish(partial: Path, fd: int, final: Path, allow_empty: bool) -> None:
    """Give our partial the final name, after checking the name still leads to what we created."""
    try:
        current = os.lstat(partial)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "the output was not written", str(partial)) from None
    if not _same_file(current, os.fstat(fd)):
        raise OutputBlockedError(f"{partial} was replaced by something else during the run; nothing was published")
    if os.fstat(fd).st_size == 0 and not allow_empty:
        raise FileNotFoundError(errno.ENOENT, "the output was not written", str(partial))
    os.fsync(fd)
    try:
        os.replace(partial, final)
    except IsADirectoryError:
        raise OutputBlockedError(f"{final} is a directory; remove it or choose another output") from None
    _fsync_dir(final.parent)


def _remove_if_ours(partial: Path, fd: int) -> None:
    """Remove our partial after a failure; an entry that is no longer ours is someone else's to deal with."""
    if _names(partial, fd):
        partial.unlink(missing_ok=True)


@contextmanager
def atomic_output(final: Path | str, *, allow_empty: bool = False) -> Iterator[Path]:
    """Yield the `.partial` path to write; on success it becomes `final`, on failure it is removed.

    The body may write the partial path itself or hand it to a child process; it must
    write something unless `allow_empty` (an empty GGUF or PNG is a writer that failed
    silently, an empty captured file is what the kernel gave). The partial is locked for
    the whole run, so two runs cannot write the same output at once (the second fails with
    one line); a stale partial from an earlier crash, or anything else found at its name,
    is taken away and a new file made.

        with atomic_output(out_dir / "model-Q4_K_M.gguf") as tmp:
            write_gguf(tmp)
    """
    final = Path(final)
    check_writable_dir(final.parent)
    partial = partial_path(final)
    fd = _claim(partial)
    try:
        yield partial
        _publish(partial, fd, final, allow_empty)
    except BaseException:
        _remove_if_ours(partial, fd)
        raise
    finally:
        os.close(fd)


def atomic_write_bytes(final: Path | str, data: bytes) -> Path:
    """A small output written whole or not at all; empty `data` is an empty file, as asked."""
    final = Path(final)
    with atomic_output(final, allow_empty=True) as partial:
        partial.write_bytes(data)
    return final


def atomic_write_text(final: Path | str, text: str) -> Path:
    """A small text output (Modelfile, manifest) written whole or not at all, as UTF-8 bytes."""
    return atomic_write_bytes(final, text.encode("utf-8"))
