"""cli/records.py: a table when it fits, else key: value blocks; wrapping never splits a word."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from blossom_edge.cli.output import Output
from blossom_edge.cli.records import Column, fields, table, wrap

ROWS = [["blossom-v5.1-34b-Q4_K_M.gguf", "Q4_K_M", "19.6 GiB", "736.9±229.7"],
        ["blossom-v6.3-30b-a3b-IQ2_XXS.gguf", "IQ2_XXS", "8.1 GiB", "12.0±0.4"]]
COLUMNS = ["file", "quant", Column("size", right=True), Column("t/s", right=True)]


def _render(width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], draw) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(width))
    draw(Output())
    return capsys.readouterr().out.splitlines()


def test_wide_enough_is_one_line_per_row(monkeypatch, capsys) -> None:
    lines = _render(120, monkeypatch, capsys, lambda out: table(out, COLUMNS, ROWS, title="bench"))
    assert lines[0] == "bench" and lines[1].split() == ["file", "quant", "size", "t/s"]
    assert [line.split()[0] for line in lines[2:]] == [r[0] for r in ROWS]
    assert lines[2].endswith("736.9±229.7")


def test_too_narrow_is_one_block_per_row(monkeypatch, capsys) -> None:
    lines = _render(40, monkeypatch, capsys, lambda out: table(out, COLUMNS, ROWS))
    assert lines[:4] == ["file:  blossom-v5.1-34b-Q4_K_M.gguf", "quant: Q4_K_M", "size:  19.6 GiB",
                         "t/s:   736.9±229.7"]
    assert lines[4] == "" and lines[5] == "file:  blossom-v6.3-30b-a3b-IQ2_XXS.gguf"
    assert all(cell_len(line) <= 40 for line in lines)


def test_a_value_too_long_beside_its_key_goes_under_it_whole(monkeypatch, capsys) -> None:
    name = "blossom-v6.3-30b-a3b-IQ2_XXS.gguf"
    lines = _render(36, monkeypatch, capsys, lambda out: fields(out, [("model file", name), ("note", "a b c")]))
    assert lines == ["model file:", f"  {name}", "note:       a b c"]


def test_wrap_breaks_at_spaces_only() -> None:
    assert wrap("aa bb cc", 5) == ["aa bb", "cc"]
    assert wrap("short averyveryverylongidentifier x", 10) == ["short", "averyveryverylongidentifier", "x"]
    assert wrap("中文 中文", 4) == ["中文", "中文"]


def test_a_wrapped_paragraph_hangs_under_its_first_line(monkeypatch, capsys) -> None:
    from blossom_edge.cli.records import paragraph

    lines = _render(32, monkeypatch, capsys,
                    lambda out: paragraph(out, "Modelfile:3: error: invalid int value [1.5] for top_k", hanging=2))
    assert lines == ["Modelfile:3: error: invalid int", "  value [1.5] for top_k"]
