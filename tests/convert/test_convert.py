"""HF → GGUF conversion: logits parity with transformers, byte-exact copies, the plan, bad inputs."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from blossom_edge.cli import main
from blossom_edge.convert import convert_checkpoint
from tests.builders.checkpoints import build_checkpoint

PROMPT = "A chat between a human and a bot.\n|Human|: 你好，请用 Python 写一个二分查找。\n|Bot|: def search(xs, x):"
GGML_TYPE_F32 = 0


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """One tiny checkpoint per architecture, in the storage variants the hub serves."""
    root = tmp_path_factory.mktemp("ckpt")
    return {
        "qwen2": build_checkpoint(root / "qwen2", "qwen2", dtype="bfloat16", tie=False),
        "qwen2-tied-sharded-f16": build_checkpoint(root / "qwen2-tied", "qwen2", dtype="float16", tie=True,
                                                   sharded=True, extra_vocab=21),
        "qwen3": build_checkpoint(root / "qwen3", "qwen3", dtype="bfloat16", sharded=True),
        "llama": build_checkpoint(root / "llama", "llama", dtype="bfloat16", heads=8, kv_heads=2),
        "mistral": build_checkpoint(root / "mistral", "mistral", dtype="float16", sharded=True),
    }


def reference_logits(model_dir: Path, ids: list[int]) -> np.ndarray:
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


def hf_ids(model_dir: Path, text: str) -> list[int]:
    import transformers

    return transformers.AutoTokenizer.from_pretrained(model_dir)(text)["input_ids"]


def llama_logits(gguf_path: Path, ids: list[int]) -> np.ndarray:
    import llama_cpp

    # F32 KV cache: the default F16 cache would be the largest error source, not the converter.
    llm = llama_cpp.Llama(model_path=str(gguf_path), logits_all=True, verbose=False, n_ctx=256,
                          type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32, n_threads=2)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)])


@pytest.mark.parametrize("name", ["qwen2", "qwen2-tied-sharded-f16", "qwen3", "llama", "mistral"])
def test_f32_logits_match_transformers(checkpoints, tmp_path, name):
    model_dir = checkpoints[name]
    out = convert_checkpoint(model_dir, tmp_path / "m.gguf", "f32").path
    ids = hf_ids(model_dir, PROMPT)
    assert len(ids) > 10
    ref, got = reference_logits(model_dir, ids), llama_logits(out, ids)
    assert got.shape == ref.shape
    assert (got.argmax(-1) == ref.argmax(-1)).all()
    assert np.abs(got - ref).max() < 1e-3


# Measured on this tiny random llama (logit spread ≈ 12): f16 0.006 max abs error, bf16 0.065
# (ggml's bf16 matmul rounds activations to bf16 too), q8_0 0.28. Random weights give flat
# distributions with near-ties, so argmax agreement is a weaker signal than on a real model.
@pytest.mark.parametrize("outtype,max_frac,min_argmax", [
    ("f16", 0.002, 0.95), ("auto", 0.015, 0.9), ("bf16", 0.015, 0.9), ("q8_0", 0.05, 0.75),
])
def test_reduced_precision_stays_within_tolerance(checkpoints, tmp_path, outtype, max_frac, min_argmax):
    """Max abs logit error as a fraction of the logit spread, and argmax agreement, per output type."""
    model_dir = checkpoints["llama"]
    out = convert_checkpoint(model_dir, tmp_path / "m.gguf", outtype).path
    ids = hf_ids(model_dir, PROMPT)
    ref, got = reference_logits(model_dir, ids), llama_logits(out, ids)
    spread = ref.max() - ref.min()
    assert np.abs(got - ref).max() < max_frac * spread
    assert (got.argmax(-1) == ref.argmax(-1)).mean() >= min_argmax


def _gguf_tensors(path: Path) -> dict[str, tuple[str, bytes]]:
    import gguf

    reader = gguf.GGUFReader(path)
    return {t.name: (t.tensor_type.name, bytes(t.data.tobytes())) for t in reader.tensors}


def test_bf16_auto_is_a_byte_copy(checkpoints, tmp_path):
    """`auto` on a bf16 checkpoint keeps bf16, and Qwen tensors (no permutation) are the stored bytes."""
    model_dir = checkpoints["qwen2"]
    result = convert_checkpoint(model_dir, tmp_path / "m.gguf", "auto")
    assert result.outtype == "bf16"
    tensors = _gguf_tensors(result.path)
    raw = (model_dir / "model.safetensors").read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_len])
    hf_bytes = {k: raw[8 + header_len + v["data_offsets"][0]: 8 + header_len + v["data_offsets"][1]]
                for k, v in header.items() if k != "__metadata__" and v["dtype"] == "BF16" and len(v["shape"]) == 2}
    assert tensors["token_embd.weight"] == ("BF16", hf_bytes["model.embed_tokens.weight"])
    assert tensors["blk.1.attn_q.weight"] == ("BF16", hf_bytes["model.layers.1.self_attn.q_proj.weight"])
    assert tensors["blk.0.attn_norm.weight"][0] == "F32"
    assert tensors["blk.0.attn_q.bias"][0] == "F32"


def test_padded_vocab_and_tied_embeddings(checkpoints, tmp_path):
    from blossom_edge.inputs.gguf_info import read_gguf_info

    model_dir = checkpoints["qwen2-tied-sharded-f16"]
    config = json.loads((model_dir / "config.json").read_text())
    info = read_gguf_info(convert_checkpoint(model_dir, tmp_path / "m.gguf", "auto").path)
    assert info.vocab_size == config["vocab_size"]
    assert "output.weight" not in info.tensor_types
    assert info.tensor_types["token_embd.weight"] == "F16"


def test_hyperparameters_written(checkpoints, tmp_path):
    from blossom_edge.inputs.gguf_info import read_gguf_info

    for name, arch in (("llama", "llama"), ("qwen3", "qwen3"), ("mistral", "llama")):
        model_dir = checkpoints[name]
        config = json.loads((model_dir / "config.json").read_text())
        info = read_gguf_info(convert_checkpoint(model_dir, tmp_path / f"{name}.gguf", "auto").path)
        assert info.architecture == arch
        assert info.n_layer == config["num_hidden_layers"]
        assert info.n_head_kv == config["num_key_value_heads"]
        assert info.context_length == config["max_position_embeddings"]
        assert info.arch_key("feed_forward_length") == config["intermediate_size"]
        assert info.arch_key("attention.layer_norm_rms_epsilon") == pytest.approx(config["rms_norm_eps"])
        assert info.metadata["general.file_type"] in (1, 32)
    assert read_gguf_info(tmp_path / "qwen3.gguf").arch_key("attention.key_length") == config_head_dim(checkpoints)


def config_head_dim(checkpoints) -> int:
    return json.loads((checkpoints["qwen3"] / "config.json").read_text())["head_dim"]


def test_dry_run_writes_nothing(checkpoints, tmp_path, capsys):
    out = tmp_path / "x.gguf"
    assert main(["convert", str(checkpoints["llama"]), "-o", str(out), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert not out.exists() and not list(tmp_path.iterdir())
    assert plan["outtype"] == "bf16" and plan["architecture"] == "llama"
    assert {"token_embd.weight", "output.weight", "blk.0.attn_q.weight"} <= {t["name"] for t in plan["tensors"]}


def test_default_output_name_uses_catalog_name(checkpoints, tmp_path, monkeypatch):
    import shutil

    model_dir = tmp_path / "blossom-v5-4b"
    shutil.copytree(checkpoints["qwen2"], model_dir)
    monkeypatch.chdir(tmp_path)
    assert main(["convert", str(model_dir)]) == 0
    assert (tmp_path / "blossom-v5-4b-BF16.gguf").is_file()


def test_interrupt_leaves_no_file(checkpoints, tmp_path, monkeypatch):
    from blossom_edge.convert import stream

    calls = {"n": 0}
    original = stream.StreamedTensor.tofile

    def interrupted(self, fout):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        original(self, fout)

    monkeypatch.setattr(stream.StreamedTensor, "tofile", interrupted)
    assert main(["convert", str(checkpoints["llama"]), "-o", str(tmp_path / "m.gguf")]) == 130
    assert list(tmp_path.iterdir()) == []
