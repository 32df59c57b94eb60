"""Fixtures of the hostile tests, shared by several of their modules."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blossom_edge.demo.model import build_demo_checkpoint

# A reader that waits on a FIFO or reads /dev/zero to its end would stop here instead of hanging.
HANG_GUARD_S = 20


class Hang(Exception):
    """Raised by the guard when a test runs past HANG_GUARD_S."""


@pytest.fixture
def hang_guard() -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {HANG_GUARD_S} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_GUARD_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return build_demo_checkpoint(tmp_path_factory.mktemp("demo") / "blossom-demo-tiny")
