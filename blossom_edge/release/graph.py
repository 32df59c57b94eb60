"""The plan on Ray: one task per node, dependencies passed as object refs, dead workers retried.

Ray does all the scheduling: each task declares its `num_cpus` and `memory` (plan.py's
estimates) and Ray places it on a node with room once its inputs exist. A worker that dies
(killed, out of memory, node lost) has its task rerun, up to MAX_RETRIES times; a failure the
task itself raises (a refusal by llama.cpp, a full disk) is not retried and fails only the
tasks that depend on it. A small actor (`Board`) hears when each attempt starts, on which node
and in which process, for the live table.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from blossom_edge.base.errors import BlossomError, NetworkError, UnsupportedError
from blossom_edge.release.plan import Node, ReleasePlan

# Reruns of a task whose worker died; failures the task raises are never retried.
MAX_RETRIES = 3
MISSING_RAY = "ray is not installed: pip install 'blossom-edge[release]'"
_FUNCTIONS = {"convert": "convert_model", "imatrix": "importance", "quantize": "quantize_type",
              "verify": "verify_type", "reference": "reference_logits", "quality": "quality_type",
              "split": "split_type", "card": "card_model"}


class ReleaseFailed(BlossomError):
    """Some tasks failed; the others finished, and a second run resumes from there."""


def start_ray(address: str | None = None) -> bool:
    """Connect to Ray: the cluster at `address`, else a new local Ray; True when this call started it."""
    try:
        import ray
    except ImportError:
        raise UnsupportedError(MISSING_RAY) from None
    if ray.is_initialized():
        return False
    try:
        # Ray's own start-up lines would stand around the command's one line of error or its table.
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    except ConnectionError as exc:
        # Ray 2.60 sends the cluster's token to an address given explicitly only when asked to.
        hint = ("" if os.environ.get("RAY_AUTH_MODE") == "token" else
                " (a cluster with token authentication needs RAY_AUTH_MODE=token and the head's ~/.ray/auth_token)")
        raise NetworkError(f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0]}{hint}") from exc
    return True


def node_capacity() -> tuple[int, int]:
    """(CPUs, memory bytes) of the largest live node: no single task may ask for more."""
    import ray

    alive = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return (int(max(r.get("CPU", 0) for r in alive)), int(max(r.get("memory", 0) for r in alive)))


def _step(board: Any, key: str, function: str, *args: Any) -> Any:
    """Inside a worker: say this attempt started (node, pid), then run the step."""
    import ray

    from blossom_edge.release import tasks

    board.started.remote(key, ray.util.get_node_ip_address(), os.getpid(), time.time())
    started = time.perf_counter()
    result = getattr(tasks, function)(*args)
    board.finished.remote(key, time.perf_counter() - started)
    return result


class Board:
    """What workers report: per task, its attempts, node, process, start time and run time."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}

    def started(self, key: str, node: str, pid: int, at: float) -> None:
        event = self.events.setdefault(key, {"attempts": 0})
        event.update(node=node, pid=pid, started=at, attempts=event["attempts"] + 1)

    def finished(self, key: str, seconds: float) -> None:
        self.events.setdefault(key, {"attempts": 1})["seconds"] = seconds

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return self.events


def _here() -> Any:
    """Pin to the driver's node: on a cluster the board must not live on a node that may die mid-release."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


@cache
def _remote() -> tuple[Any, Any]:
    import ray

    return ray.remote(_step), ray.remote(num_cpus=0)(Board)


@dataclass
class TaskState:
    """One task as the table shows it; `state` is waiting, running, done, skipped or failed."""

    key: str
    state: str
    node: str = ""
    pid: int | None = None
    attempts: int = 0
    started: float | None = None
    seconds: float | None = None
    reason: str = ""


@dataclass
class ReleaseRun:
    """What a release did: every task's state, each model's card result, and the wall time."""

    plan: ReleasePlan
    states: dict[str, TaskState]
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def failed(self) -> list[TaskState]:
        return [s for s in self.states.values() if s.state == "failed"]


def _reason(exc: BaseException) -> str:
    """A task's failure in one line: the table's line for what the task raised, else Ray's first line."""
    from blossom_edge.base.errors import one_line

    cause = getattr(exc, "cause", None) or exc
    known = one_line(cause)
    if known is not None:
        return known[0]
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"[:300]


def _arguments(plan: ReleasePlan, node: Node, refs: dict[str, Any]) -> list[Any]:
    """A task's inputs: the object refs of the tasks it depends on, or, for a step already done, its record."""
    model = next(m for m in plan.models if m.spec.stem == node.model)
    base = f"{node.model}/{node.qtype}"

    def verified() -> Any:
        return refs.get(f"{base}/verify") or model.manifests[node.qtype]

    convert = refs.get(f"{node.model}/convert")
    if node.kind == "convert":
        return [model.spec, node.num_cpus]
    if node.kind == "imatrix":
        from blossom_edge.quantize.types import parse_qtype

        first = next(q for q in plan.qtypes if parse_qtype(q).needs_imatrix)
        return [convert, first, node.num_cpus]
    if node.kind == "quantize":
        return [convert, node.qtype, refs.get(f"{node.model}/imatrix") if f"{node.model}/imatrix" in node.deps
                else None, node.num_cpus]
    if node.kind == "verify":
        return [refs[f"{base}/quantize"]]
    if node.kind == "reference":
        return [convert, node.num_cpus]
    if node.kind == "quality":
        return [convert, verified(), node.num_cpus, refs[f"{node.model}/reference"]]
    if node.kind == "split":
        return [model.spec.model_dir, verified(), plan.split_max_size]
    return [model.spec, plan.qtypes, plan.gpu_tags, plan.quantized_by, *(refs[k] for k in node.deps)]


def execute(plan: ReleasePlan, *, on_update: Callable[[dict[str, TaskState]], None] | None = None,
            poll: float = 0.1) -> ReleaseRun:
    """Submit every task not done, follow them to the end, and write the cards of finished models.

    `on_update` sees the states after every change (the live table; tests use it to find a
    worker's pid). A task failure does not stop the others; it is raised at the end.
    """
    import ray

    from blossom_edge.base.signals import Interrupted
    from blossom_edge.release import tasks

    started = time.perf_counter()
    states = {n.key: TaskState(n.key, "skipped" if n.done else "waiting", reason=n.why) for n in plan.nodes}
    todo = plan.todo()
    run = ReleaseRun(plan, states)
    if todo:
        for model in plan.models:
            model.spec.model_dir.mkdir(parents=True, exist_ok=True)
        step, board_class = _remote()
        board = board_class.options(scheduling_strategy=_here()).remote()
        refs: dict[str, Any] = {}
        for node in todo:
            options = dict(name=node.key, num_cpus=node.num_cpus, memory=node.memory, max_retries=MAX_RETRIES,
                           retry_exceptions=False)
            refs[node.key] = step.options(**options).remote(board, node.key, _FUNCTIONS[node.kind],
                                                            *_arguments(plan, node, refs))
        pending = {ref: key for key, ref in refs.items()}
        order = {n.key: i for i, n in enumerate(plan.nodes)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=poll)
                _merge(states, ray.get(board.snapshot.remote()))
                for ref in sorted(ready, key=lambda r: order[pending[r]]):
                    key = pending.pop(ref)
                    try:
                        value = ray.get(ref)
                    except Exception as exc:  # Ray's wrapper of whatever the task raised
                        _fail(plan, states, key, exc)
                    else:
                        states[key].state = "done"
                        if key.endswith("/card"):
                            run.cards[plan.node(key).model] = value
                if on_update is not None:
                    on_update(states)
            _merge(states, ray.get(board.snapshot.remote()))
        except (KeyboardInterrupt, Interrupted):
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.kill(board)
    for model in plan.models:
        card = f"{model.spec.stem}/card"
        if plan.node(card).done:
            run.cards[model.spec.stem] = tasks.card_model(model.spec, plan.qtypes, plan.gpu_tags, plan.quantized_by)
    run.seconds = time.perf_counter() - started
    if on_update is not None:
        on_update(states)
    failed = run.failed()
    if failed:
        raise ReleaseFailed(f"{len(failed)} of {len(todo)} tasks failed, first {failed[0].key}: {failed[0].reason}; "
                            "the rest is done and a second run resumes from there")
    return run


def _merge(states: dict[str, TaskState], events: dict[str, dict[str, Any]]) -> None:
    for key, event in events.items():
        state = states[key]
        state.node, state.pid, state.attempts = event.get("node", ""), event.get("pid"), event.get("attempts", 0)
        state.started, state.seconds = event.get("started"), event.get("seconds", state.seconds)
        if state.state == "waiting":
            state.state = "running"


def _fail(plan: ReleasePlan, states: dict[str, TaskState], key: str, exc: BaseException) -> None:
    """Mark the task failed, or skipped when what failed was one of its inputs."""

    upstream: list[Node] = [plan.node(d) for d in plan.node(key).deps]
    broken = next((n for n in upstream if states[n.key].state in ("failed", "skipped") and not n.done), None)
    if broken is not None and states[key].attempts == 0:
        states[key].state, states[key].reason = "skipped", f"{broken.key} failed"
        return
    states[key].state, states[key].reason = "failed", _reason(exc)
