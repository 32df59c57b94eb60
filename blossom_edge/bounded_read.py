"""Reading a small input file a user names, without trusting it to be small or even a file.

Modelfiles, bench results, a checkpoint's JSON files and the files of a device capture are kilobytes; `/dev/zero`, a
FIFO or a 2 GB file given in their place must be refused at once (or, for a capture, read
as missing) rather than read forever into memory.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from blossom_edge.errors import CorruptFileError, NotFoundError, UsageError


class NotRegularFile(Exception):
    """The path is a FIFO, a device or a socket; `kind` says which, for a message."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def read_prefix(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of a regular file.

    Opened non-blocking, so a FIFO is refused (NotRegularFile) instead of waited on; a
    directory raises IsADirectoryError, a missing file FileNotFoundError.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFile("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device or socket")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit)
    finally:
        os.close(fd)


def read_small_file(path: Path, limit: int, *, what: str) -> bytes:
    """At most `limit` bytes of a regular file, or one clear error naming what `what` should be.

    Reads one byte past the limit, so a file that grows or lies about its size still stops there.
    """
    try:
        data = read_prefix(path, limit + 1)
    except NotRegularFile as exc:
        raise UsageError(f"{path} is {exc.kind}, not a regular file: give {what} itself") from None
    if len(data) > limit:
        raise CorruptFileError(f"{path} is larger than {limit >> 20} MiB, more than {what} can be")
    return data


def read_json_object(path: Path, *, required: bool) -> dict[str, Any]:
    """A checkpoint's JSON file (config, tokenizer) as an object, {} if absent and not `required`, else one error."""
    if not path.is_file():
        if required:
            raise NotFoundError(f"no such file: {path}")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path} should hold a JSON object, found {type(data).__name__}")
    return data
