"""Records as people read them at any width: a table when it fits, else one `key: value` block each.

A rich Table squeezed below its natural width wraps or cuts cells anywhere, so `327/68`,
`Qwe/n/Q/wen/1.5/-4B` and `v5-mist…` are what a phone held upright gets. Here a table is only
drawn when every cell fits on its lines unbroken at the console's width; otherwise each record
becomes a block of `key: value` lines, as `gh` and `kubectl` do on narrow terminals. Text is
wrapped at spaces only, so an identifier or a number is never split: one longer than the line
stays whole on a line of its own. Every cell is plain text, never rich markup, since names come
from files anyone can write.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from blossom_edge.cli.output import Output

# Below this many columns for the values, a field's value goes under its key instead of beside it.
MIN_VALUE_WIDTH = 16


@dataclass(frozen=True)
class Column:
    """A table column: its header, and whether its values (numbers) align right."""

    name: str
    right: bool = False


def cell_width(text: str) -> int:
    """Terminal cells `text` takes on its widest line (CJK characters take two)."""
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def wrap(text: str, width: int) -> list[str]:
    """`text` broken at spaces into lines of at most `width` cells; a word longer than that
    keeps a line of its own, whole. Newlines in `text` are kept as line breaks."""
    from rich.cells import cell_len

    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            if line and cell_len(line) + 1 + cell_len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return lines


def paragraph(out: Output, text: str, *, style: str | None = None, hanging: int = 0) -> None:
    """Plain text (never markup) wrapped at spaces to the console's width; lines after the first are
    indented by `hanging`, so a wrapped `file:line: error: …` still reads as one entry."""
    first, *rest = wrap(text, out.width)
    rest = wrap(" ".join(rest), out.width - hanging) if rest and hanging else rest
    for line in [first, *(" " * hanging + line for line in rest)]:
        out.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


def table(out: Output, columns: Sequence[Column | str], rows: Sequence[Sequence[str]], *,
          title: str | None = None, styles: Sequence[str | None] | None = None,
          total: Sequence[str] | None = None) -> None:
    """Print `rows` under `columns`: a table if it fits `out.width` with every cell unbroken, else
    one block of `key: value` lines per row. `styles` gives each row's rich style (e.g. "dim"),
    `total` a last row set apart (a sum)."""
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    if title:
        paragraph(out, title, style="bold")
    grid = _table(cols, rows, styles, total)
    if _natural_width(grid) <= out.width:
        out.print(grid)
        return
    records = [*rows, *([total] if total is not None else [])]
    row_styles = [*(styles or [None] * len(rows)), *([None] if total is not None else [])]
    for index, (row, style) in enumerate(zip(records, row_styles, strict=True)):
        if index:
            out.print("")
        fields(out, [(c.name, value) for c, value in zip(cols, row, strict=True)], style=style)


def fields(out: Output, pairs: Sequence[tuple[str, str]], *, title: str | None = None,
           style: str | None = None) -> None:
    """One record as `key: value` lines, keys aligned; empty values are left out. A value wraps at
    spaces beside its key, or under it when the width left beside the key is too small for it."""
    if title:
        paragraph(out, title, style="bold")
    shown = [(key, value) for key, value in pairs if value.strip()]
    key_width = max((cell_width(key) for key, _ in shown), default=0) + 1
    for key, value in shown:
        for line in _field_lines(key, value, key_width, out.width):
            out.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


def _field_lines(key: str, value: str, key_width: int, width: int) -> list[str]:
    head = f"{key}:" + " " * (key_width - cell_width(key))
    room = width - cell_width(head)
    if room >= MIN_VALUE_WIDTH and all(cell_width(word) <= room for word in value.split()):
        body = wrap(value, room)
        return [head + body[0], *(" " * cell_width(head) + line for line in body[1:])]
    return [f"{key}:", *("  " + line for line in wrap(value, width - 2))]


def _table(cols: list[Column], rows: Sequence[Sequence[str]], styles: Sequence[str | None] | None,
           total: Sequence[str] | None):
    from rich.table import Table
    from rich.text import Text

    # No box: two spaces between columns and none at the edges, as kubectl prints, leave the most
    # room for the values themselves.
    grid = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    for col in cols:
        grid.add_column(col.name, justify="right" if col.right else "left", no_wrap=True)
    for index, row in enumerate(rows):
        grid.add_row(*(Text(value) for value in row), style=styles[index] if styles else None)
    if total is not None:
        grid.add_section()
        grid.add_row(*(Text(value) for value in total))
    return grid


def _natural_width(renderable: object) -> int:
    """How many cells wide `renderable` draws when nothing limits it."""
    from rich.console import Console

    console = Console(width=10_000, file=io.StringIO(), color_system=None, legacy_windows=False)
    with console.capture() as captured:
        console.print(renderable)
    return max((cell_width(line.rstrip()) for line in captured.get().splitlines()), default=0)
