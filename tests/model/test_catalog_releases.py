"""The V7 and V7.1 releases and the facts added with them: kinds, sources, sampling parameters, Qwen3.5 state."""

from __future__ import annotations

import dataclasses
import json

import pytest

from blossom_edge.model.catalog import BASE_SHAPES, MODELS, SOURCES, ModelInfo, resolve

V7 = ("v7-9b", "v7-27b", "v7-35b-a3b", "v7.1-9b", "v7.1-27b", "v7.1-35b-a3b")


def test_models_json_lists_v7_and_v7_1_with_their_sources(capsys: pytest.CaptureFixture[str]) -> None:
    from blossom_edge.cli import main

    assert main(["models", "--json"]) == 0
    rows = {r["alias"]: r for r in json.loads(capsys.readouterr().out)}
    for alias in V7:
        row = rows[alias]
        assert row["line"] in ("v7", "v7.1") and row["context_length"] == 262144
        assert row["sources"] and set(row["sources"].values()) <= set(SOURCES.values())
        assert row["kind"].endswith("; vision; MTP; reasoning") and row["vision"] and row["mtp"]
        # A fact is either sourced or listed as unverified, never both.
        assert not set(row["sources"]) & set(row["unverified"])
        assert row["chat_format"] is None  # the card's own template is kept, none is assumed
    assert rows["v7-27b"]["reasoning"] == ["adaptive"] and rows["v7.1-9b"]["reasoning"] == ["medium", "max"]
    assert "repo_id" in rows["v7.1-27b"]["unverified"] and "repo_id" in rows["v7.1-35b-a3b"]["sources"]


def test_parameters_follow_sources_and_match_what_the_modelfile_writes() -> None:
    from blossom_edge.ollama.modelfile import BLOSSOM_PARAMETERS

    names = [f.name for f in dataclasses.fields(ModelInfo)]
    assert names[names.index("sources") + 1] == "parameters"
    assert ModelInfo.__dataclass_fields__["parameters"].type == "tuple[tuple[str, float | int], ...]"
    with_params = [m for m in MODELS if m.parameters]
    assert with_params and all("parameters" in m.sources for m in with_params)
    assert all(m.parameters == () for m in MODELS if "parameters" not in m.sources)
    # The one published set found is the one every generated Modelfile carries.
    assert dict(resolve("v5.1-9b").parameters) == dict(BLOSSOM_PARAMETERS)


def test_qwen35_state_is_what_the_gguf_reader_computes(tmp_path) -> None:
    """The catalog sizes a Qwen3.5 delta-net layer's state from config figures; the GGUF reader (which
    follows llama.cpp's loader) must get the same bytes from the keys a conversion writes."""
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from tests.model.test_shape import N_EMBD, N_LAYER, VOCAB, _gguf

    keys = {"full_attention_interval": 4, "ssm.conv_kernel": 4, "ssm.inner_size": 32 * 128,
            "ssm.state_size": 128, "ssm.group_count": 16, "ssm.time_step_rank": 32, "attention.key_length": 256}
    shape = read_gguf_info(_gguf(tmp_path / "q35.gguf", "qwen35", keys, {"token_embd.weight": (VOCAB, N_EMBD)})
                           ).model_shape()
    for base in ("Qwen/Qwen3.5-9B-Base", "Qwen/Qwen3.5-35B-A3B-Base"):
        catalog = BASE_SHAPES[base]
        assert catalog.recurrent_state_bytes == shape.recurrent_state_bytes
        assert catalog.n_recurrent_layers * N_LAYER == shape.n_recurrent_layers * catalog.n_layer
