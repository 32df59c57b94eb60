"""The stand-in Ollama server the create and Modelfile tests talk to, one per test."""

from __future__ import annotations

import pytest

from tests import ollama_server


@pytest.fixture
def server(monkeypatch):
    """A fresh FakeOllama on a free port, reached through OLLAMA_HOST as a user's client would."""
    state, srv = ollama_server.start()
    monkeypatch.setenv("OLLAMA_HOST", state.url)
    yield state
    srv.shutdown()
    srv.server_close()
