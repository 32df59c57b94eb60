"""The bulk array packing writes exactly what gguf-py's own writer writes."""

from __future__ import annotations

import gguf
import pytest

from blossom_edge.engine.gguf_io import fast_writer


def _file_bytes(writer: gguf.GGUFWriter, path) -> bytes:
    writer.write_header_to_file(path=path)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    return path.read_bytes()


@pytest.mark.parametrize("values", [
    [f"tok{i}" for i in range(1000)] + ["你好", "🦙", "Ġthe", ""],
    [b"\xff\xfe" * (i % 3) for i in range(300)],
    [float(i) / 7 for i in range(500)] + [1e-45, -0.0, 3.4e38],
    [int(gguf.TokenType.NORMAL)] * 400 + [gguf.TokenType.CONTROL, -5, 2**31 - 1],
    list(range(10)),
])
def test_bulk_arrays_match_gguf_py(tmp_path, values):
    ours, stock = fast_writer("llama"), gguf.GGUFWriter(path=None, arch="llama")
    for writer in (ours, stock):
        writer.add_array("test.values", values)
        writer.add_token_list(["a", "b", "c"])
        writer.add_string("test.after", "still read correctly")
    assert _file_bytes(ours, tmp_path / "ours.gguf") == _file_bytes(stock, tmp_path / "stock.gguf")


def test_mixed_types_fall_back_to_gguf_py(tmp_path):
    with pytest.raises(ValueError, match="same type"):
        _file_bytes(_add(fast_writer("llama"), ["a"] * 300 + [1]), tmp_path / "x.gguf")


def _add(writer: gguf.GGUFWriter, values: list) -> gguf.GGUFWriter:
    writer.add_array("test.values", values)
    return writer
