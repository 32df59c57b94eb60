"""demo: end to end on a fresh, offline machine; the demo checkpoint is a real, torch-free Qwen2 checkpoint."""

from __future__ import annotations

import json
import socket

import pytest

from blossom_edge.cli import main


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_demo_checkpoint_is_deterministic_and_loads_in_transformers(tmp_path):
    from blossom_edge.demo.model import build_demo_checkpoint

    a = build_demo_checkpoint(tmp_path / "a")
    b = build_demo_checkpoint(tmp_path / "b")
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    config = json.loads((a / "config.json").read_text())
    safetensors = pytest.importorskip("safetensors.torch")
    weights = safetensors.load_file(str(a / "model.safetensors"))
    assert tuple(weights["lm_head.weight"].shape) == (config["vocab_size"], 512)
    assert str(weights["lm_head.weight"].dtype) == "torch.bfloat16"
    assert config["hidden_size"] % 256 == 0 and config["intermediate_size"] % 256 == 0
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(a))
    prompt = tok.apply_chat_template([{"role": "user", "content": "你好"}], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("\n|Human|: 你好\n|Bot|: ")


@pytest.mark.slow
def test_demo_end_to_end_offline(tmp_path, capsys, no_network):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gguf"].endswith("blossom-demo-tiny-Q4_K_M.gguf")
    assert {"Q4_K", "Q6_K"} <= set(data["tensor_types"])
    names = sorted(p.name for p in out.iterdir())
    assert "blossom-demo-tiny-Q4_K_M.gguf" in names and "blossom-demo-tiny-Q4_K_M.manifest.json" in names
    assert not [n for n in names if "intermediate" in n or n.endswith(".partial")]
    modelfile = (out / "Modelfile").read_text()
    assert data["modelfile"] and "FROM ./blossom-demo-tiny-Q4_K_M.gguf" in modelfile
    # The demo GGUF carries its checkpoint's chat template: the TEMPLATE is derived from it and proved.
    assert "tokenizer.chat_template, proved equal on 8 probe conversations" in modelfile
    assert "unverified" not in modelfile
    assert all(row["tokens_per_second"] > 0 for row in data["bench"])


def test_the_summary_ends_with_the_chat_line_for_the_demo_file_unbroken(capsys, monkeypatch, tmp_path):
    from blossom_edge.cli.commands.demo import _render
    from blossom_edge.cli.output import Output

    monkeypatch.setenv("COLUMNS", "60")
    gguf = "/tmp/a demo dir/blossom-demo-tiny-Q4_K_M.gguf"
    data = {"workdir": "/tmp/a demo dir", "checkpoint": "c", "gguf": gguf, "manifest": "m", "modelfile": None,
            "bytes": 1, "bits_per_weight": 4.5, "tensor_types": {}, "generated": "", "bench": [],
            "timings_seconds": {"build": 1.0}}
    _render(Output(), data)
    lines = capsys.readouterr().out.splitlines()
    assert f"next: blossom-edge chat '{gguf}'" in lines  # one line, quoted for the shell
    monkeypatch.chdir(tmp_path)
    _render(Output(), {**data, "gguf": str(tmp_path / "demo" / "blossom-demo-tiny-Q4_K_M.gguf")})
    assert "next: blossom-edge chat demo/blossom-demo-tiny-Q4_K_M.gguf" in capsys.readouterr().out.splitlines()
