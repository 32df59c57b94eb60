"""`release` from start to end: plan, (dry run stops here) Ray, the tasks, then the pushes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blossom_edge.base.progress import NO_PROGRESS, Progress
from blossom_edge.release.graph import ReleaseRun, TaskState
from blossom_edge.release.plan import ReleasePlan


@dataclass
class ReleaseResult:
    """The plan, what ran (None for a dry run) and what was pushed where."""

    plan: ReleasePlan
    run: ReleaseRun | None = None
    hub: list[dict[str, Any]] = field(default_factory=list)
    ollama: list[dict[str, Any]] = field(default_factory=list)


def release(sources: list[str], qtypes: list[str], output_dir: Path, *, gpu_tags: bool = False,
            address: str | None = None, split_max_size: int | None = None, push_hub: str | None = None,
            push_ollama: bool = False, dry_run: bool = False, progress: Progress = NO_PROGRESS,
            on_update: Callable[[dict[str, TaskState]], None] | None = None, hub_api: Any = None) -> ReleaseResult:
    """Make (or finish) the release of `sources` × `qtypes` under `output_dir`, then push it if asked.

    `progress` shows the table of tasks, redrawn as each one changes state.
    """
    from blossom_edge.engine.ray_driver import cluster_notices_to_debug_log
    from blossom_edge.release import graph
    from blossom_edge.release.plan import plan_release
    from blossom_edge.release.progress import task_table
    from blossom_edge.release.push import hub_repo

    quantized_by = push_hub.split("/", 1)[0] if push_hub else "blossom-edge"
    if dry_run:
        return ReleaseResult(plan_release(sources, qtypes, output_dir, split_max_size=split_max_size,
                                          gpu_tags=gpu_tags, quantized_by=quantized_by, download=False))
    if push_hub:
        hub_repo(push_hub, "model", 1)  # a malformed ORG/NAME fails before hours of work
    started = graph.start_ray(address)
    # Ray's own notice of each failed attempt would print into the table and the --json document.
    with cluster_notices_to_debug_log():
        try:
            cpus, _memory = graph.node_capacity()
            plan = plan_release(sources, qtypes, output_dir, split_max_size=split_max_size, gpu_tags=gpu_tags,
                                quantized_by=quantized_by, node_cpus=cpus)
            _check_feasible(plan)
            with progress.board() as board:
                def update(states: dict[str, TaskState]) -> None:
                    board.show(lambda: task_table(plan, states))
                    if on_update is not None:
                        on_update(states)

                run = graph.execute(plan, on_update=update)
        finally:
            if started:
                import ray

                ray.shutdown()
    result = ReleaseResult(plan, run)
    if push_hub:
        from blossom_edge.release.push import push_hub as to_hub

        result.hub = to_hub(plan, push_hub, api=hub_api)
    if push_ollama:
        from blossom_edge.release.push import push_ollama as to_ollama

        result.ollama = to_ollama(plan)
    return result


def _check_feasible(plan: ReleasePlan) -> None:
    """A task asking for more RAM than any node has would wait forever; say so at once."""
    from blossom_edge.base.errors import ResourceError
    from blossom_edge.base.output import human_bytes
    from blossom_edge.release.graph import node_capacity

    _cpus, memory = node_capacity()
    too_big = [n for n in plan.todo() if n.memory > memory]
    if too_big:
        worst = max(too_big, key=lambda n: n.memory)
        raise ResourceError(f"{worst.key} needs about {human_bytes(worst.memory)} of RAM, more than any Ray node "
                            f"offers ({human_bytes(memory)}); add a larger node or release fewer types at once")
