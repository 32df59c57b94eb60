"""The one table that turns failures a user can cause into one clear line.

Every command runs under `cli.main`, which asks `one_line()` for a message; a failure
that is not in this table is a bug, and only then does the user see a traceback
(with BLOSSOM_EDGE_DEBUG=1) or a pointer to report it.
"""

from __future__ import annotations

import errno
import reprlib

from blossom_edge.base.signals import Interrupted


class BlossomError(Exception):
    """A failure the user can cause and fix; its message is the line they read."""

    exit_code = 1


class UsageError(BlossomError):
    """Arguments that cannot work together or name nothing we know."""

    exit_code = 2


class NotFoundError(BlossomError):
    """A file, directory, model alias or hub repository that does not exist."""


class CorruptFileError(BlossomError):
    """A file that exists but cannot be what it claims to be (truncated, bad header)."""


class UnsupportedError(BlossomError):
    """Input that is well formed but outside what we can convert or run."""


class NetworkError(BlossomError):
    """The hub or a local server could not be reached, or refused us."""


class ResourceError(BlossomError):
    """Not enough disk or RAM for what was asked; the message carries the numbers."""


class ExternalToolError(BlossomError):
    """llama.cpp, Ollama or another engine failed on input we passed it."""


# Offending input quoted in a message is cut to this many characters.
EXCERPT_CHARS = 80
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, EXCERPT_CHARS, EXCERPT_CHARS


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of `value` for an error message, so hostile input is never echoed whole.

    A string is quoted as it is; anything else through a bounded repr, which neither walks a
    deeply nested value nor prints a million-item list before cutting it short.
    """
    text = value if isinstance(value, str) else _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# The longest message `one_line` returns: an error that quotes megabytes of input is not one line.
MAX_MESSAGE = 300
# File names inside a message are shortened to this, keeping the end, which names the file.
MAX_NAME = 120

# OSError subclasses by what the user reads; checked before the errno table below.
_OS_ERROR_TYPES: tuple[tuple[type[OSError], str], ...] = (
    (FileNotFoundError, "no such file or directory"),
    (FileExistsError, "already exists where a new file or directory was to go"),
    (IsADirectoryError, "is a directory, expected a file"),
    (NotADirectoryError, "not a directory"),
    (PermissionError, "permission denied"),
)
# What the user reads for other errnos they can cause; these name the file after a colon.
_OS_ERRNOS: dict[int, str] = {
    errno.EROFS: "read-only file system",
    errno.ENAMETOOLONG: "file name too long",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop?)",
    errno.EMFILE: "too many open files (raise the limit with `ulimit -n`)",
    errno.ENFILE: "too many open files on this system",
    errno.EINVAL: "invalid argument (a name or value this file system or device refuses)",
}
# Errnos that happen while writing; these read "... while writing NAME".
_WRITE_ERRNOS: dict[int, str] = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for this file system (FAT32 stops at 4 GiB)",
}


def one_line(exc: BaseException) -> tuple[str, int] | None:
    """Return (message, exit code) for a failure a user can cause, or None for a bug.

    RecursionError and UnicodeDecodeError are not in the table on purpose: only the reader
    that parsed a file can name it, so each reader turns them into a CorruptFileError; one
    that arrives here unnamed comes from a reader we missed, which is a bug to fix there.
    """
    if isinstance(exc, BlossomError):
        return _bounded(str(exc)), exc.exit_code
    if isinstance(exc, Interrupted):
        return "interrupted", exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, OSError):
        message = _os_message(exc)
        return None if message is None else (_bounded(message), 1)
    if isinstance(exc, MemoryError):
        return "out of memory: try a smaller model or a lower-precision type", 1
    return None


def _os_message(exc: OSError) -> str | None:
    """The table's text for an OSError, naming its file, or None when it is not in the table.

    An OSError raised with only a message (no errno) has no file name; its message stands in.
    """
    name = None if exc.filename is None else _short_name(exc.filename)
    if name is None and exc.errno is None and str(exc):
        name = str(exc)
    if exc.errno in _WRITE_ERRNOS:
        return f"{_WRITE_ERRNOS[exc.errno]} while writing {name or 'output'}"
    what = next((text for kind, text in _OS_ERROR_TYPES if isinstance(exc, kind)), None)
    what = what or _OS_ERRNOS.get(exc.errno or 0)
    if what is None:
        return None
    return f"{what}: {name}" if name else what


def _short_name(filename: object) -> str:
    """A file name for a message, shortened in the middle so its end (the file itself) stays."""
    name = filename.decode(errors="replace") if isinstance(filename, bytes) else str(filename)
    if len(name) <= MAX_NAME:
        return name
    head = (MAX_NAME - 1) // 3
    return name[:head] + "…" + name[-(MAX_NAME - 1 - head):]


def _bounded(message: str) -> str:
    """One printable line of at most MAX_MESSAGE characters, so scripts and humans read the same
    thing and a hostile file name cannot send escape sequences to the terminal."""
    line = " ".join(message.split()) or "failed"
    if len(line) > MAX_MESSAGE:
        line = line[: MAX_MESSAGE - 1] + "…"
    return "".join(ch if ch.isprintable() else "?" for ch in line)
