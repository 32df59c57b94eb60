"""How long work reports its progress without knowing who shows it, or whether anyone does.

Library code (a conversion, the quantizer's log, an importance matrix, a quality run, a
release's tasks, a benchmark's stages) takes one `Progress` and never draws anything itself:
the command line passes the one its output object makes (rich bars on a terminal), and every
other caller (tests, Ray workers, `--json`, a pipe) gets `NO_PROGRESS`, the default. So there
is one convention, not a `progress: bool` in some functions and a message callback in others,
and no library module decides on its own whether stderr is a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Literal, Protocol

# What a task counts: things (tensors, chunks) or bytes (shown as sizes and a transfer rate).
Unit = Literal["items", "bytes"]


class Task(Protocol):
    """One unit of long work under way: how much is done of how much, and a short live detail."""

    def advance(self, amount: float = 1) -> None:
        """Count `amount` more done; safe from worker threads (conversion counts bytes from its pool)."""

    def update(self, *, completed: float | None = None, total: float | None = None,
               detail: str | None = None) -> None:
        """Set what is known now; None leaves a figure as it was (a total the work learns late stays unknown)."""


class Board(Protocol):
    """A view redrawn in place whenever the work changes state (a release's task table)."""

    def show(self, view: Callable[[], object]) -> None:
        """Redraw with what `view` builds; it is called only when something is shown, so a silent
        board never pays for building it. The view is whatever the front end draws (a rich table)."""


class Progress(Protocol):
    """The one progress factory library functions take."""

    def step(self, message: str) -> None:
        """A stage of long work begins ("loading model.gguf"): one line, for whoever watches."""

    def task(self, description: str, total: float | None = None, *,
             unit: Unit = "items") -> AbstractContextManager[Task]:
        """A task for the `with` block, ended however the block ends; `total` may stay unknown until
        the work says (the quantizer's log names its tensor count only once it starts)."""

    def board(self) -> AbstractContextManager[Board]:
        """A board for the `with` block; what it showed last stays on screen."""


class _Silent:
    """Progress, task and board at once, each doing nothing: what nobody watches costs nothing."""

    def step(self, message: str) -> None:
        pass

    def task(self, description: str, total: float | None = None, *,
             unit: Unit = "items") -> AbstractContextManager[Task]:
        return nullcontext(self)

    def board(self) -> AbstractContextManager[Board]:
        return nullcontext(self)

    def advance(self, amount: float = 1) -> None:
        pass

    def update(self, *, completed: float | None = None, total: float | None = None,
               detail: str | None = None) -> None:
        pass

    def show(self, view: Callable[[], object]) -> None:
        pass


NO_PROGRESS: Progress = _Silent()
