"""typer's own usage errors read like every other error (one line), and flags show no value placeholder."""

from __future__ import annotations

import pytest

from blossom_edge.cli import main
from blossom_edge.cli.commands import COMMAND_MODULES


@pytest.mark.parametrize("args", [
    ["quantize", "4b", "q4_k_m", "--threads", "0"],
    ["bench", "x.gguf", "--pp", "-1"],
    ["fit", "--ctx", "12"],
    ["inspect", "x.gguf", "--ctx", "zero"],
    ["bench", "--no-such-flag"],
    ["quantize"],
    ["no-such-command"],
])
def test_bad_option_values_are_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("blossom-edge: error: ") and captured.err.count("\n") == 1, captured.err
    assert "╭" not in captured.err and "--help" in captured.err


def test_the_option_is_named_and_so_is_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quantize", "4b", "q4_k_m", "--threads", "0"]) == 2
    err = capsys.readouterr().err
    assert "'--threads'" in err and "blossom-edge quantize --help" in err


def test_no_arguments_still_show_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    assert "Usage: blossom-edge" in captured.out + captured.err and "error" not in captured.err


@pytest.mark.parametrize("command", [None, *COMMAND_MODULES])
def test_flags_show_no_bool_placeholder(command: str | None, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main([*([command] if command else []), "--help"]) == 0
    text = capsys.readouterr().out
    assert "--help" in text and "<bool>" not in text
