"""Reading a small input file a user names, without trusting it to be small, shallow or even a file.

Modelfiles, bench results, a checkpoint's JSON files and the files of a device capture are kilobytes; `/dev/zero`, a
FIFO or a 2 GB file given in their place must be refused at once (or, for a capture, read
as missing) rather than read forever into memory.

Every JSON document a user can hand us goes through `parse_json`, which also bounds how deeply it
nests: json.loads recurses in C and stops at about a thousand levels with a RecursionError only the
reader can name, and a value that passes it still nests deep enough for the code walking it later
(gguf-py, jinja2, the repr in a message) to run out of stack.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from blossom_edge.base.errors import CorruptFileError, NotFoundError, UsageError, excerpt

# A checkpoint's JSON files are kilobytes; tokenizer.json and the shard index of the largest models
# are some megabytes. Parsed JSON can take 25 times its size in memory, so the cap stays well short
# of what a phone could hold that way.
MAX_JSON_BYTES = 32 << 20
# The deepest real file (tokenizer.json: normalizer sequences in a pipeline) nests under ten levels.
MAX_JSON_DEPTH = 64


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


def read_small_text(path: Path, limit: int, *, what: str) -> str | None:
    """A UTF-8 text file (a chat template, a model card) of at most `limit` bytes, None when absent.

    Absent means no such file; a FIFO, device or directory in its place is refused, not skipped,
    since a library reading the same name after us may not skip it.
    """
    try:
        data = read_small_file(path, limit, what=what)
    except FileNotFoundError:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def parse_json(data: bytes | str, context: str, *, unique_keys: bool = False) -> Any:
    """JSON from UTF-8 bytes or text, nested at most MAX_JSON_DEPTH deep; any failure is one
    CorruptFileError reading "`context` (why)".

    `unique_keys` refuses a key given twice (a safetensors header, where it would describe one
    tensor two ways); elsewhere the last one wins, as Python's and transformers' readers have it.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptFileError(f"{context} (not UTF-8 text: {exc.reason} at byte {exc.start})") from None
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates if unique_keys else None)
    except RecursionError:
        raise CorruptFileError(_too_deep(context)) from None
    except ValueError as exc:  # JSONDecodeError, a duplicate key, digits past int's limit
        raise CorruptFileError(f"{context} ({excerpt(str(exc))})") from None
    if _nests_deeper_than(value, MAX_JSON_DEPTH):
        raise CorruptFileError(_too_deep(context))
    return value


def _too_deep(context: str) -> str:
    return f"{context} (nested too deeply: more than {MAX_JSON_DEPTH} levels)"


def read_json(path: Path, *, what: str, limit: int = MAX_JSON_BYTES, unique_keys: bool = False) -> Any:
    """The JSON document in a regular file of at most `limit` bytes; every failure names the file."""
    return parse_json(read_small_file(path, limit, what=what), f"{path}: malformed JSON", unique_keys=unique_keys)


def read_json_object(path: Path, *, required: bool, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """A JSON file that holds an object (a checkpoint's config or tokenizer files, a record of ours).

    {} when there is no such file and it is not `required`; anything else at that name that is not
    such a file is one error naming it.
    """
    try:
        value = read_json(path, what=f"a {path.name}", limit=limit)
    except FileNotFoundError:
        if required:
            raise NotFoundError(f"no such file: {path}") from None
        return {}
    if not isinstance(value, dict):
        raise CorruptFileError(f"{path}: malformed JSON (not an object: found {type(value).__name__})")
    return value


def json_int(value: Any, *, low: int, high: int) -> int | None:
    """A JSON number that is a whole number within [low, high], else None.

    The one gate for counts read from files: a bool, a string, 1e999, NaN or 10**400 in their place
    reads as unknown, instead of failing later in int(), a division or a C call.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if low <= value <= high else None


def _nests_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and dicts nest more than `limit` deep, walked a level at a time without recursion
    (the list of one level's containers costs less than a stack entry for each)."""
    level = [value] if isinstance(value, (list, dict)) else []
    depth = 0
    while level:
        if depth == limit:
            return True
        depth += 1
        level = [child for container in level
                 for child in (container.values() if isinstance(container, dict) else container)
                 if isinstance(child, (list, dict))]
    return False


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook for `unique_keys`: a key given twice is a ValueError, reported as malformed JSON."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {excerpt(key)} appears twice")
        out[key] = value
    return out
