"""Reading a small input file a user names, without trusting it to be small or even a file.

Modelfiles and bench results are kilobytes; `/dev/zero`, a FIFO or a 2 GB file given in
their place must be refused at once rather than read forever into memory.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from blossom_edge.errors import CorruptFileError, UsageError


def read_small_file(path: Path, limit: int, *, what: str) -> bytes:
    """At most `limit` bytes of a regular file, or one clear error naming what `what` should be.

    Opened non-blocking, so a FIFO is refused instead of waited on; read one byte past the
    limit, so a file that grows or lies about its size still stops there.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device or socket"
            raise UsageError(f"{path} is {kind}, not a regular file: give {what} itself")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise CorruptFileError(f"{path} is larger than {limit >> 20} MiB, more than {what} can be")
    return data
