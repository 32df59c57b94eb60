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
