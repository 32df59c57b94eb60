"""inspect: the facts of a GGUF and a RAM estimate, as a table and as JSON."""

from __future__ import annotations

import json

from blossom_edge.cli import main
from tests.quantize.test_quantize_tiny import write_tiny_gguf


def test_inspect_json(tmp_path, capsys):
    path = write_tiny_gguf(tmp_path / "tiny-BF16.gguf")
    assert main(["inspect", str(path), "--ctx", "1024", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["architecture"] == "qwen2" and data["context_length"] == 512
    assert data["types"]["BF16"]["tensors"] == 16 and 15.9 < data["bits_per_weight"] < 16.1
    assert data["special_tokens"]["eos"] == 260 and "|Human|" in data["chat_template"]
    mem = data["memory"]
    assert mem["n_ctx"] == 1024 and mem["weights"] == sum(t["bytes"] for t in data["types"].values())
    assert mem["kv_cache"] == 1024 * 2 * 2 * 2 * 64 * 2
    assert mem["total"] >= mem["weights"] + mem["kv_cache"] + mem["compute"]


def test_inspect_table(tmp_path, capsys):
    path = write_tiny_gguf(tmp_path / "tiny-BF16.gguf")
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "qwen2" in out and "BF16" in out and "RAM at 4096 tokens" in out


def test_inspect_not_gguf(tmp_path, capsys):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGML nope")
    assert main(["inspect", str(bad)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a GGUF" in err
