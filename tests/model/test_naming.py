"""The file-name convention read back must agree with the one written."""

from __future__ import annotations

from pathlib import Path

from blossom_edge.inputs.source import GgufSource, classify
from blossom_edge.model.catalog import MODELS
from blossom_edge.model.naming import gguf_name, intermediate_name, stem_of


def test_every_catalog_name_reads_back_from_the_file_it_names() -> None:
    stems = [m.name for m in MODELS]
    for model in MODELS:
        for qtype in ("Q4_K_M", "BF16", "IQ2_XS"):
            assert stem_of(Path(gguf_name(model.name, qtype)), stems) == model.name
        assert stem_of(Path(intermediate_name(model.name)), stems) == model.name


def test_a_stem_must_end_where_the_name_does() -> None:
    assert stem_of(Path("blossom-v5.1-9b-Q4_K_M.gguf"), ["blossom-v5", "blossom-v5.1-9b"]) == "blossom-v5.1-9b"
    assert stem_of(Path("blossom-v5-4bx-Q4_K_M.gguf"), ["blossom-v5-4b"]) is None


def test_a_type_suffix_is_replaced_not_doubled() -> None:
    assert gguf_name("Model-F16", "q8_0") == "model-Q8_0.gguf"
    assert intermediate_name("blossom-v5-4b-BF16") == "blossom-v5-4b.intermediate.gguf"


def test_gguf_sources(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "model.bin").write_bytes(b"x")
    assert isinstance(classify("~/model.bin"), GgufSource) and isinstance(classify("missing.GGUF"), GgufSource)
    assert not isinstance(classify("4b"), GgufSource) and not isinstance(classify(str(tmp_path)), GgufSource)
