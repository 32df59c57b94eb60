"""The table of a release's tasks: waiting, running (node, elapsed), done, failed (why); live during a run."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blossom_edge.release.graph import TaskState
    from blossom_edge.release.plan import ReleasePlan

_STYLE = {"waiting": "dim", "running": "yellow", "done": "green", "skipped": "dim green", "failed": "bold red"}


COLUMNS = ("task", "state", "node", "time", "cpus", "ram", "disk", "detail")
NUMERIC = frozenset({"time", "cpus", "ram", "disk"})


def task_rows(plan: ReleasePlan, states: dict[str, TaskState], now: float | None = None) -> list[list[str]]:
    """Each task's cells under COLUMNS, as plain text."""
    from blossom_edge.base.output import human_bytes

    now = time.time() if now is None else now
    rows = []
    for node in plan.nodes:
        state = states[node.key]
        if state.seconds is not None:
            elapsed = f"{state.seconds:.1f}s"
        elif state.state == "running" and state.started:
            elapsed = f"{now - state.started:.1f}s"
        else:
            elapsed = ""
        detail = state.reason + (f" (attempt {state.attempts})" if state.attempts > 1 else "")
        rows.append([node.key, state.state, state.node, elapsed, str(node.num_cpus),
                     human_bytes(node.memory) if node.memory else "", human_bytes(node.disk) if node.disk else "",
                     detail])
    return rows


def task_table(plan: ReleasePlan, states: dict[str, TaskState], now: float | None = None) -> Any:
    """The rich Table of every task, for the live board; `skipped` ones are done already (their record
    matched) or lost an input."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False)
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in NUMERIC else "left")
    for row in task_rows(plan, states, now):
        row[1] = Text(row[1], style=_STYLE[row[1]])
        table.add_row(*row)
    return table
