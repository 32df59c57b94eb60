"""The one output object a command writes through: its result, notes for people, and progress.

A command makes one `Output` from its `--json` flag and never branches on that flag again:
`data` prints the JSON document or calls the human renderer, `print` is for that renderer
(stdout; nothing with `--json`, whose stdout is one JSON document), `note` goes to stderr, and
`progress` is the factory library code draws its bars and stages with. There are three modes:
`human` on a terminal, `quiet` off one (a pipe, a log, CI: results and notes, no progress, so a
failing command's stderr is its one error line) and `json`. `width` is the terminal's, for
whatever must fit a phone screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from blossom_edge.base.output import err_console, note, print_json
from blossom_edge.base.progress import NO_PROGRESS, Progress, Unit

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.progress import Progress as RichProgress
    from rich.progress import ProgressColumn, TaskID

Mode = Literal["human", "quiet", "json"]

# Below this many columns (a phone held upright) a bar keeps its description, its bar and its
# figures and drops the rest, instead of rich squeezing every column into a broken line.
NARROW = 64


def _stdout() -> Console:
    """A console for results on stdout, made when a command first prints (rich stays unimported for
    `--help`); one per `Output`, so its width is read from COLUMNS and the terminal at that time."""
    from rich.console import Console

    return Console(highlight=False)


class Output:
    """Where a command's result, notes and progress go, decided once from `--json` and the terminal."""

    def __init__(self, json_output: bool = False) -> None:
        self.mode: Mode = "json" if json_output else ("human" if err_console().is_terminal else "quiet")
        # What library code reports progress through: rich on a terminal, silent otherwise.
        self.progress: Progress = _RichProgress(err_console()) if self.mode == "human" else NO_PROGRESS
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The stdout console this output prints through."""
        if self._console is None:
            self._console = _stdout()
        return self._console

    @property
    def width(self) -> int:
        """Columns of the terminal results go to (80 off a terminal, unless COLUMNS says)."""
        return self.console.width

    def data(self, payload: Any, render: Callable[[], None]) -> None:
        """The command's result: `payload` as the JSON document with `--json`, else what `render` shows people."""
        if self.mode == "json":
            print_json(payload)
        else:
            render()

    def print(self, *objects: Any, **options: Any) -> None:
        """Human output on stdout (text with rich markup, tables), as rich's `Console.print` takes it;
        nothing in json mode, where one stray line would make stdout unreadable for jq."""
        if self.mode != "json":
            self.console.print(*objects, **options)

    def note(self, message: str) -> None:
        """A one-line note on stderr (a warning, where a file went), in every mode: it is never progress."""
        note(message)


class _RichProgress:
    """`Progress` drawn by rich on stderr: one transient bar per task, a live board, stage lines."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def step(self, message: str) -> None:
        # File and model names reach here; rich would read `[…]` in them as markup.
        self._console.print(message, soft_wrap=True, markup=False)

    @contextmanager
    def task(self, description: str, total: float | None = None, *, unit: Unit = "items") -> Iterator[_RichTask]:
        from rich.progress import Progress as RichProgress

        narrow = self._console.width < NARROW
        with RichProgress(*_columns(unit, self._console.width), console=self._console, transient=True,
                          expand=narrow) as bars:
            yield _RichTask(bars, bars.add_task(description, total=total, detail=""))

    @contextmanager
    def board(self) -> Iterator[_RichBoard]:
        from rich.live import Live

        with Live(console=self._console, refresh_per_second=4, transient=False) as live:
            yield _RichBoard(live)


class _RichTask:
    def __init__(self, bars: RichProgress, handle: TaskID) -> None:
        self._bars, self._handle = bars, handle

    def advance(self, amount: float = 1) -> None:
        self._bars.advance(self._handle, amount)

    def update(self, *, completed: float | None = None, total: float | None = None,
               detail: str | None = None) -> None:
        fields = {} if detail is None else {"detail": detail}
        self._bars.update(self._handle, completed=completed, total=total, **fields)


class _RichBoard:
    def __init__(self, live: Live) -> None:
        self._live = live

    def show(self, view: Callable[[], object]) -> None:
        self._live.update(view())


def _columns(unit: Unit, width: int) -> list[ProgressColumn]:
    """A bar's columns for a console `width` wide: on a narrow one the description is cut short
    and the bar takes what is left; the rate, the detail and the time are kept for wider ones."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.table import Column

    amount = DownloadColumn if unit == "bytes" else MofNCompleteColumn
    if width < NARROW:
        return [TextColumn("{task.description}", markup=False,
                           table_column=Column(no_wrap=True, overflow="ellipsis", max_width=width // 2)),
                BarColumn(bar_width=None, table_column=Column(ratio=1)),
                amount(table_column=Column(no_wrap=True))]
    rate = [TransferSpeedColumn()] if unit == "bytes" else []
    return [TextColumn("{task.description}", markup=False), BarColumn(), amount(), *rate,
            TextColumn("{task.fields[detail]}", markup=False), TimeRemainingColumn()]
