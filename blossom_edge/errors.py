"""The one table that turns failures a user can cause into one clear line.

Every command runs under `cli.main`, which asks `one_line()` for a message; a failure
that is not in this table is a bug, and only then does the user see a traceback
(with BLOSSOM_EDGE_DEBUG=1) or a pointer to report it.
"""

from __future__ import annotations

import errno


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


def one_line(exc: BaseException) -> tuple[str, int] | None:
    """Return (message, exit code) for a failure a user can cause, or None for a bug."""
    if isinstance(exc, BlossomError):
        return _single_line(str(exc)), exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, FileNotFoundError):
        return f"no such file or directory: {exc.filename}", 1
    if isinstance(exc, IsADirectoryError):
        return f"is a directory, expected a file: {exc.filename}", 1
    if isinstance(exc, NotADirectoryError):
        return f"not a directory: {exc.filename}", 1
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename}", 1
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"no space left on the device while writing {exc.filename or 'output'}", 1
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return f"read-only file system: {exc.filename}", 1
    if isinstance(exc, MemoryError):
        return "out of memory: try a smaller model or a lower-precision type", 1
    return None


def _single_line(message: str) -> str:
    """Fold a message onto one line so scripts and humans read the same thing."""
    return " ".join(message.split()) or "failed"
