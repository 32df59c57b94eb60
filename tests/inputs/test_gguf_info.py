"""gguf_info's summary reader steps over the tokenizer arrays; it must still say exactly what gguf-py says."""

from __future__ import annotations

from pathlib import Path

import pytest

from blossom_edge.inputs.gguf_info import _SKIP_ARRAYS, _field_value, read_gguf_info
from tests import DATA
from tests.quantize.test_quantize_tiny import write_tiny_gguf

VOCAB = DATA / "vocab"


def _stock_summary(path: Path) -> tuple[dict, dict, dict]:
    """Metadata, skipped-array lengths and tensor table the way the stock GGUFReader reports them."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    metadata = {k: _field_value(f) for k, f in reader.fields.items()
                if k not in _SKIP_ARRAYS and not k.startswith("GGUF.")}
    lengths = {k: len(f.data) for k, f in reader.fields.items() if k in _SKIP_ARRAYS}
    tensors = {t.name: (t.tensor_type.name, int(t.n_elements), int(t.n_bytes)) for t in reader.tensors}
    return metadata, lengths, tensors


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("g") / "tiny-BF16.gguf")


@pytest.mark.parametrize("name", [
    pytest.param("ggml-vocab-qwen2.gguf", marks=pytest.mark.slow),  # the stock reader takes seconds on 150k tokens
    "ggml-vocab-llama-spm.gguf",
    "tiny",
])
def test_summary_matches_stock_reader(name, tiny):
    path = tiny if name == "tiny" else VOCAB / name
    metadata, lengths, tensors = _stock_summary(path)
    info = read_gguf_info(path)
    assert "tokenizer.ggml.tokens" in lengths and lengths["tokenizer.ggml.tokens"] > 250
    assert info.metadata == {**metadata, "tokenizer.ggml.vocab_size": lengths["tokenizer.ggml.tokens"]}
    assert info.vocab_size == lengths["tokenizer.ggml.tokens"]
    assert {n: t for n, t in info.tensor_types.items()} == {n: t[0] for n, t in tensors.items()}
    assert info.n_params == sum(t[1] for t in tensors.values())
    assert info.tensor_bytes == sum(t[2] for t in tensors.values())


def test_arrays_after_the_skipped_ones_are_read(tmp_path):
    """A key written after the big arrays lands at the right offset only if the skip was exact."""
    import gguf

    path = tmp_path / "order.gguf"
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_token_list(["a", "bé", "", "☃" * 40])
    writer.add_token_scores([0.5, -1.0, 2.0, 3.0])
    writer.add_token_merges(["a b", "b é"])
    writer.add_array("zz.nested", [[1, 2], [3]])
    writer.add_string("zz.after", "still here")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    info = read_gguf_info(path)
    assert info.metadata["zz.after"] == "still here" and info.vocab_size == 4
    assert not set(info.metadata) & _SKIP_ARRAYS


def test_a_directory_or_an_empty_file_is_named_for_what_it_is(tmp_path, capsys):
    from blossom_edge.base.errors import CorruptFileError, NotFoundError
    from blossom_edge.cli import main

    empty = tmp_path / "model.gguf"
    empty.touch()
    with pytest.raises(NotFoundError, match=r"is a directory, not a GGUF file"):
        read_gguf_info(tmp_path)
    with pytest.raises(CorruptFileError, match=r"model.gguf is empty \(0 bytes\), not a GGUF file"):
        read_gguf_info(empty)
    with pytest.raises(NotFoundError, match=r"no such GGUF file"):
        read_gguf_info(tmp_path / "missing.gguf")
    for args, reason in ((["inspect", str(tmp_path)], "is a directory, not a GGUF file"),
                         (["bench", str(empty)], "is empty (0 bytes), not a GGUF file"),
                         (["imatrix", str(tmp_path)], "is a directory, not a GGUF file")):
        assert main(args) == 1
        assert reason in capsys.readouterr().err
