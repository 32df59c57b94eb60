"""llama.cpp's own log, caught while a model loads, so a refusal can say why in one line.

With `verbose=False` llama-cpp-python sends llama.cpp's log to a null device while loading,
and the reason a file is refused ("missing tensor 'blk.3.ffn_down.weight'", "unknown model
architecture") is lost; the low-level API prints it to stderr, around our own error line.
Here a callback keeps the last lines instead, and llama-cpp-python's own callback
(`llama_cpp._logger.llama_log_callback`, a private module) is put back afterwards.
Public replacement: a log hook on `llama_cpp.Llama` or a public `llama_cpp.set_log_callback`.
"""

from __future__ import annotations

import ctypes
import re
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from blossom_edge.base.signals import deferred

# Enough to hold the reason, which llama.cpp logs last, whatever it logged before.
_KEEP_LINES = 64
_REASON_WORDS = re.compile(r"error|failed|invalid|missing|unknown|wrong|cannot|corrupt", re.IGNORECASE)
_PREFIX = re.compile(r"^(?:\w+:\s*)+(?:error loading model:\s*)?")
MAX_REASON = 200


class LlamaLog:
    """The tail of llama.cpp's log while the block ran."""

    def __init__(self) -> None:
        self._text: deque[str] = deque(maxlen=_KEEP_LINES * 4)

    def add(self, text: str) -> None:
        self._text.append(text)

    def lines(self) -> list[str]:
        return [line.strip() for line in "".join(self._text).splitlines() if line.strip()][-_KEEP_LINES:]

    def reason(self) -> str | None:
        """llama.cpp's own complaint, without its function-name prefixes, short enough to read.

        Its last line is often a generic "failed to load model"; the line that says why
        ("error loading model: …") comes before it, so an "error" line wins over the others.
        """
        lines = self.lines()
        found = next((ln for ln in reversed(lines) if "error" in ln.lower()), None)
        found = found or next((ln for ln in reversed(lines) if _REASON_WORDS.search(ln)), None)
        if found is None:
            return None
        reason = _PREFIX.sub("", found).strip() or found
        return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


@contextmanager
def captured() -> Iterator[LlamaLog]:
    """Within the block llama.cpp logs into the returned LlamaLog, not to the terminal."""
    import llama_cpp
    from llama_cpp import _logger

    log = LlamaLog()

    @llama_cpp.llama_log_callback
    def _keep(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        log.add(text.decode("utf-8", "replace"))

    llama_cpp.llama_log_set(_keep, ctypes.c_void_p(0))
    try:
        # A Ctrl-C raised inside _keep would be swallowed by ctypes: it waits for the block's end.
        with deferred():
            yield log
    finally:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


def with_reason(message: str, log: LlamaLog) -> str:
    """`message: <llama.cpp's reason>` when it gave one."""
    reason = log.reason()
    return f"{message}: {reason}" if reason else message
