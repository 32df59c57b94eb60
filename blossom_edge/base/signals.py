"""SIGINT and SIGTERM unwind the stack as one exception, so every `finally` and `atomic_output`
cleans up, and the CLI ends with "interrupted" and the shell's exit code for the signal.

Python lets SIGTERM (what `kill`, systemd and Termux send) end the process on the spot,
leaving `NAME.partial` files and RAM intermediates behind, and the CLI framework swallows a
KeyboardInterrupt into a silent exit. `Interrupted` derives from BaseException like
KeyboardInterrupt, so no `except Exception` stops it on its way out.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A signal asked us to stop; `exit_code` is what a shell reports for it (128 + signal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int]]:
        """Rebuilt from the signal number, so a child process can hand it back to its parent."""
        return Interrupted, (self.exit_code - 128,)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within this block SIGINT and SIGTERM raise `Interrupted`; only the main thread may set
    handlers, so elsewhere (a test runner's worker thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, interrupt) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Within this block SIGINT and SIGTERM are held, then delivered as the block ends.

    llama.cpp calls back into Python while it works (its log, the eval callback); a handler
    raising there is swallowed at the C boundary ("Exception ignored") and the callback's
    work is silently cut short, so around such calls the signal waits for C to return. Outside
    the main thread nothing changes (no handler can be set there).
    """
    if threading.current_thread() is not threading.main_thread() or _held is not None:
        yield
        return
    _set_held([])

    def hold(signum: int, frame: Any) -> None:
        _held.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        caught = _held
        _set_held(None)
    if caught:
        signal.raise_signal(caught[0])


# The signals a `deferred` block is holding (None outside one), so a callback can cut C work short.
_held: list[int] | None = None


def _set_held(value: list[int] | None) -> None:
    global _held
    _held = value


def held() -> bool:
    """Whether a deferred signal is waiting: long C work with a Python callback should stop now."""
    return bool(_held)
