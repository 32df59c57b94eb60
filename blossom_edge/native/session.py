"""A model that stays loaded in one child process across many calls, with `run_isolated`'s crash safety.

`run_isolated` starts a child per call, which is right for a check or a benchmark but not for a
chat: reloading the weights and re-reading the whole conversation for every answer would cost
seconds a turn on a phone. An `IsolatedSession` spawns one child the same way (spawn context,
the lifeline pipe that ends it with its parent, native stderr caught in a file, Python's stderr
kept) which builds a state object once and then answers calls on it, streaming each call's
events back before its result. A death by signal at any point is the same one-line
`NativeCrash`, and the session is finished after it.

Ctrl-C reaches every process of the terminal's foreground group, the child too, and an exception
raised inside llama.cpp's Python wrapper mid-decode could leave its context half updated. So the
child ignores SIGINT and the parent decides: a `stoppable` call turns the first Ctrl-C into a
request the child's work polls (`stopped()`), which ends it cleanly with what it has; a second
Ctrl-C, or any interrupt outside such a call, ends the session as everywhere else.
"""

from __future__ import annotations

import os
import pickle
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blossom_edge.native.isolated import (
    NativeCrash,
    _exit_with_parent,
    _follow,
    _native_output_to,
    _native_tail,
    _stop,
    _transportable,
    crash_line,
)

# How long a child may take to notice its closed request pipe and return, before it is stopped.
_CLOSE_GRACE_S = 2.0


class IsolatedSession:
    """`setup(*args)` run once in a spawned child; `call(name, ...)` runs `state.name(...)` there.

    The constructor returns as soon as the child is started, so the caller can work while the
    model loads.
    `setup` must be a module-level function and every argument and result plain, picklable data.
    Use it as a context manager: leaving the block ends the child (asked first, then killed).
    """

    def __init__(self, what: str, path: Path | str | None, setup: Callable[..., Any], *args: Any) -> None:
        import multiprocessing

        self.what, self.path = what, path
        context = multiprocessing.get_context("spawn")
        self._replies, replies_sender = context.Pipe(duplex=False)
        requests_receiver, self._requests = context.Pipe(duplex=False)
        # Never written: its end closes when this process dies, however it dies, and the child then exits.
        lifeline, self._held = context.Pipe(duplex=False)
        fd, self._native_log = tempfile.mkstemp(prefix="blossom-edge-native-", suffix=".log")
        os.close(fd)
        # Ctrl-C's requests to stop, each naming the call it stops. A pipe, not a multiprocessing.Event:
        # Android (Termux) has no sem_open, which every multiprocessing lock and event needs.
        stops_receiver, self._stops = context.Pipe(duplex=False)
        self._calls = 0
        self._stopping = False
        self._child = context.Process(target=_session_main, name=f"blossom-edge {what}", daemon=True,
                                      args=(requests_receiver, replies_sender, lifeline, stops_receiver,
                                            self._native_log, setup, args))
        self._dead = False
        try:
            self._child.start()
        except BaseException:
            self.close()
            raise
        finally:
            replies_sender.close()
            requests_receiver.close()
            stops_receiver.close()
            lifeline.close()
        # The child builds its state while this process goes on; the first call waits for it.
        self._started = False

    def call(self, name: str, *args: Any, on_event: Callable[[Any], None] | None = None,
             stoppable: bool = False) -> Any:
        """`state.name(*args)` in the child (given `emit=` when `on_event` is set, and `stopped=`, a
        callable saying whether Ctrl-C asked it to finish, when `stoppable`), as if run here.
        The first call raises `setup`'s error, if it failed."""
        if self._dead:
            raise NativeCrash(f"llama.cpp is no longer running for {self.what}")
        if not self._started:
            self._result(None)
            self._started = True
        self._calls += 1
        self._stopping = False
        self._requests.send_bytes(pickle.dumps((self._calls, name, args, on_event is not None, stoppable)))
        if not stoppable or threading.current_thread() is not threading.main_thread():
            return self._result(on_event)
        previous = signal.signal(signal.SIGINT, self._first_interrupt_stops)
        try:
            return self._result(on_event)
        finally:
            signal.signal(signal.SIGINT, previous)

    def _first_interrupt_stops(self, signum: int, frame: Any) -> None:
        from blossom_edge.base.signals import Interrupted

        if self._stopping:
            raise Interrupted(signum)
        self._stopping = True
        self._stops.send_bytes(pickle.dumps(self._calls))

    def _result(self, on_event: Callable[[Any], None] | None) -> Any:
        try:
            outcome = _follow(self._replies, on_event)
        except BaseException:
            # Interrupted while the child works: it cannot be told apart from a half-done call, so it ends.
            self.close()
            raise
        if outcome is None:
            self._dead = True
            self._child.join()
            raise NativeCrash(crash_line(self.what, self.path, self._child.exitcode, _native_tail(self._native_log)))
        kind, value = outcome
        if kind == "err":
            if not self._started:
                self.close()  # the state was never built: nothing to call
            raise value
        return value

    def close(self) -> None:
        """End the child: its request pipe closes (it returns), then `_stop` makes sure it is gone."""
        self._dead = True
        self._requests.close()
        self._replies.close()
        self._stops.close()
        if self._child.pid is not None:
            self._child.join(_CLOSE_GRACE_S)
            _stop(self._child)
        self._held.close()
        Path(self._native_log).unlink(missing_ok=True)

    def __enter__(self) -> IsolatedSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _session_main(requests: Any, replies: Any, lifeline: Any, stops: Any, native_log: str,
                  setup: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """In the child: build the state, then serve calls until the parent closes the request pipe."""
    from blossom_edge.base.signals import signals_as_interrupts

    _exit_with_parent(lifeline)
    _native_output_to(native_log)

    def send(kind: str, value: Any) -> None:
        replies.send_bytes(pickle.dumps((kind, value)))

    with signals_as_interrupts():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means (see above)
        try:
            state = setup(*args)
        except BaseException as exc:  # everything goes back to the parent, which decides
            send("err", _transportable(exc))
            return
        send("ok", None)
        while True:
            try:
                call, name, call_args, relay, stoppable = pickle.loads(requests.recv_bytes())
            except (EOFError, OSError):
                break
            kwargs: dict[str, Any] = {"emit": lambda event: send("event", event)} if relay else {}
            if stoppable:
                kwargs["stopped"] = _StopRequests(stops, call)
            try:
                result = getattr(state, name)(*call_args, **kwargs)
            except BaseException as exc:
                send("err", _transportable(exc))
            else:
                send("ok", result)
        close = getattr(state, "close", None)
        if callable(close):
            close()


class _StopRequests:
    """`stopped()` for one call: whether the parent asked to stop it. A request for an earlier call
    (Ctrl-C just as it ended) is read and ignored; polling the pipe costs one select per check."""

    def __init__(self, stops: Any, call: int) -> None:
        self._stops, self._call = stops, call
        self._asked = False

    def __call__(self) -> bool:
        while not self._asked and self._stops.poll():
            self._asked = pickle.loads(self._stops.recv_bytes()) == self._call
        return self._asked
