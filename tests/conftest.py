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
