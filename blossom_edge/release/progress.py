"""The table of a release's tasks: waiting, running (node, elapsed), done, failed (why); live during a run."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blossom_edge.release.graph import TaskState
    from blossom_edge.release.plan import ReleasePlan

_STYLE = {"waiting": "dim", "running": "yellow", "done": "green", "skipped": "dim green", "failed": "bold red"}


def task_table(plan: ReleasePlan, states: dict[str, TaskState], now: float | None = None) -> Any:
    """The rich Table of every task; `skipped` ones are done already (their record matched) or lost an input."""
    from rich.table import Table

    from blossom_edge.base.output import human_bytes

    now = time.time() if now is None else now
    table = Table(show_edge=False, pad_edge=False)
    for column in ("task", "state", "node", "time", "cpus", "ram", "disk", "detail"):
        table.add_column(column, justify="right" if column in ("time", "cpus", "ram", "disk") else "left")
    for node in plan.nodes:
        state = states[node.key]
        if state.seconds is not None:
            elapsed = f"{state.seconds:.1f}s"
        elif state.state == "running" and state.started:
            elapsed = f"{now - state.started:.1f}s"
        else:
            elapsed = ""
        detail = state.reason + (f" (attempt {state.attempts})" if state.attempts > 1 else "")
        table.add_row(node.key, f"[{_STYLE[state.state]}]{state.state}[/]", state.node, elapsed,
                      str(node.num_cpus), human_bytes(node.memory) if node.memory else "",
                      human_bytes(node.disk) if node.disk else "", detail)
    return table

