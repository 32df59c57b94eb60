"""chat's history stays within the context (oldest exchanges first, system never), and its sampling
comes from flags, else the catalog's published PARAMETERs, else llama.cpp's defaults."""

from __future__ import annotations

import dataclasses

import pytest

from blossom_edge.chat.history import History, MessageTooLong
from blossom_edge.chat.sampling import Sampling, context_size, sampling_for
from blossom_edge.model.catalog import resolve
from blossom_edge.ollama.modelfile import DEFAULT_NUM_CTX


def _chars(messages) -> int:
    return sum(len(m["content"]) for m in messages)


def test_the_oldest_exchanges_go_first_and_the_system_message_stays() -> None:
    history = History("sys", [("a" * 10, "b" * 10), ("c" * 10, "d" * 10), ("e" * 10, "f" * 10)])
    messages, used, dropped = history.fit("q", _chars, budget=3 + 40 + 1)
    assert dropped == 1 and used == 44
    assert [m["content"] for m in messages] == ["sys", "c" * 10, "d" * 10, "e" * 10, "f" * 10, "q"]
    assert history.exchanges == [("c" * 10, "d" * 10), ("e" * 10, "f" * 10)]
    assert history.fit("q", _chars, budget=100)[2] == 0  # nothing more to drop when it fits


def test_a_message_too_long_for_any_history_is_refused_and_reset_keeps_the_system() -> None:
    history = History("sys", [("a", "b")])
    with pytest.raises(MessageTooLong, match="takes 13 tokens"):
        history.fit("q" * 10, _chars, budget=12)
    assert history.exchanges == [("a", "b")]  # a refused message costs no history
    history.add("x", "y")
    history.reset()
    assert history.messages("z") == [{"role": "system", "content": "sys"}, {"role": "user", "content": "z"}]
    assert History().messages("z") == [{"role": "user", "content": "z"}]  # no system: the template's default


def test_without_published_parameters_llama_cpps_defaults_apply() -> None:
    chosen = sampling_for(resolve("4b"))
    assert chosen == Sampling() and chosen.origin == "llama.cpp's defaults"
    assert (chosen.temperature, chosen.top_k, chosen.top_p, chosen.min_p, chosen.repeat_penalty) == (0.8, 40, 0.95, 0.05, 1.0)


def test_published_parameters_are_the_defaults_and_flags_override_them() -> None:
    model = dataclasses.replace(resolve("4b"), parameters=(("temperature", 0.7), ("top_p", 0.8), ("num_ctx", 2048),
                                                           ("repeat_penalty", 1.05), ("stop", 0)))
    chosen = sampling_for(model)
    assert (chosen.temperature, chosen.top_p, chosen.repeat_penalty, chosen.top_k) == (0.7, 0.8, 1.05, 40)
    assert "v5-4b's published parameters" in chosen.origin
    flagged = sampling_for(model, temperature=0.2, seed=7, top_k=None)
    assert (flagged.temperature, flagged.seed, flagged.top_p, flagged.top_k) == (0.2, 7, 0.8, 40)
    assert "seed, temperature from flags" in flagged.origin
    assert "origin" not in flagged.completion_args() and flagged.completion_args()["seed"] == 7
    assert context_size(model, 32768, None) == 2048 and context_size(model, 32768, 512) == 512


def test_the_context_is_the_models_up_to_the_default_cap() -> None:
    assert context_size(None, 512, None) == 512
    assert context_size(None, 32768, None) == DEFAULT_NUM_CTX
    assert context_size(None, 0, None) == DEFAULT_NUM_CTX
