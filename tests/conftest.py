"""Shared fixtures. Tests run offline: the hub is never contacted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def reference_src() -> Path:
    """llama.cpp's sources vendored in the llama-cpp-python sdist: the reference converter and tools."""
    from tests.builders.llama_cpp_source import require_llama_cpp_source

    return require_llama_cpp_source()


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_DATA_HOME (the results store's home) in the test's own directory: never the user's store."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"
