"""A long-lived isolated child: state kept across calls, events streamed in order, errors raised as
themselves without ending it, and a native crash (a real signal death) as one line that ends it."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from blossom_edge.base.errors import UsageError
from blossom_edge.base.signals import Interrupted
from blossom_edge.native.isolated import NativeCrash, cpu_summary
from blossom_edge.native.session import IsolatedSession


class Counter:
    """Stands in for a loaded model: state that only lives in the child."""

    def __init__(self, start: int) -> None:
        self.total = start
        self.pid = os.getpid()

    def add(self, n: int, emit) -> int:
        for i in range(n):
            self.total += 1
            emit(i)
        return self.total

    def where(self) -> int:
        return self.pid

    def refuse(self) -> None:
        raise UsageError("a refusal the user can fix")

    def count_until_stopped(self, emit, stopped) -> int:
        n = 0
        while not stopped():
            n += 1
            emit(n)
            time.sleep(0.01)
        return n

    def crash(self) -> None:
        sys.stderr.flush()
        os.write(2, b"llama.cpp/src/llama-context.cpp:42: GGML_ASSERT(n_tokens <= n_batch) failed\n")
        os.kill(os.getpid(), signal.SIGABRT)


def make_counter(start: int) -> Counter:
    return Counter(start)


def refuse_to_load(start: int) -> Counter:
    raise UsageError(f"cannot load {start}")


def test_state_lives_across_calls_in_one_child_and_events_arrive_in_order() -> None:
    seen: list[int] = []
    with IsolatedSession("testing", None, make_counter, 10) as session:
        assert session.call("add", 3, on_event=seen.append) == 13
        assert session.call("add", 2, on_event=seen.append) == 15
        pid = session.call("where")
        assert pid != os.getpid() and session.call("where") == pid
    assert seen == [0, 1, 2, 0, 1]


def test_an_error_in_a_call_is_raised_here_and_the_session_goes_on() -> None:
    with IsolatedSession("testing", None, make_counter, 1) as session:
        with pytest.raises(UsageError, match="a refusal the user can fix"):
            session.call("refuse")
        assert session.call("add", 1, on_event=lambda _: None) == 2


def test_a_failed_setup_is_raised_at_the_first_call() -> None:
    session = IsolatedSession("loading", Path("m.gguf"), refuse_to_load, 7)
    with pytest.raises(UsageError, match="cannot load 7"):
        session.call("where")
    with pytest.raises(NativeCrash):  # and the session is over
        session.call("where")


def test_a_crash_mid_session_is_one_line_and_ends_the_session() -> None:
    with IsolatedSession("chatting with", Path("/models/blossom-X-Q4_K_M.gguf"), make_counter, 0) as session:
        session.call("where")
        with pytest.raises(NativeCrash) as caught:
            session.call("crash")
        message = str(caught.value)
        assert "\n" not in message and cpu_summary() in message
        assert "llama.cpp crashed (SIGABRT) while chatting with blossom-X-Q4_K_M.gguf" in message
        assert "GGML_ASSERT(n_tokens <= n_batch) failed" in message
        with pytest.raises(NativeCrash, match="no longer running"):
            session.call("where")


def test_ctrl_c_stops_a_stoppable_call_cleanly_and_a_second_one_ends_the_session() -> None:
    """Ctrl-C reaches the whole foreground group: the child ignores it, the parent asks the call to stop."""
    with IsolatedSession("testing", None, make_counter, 0) as session:
        child = session.call("where")
        seen: list[int] = []

        def ctrl_c_once(n: int) -> None:
            seen.append(n)
            if n == 3:
                os.kill(child, signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)

        stopped_at = session.call("count_until_stopped", on_event=ctrl_c_once, stoppable=True)
        assert stopped_at == seen[-1] >= 3
        assert session.call("where") == child  # the child lived through its SIGINT
        assert signal.getsignal(signal.SIGINT) is not session._first_interrupt_stops  # handler put back

        def ctrl_c_twice(n: int) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # the first asks the call to stop
            os.kill(os.getpid(), signal.SIGINT)  # the second will not wait for it

        with pytest.raises((Interrupted, KeyboardInterrupt)):
            session.call("count_until_stopped", on_event=ctrl_c_twice, stoppable=True)
        with pytest.raises(NativeCrash, match="no longer running"):
            session.call("where")
