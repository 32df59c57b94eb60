"""Every way a user can hand `convert` a bad input: one line on stderr, exit ≠ 0, no file left."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest

from blossom_edge.cli import main
from tests.builders.checkpoints import build_checkpoint


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pristine")
    return {
        "single": build_checkpoint(root / "single", "qwen2", hidden=64, heads=2),
        "sharded": build_checkpoint(root / "sharded", "qwen2", hidden=64, heads=2, sharded=True),
    }


@pytest.fixture
def work(tmp_path, pristine):
    """A fresh copy of the checkpoints to damage, and an output directory to watch."""
    out = tmp_path / "out"
    out.mkdir()
    copies = {k: Path(shutil.copytree(v, tmp_path / k)) for k, v in pristine.items()}
    return copies, out


def run_convert(model_dir: Path, out_dir: Path, capsys) -> tuple[int, str]:
    code = main(["convert", str(model_dir), "-o", str(out_dir / "model.gguf")])
    err = capsys.readouterr().err
    assert list(out_dir.iterdir()) == [], "an output or partial file was left behind"
    return code, err


def assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def _header(path: Path) -> tuple[int, dict, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return n, json.loads(raw[8:8 + n]), raw[8 + n:]


def _rewrite(path: Path, header: dict, data: bytes) -> None:
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def test_truncated_shard(work, capsys):
    ckpts, out = work
    shard = sorted(ckpts["sharded"].glob("*.safetensors"))[0]
    os.truncate(shard, shard.stat().st_size - 100)
    assert_one_line(*run_convert(ckpts["sharded"], out, capsys), shard.name, "truncated")


def test_header_length_past_end_of_file(work, capsys):
    ckpts, out = work
    path = ckpts["single"] / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes(struct.pack("<Q", len(raw) * 2) + raw[8:])
    assert_one_line(*run_convert(ckpts["single"], out, capsys), "model.safetensors", "past the end")


def test_malformed_header_json(work, capsys):
    ckpts, out = work
    path = ckpts["single"] / "model.safetensors"
    n, _, data = _header(path)
    raw = path.read_bytes()
    path.write_bytes(raw[:8] + b"{not json" + raw[17:])
    assert_one_line(*run_convert(ckpts["single"], out, capsys), "malformed", "JSON")


def test_data_size_mismatch(work, capsys):
    ckpts, out = work
    path = ckpts["single"] / "model.safetensors"
    _, header, data = _header(path)
    name = next(k for k, v in header.items() if k != "__metadata__" and len(v["shape"]) == 2)
    header[name]["shape"] = [header[name]["shape"][0] + 1, header[name]["shape"][1]]
    _rewrite(path, header, data)
    assert_one_line(*run_convert(ckpts["single"], out, capsys), name, "needs")


def test_tensor_missing_from_shard(work, capsys):
    ckpts, out = work
    index_path = ckpts["sharded"] / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["model.layers.0.mlp.extra.weight"] = sorted(set(index["weight_map"].values()))[0]
    index_path.write_text(json.dumps(index))
    assert_one_line(*run_convert(ckpts["sharded"], out, capsys), "model.layers.0.mlp.extra.weight")


def test_missing_config(work, capsys):
    ckpts, out = work
    (ckpts["single"] / "config.json").unlink()
    assert_one_line(*run_convert(ckpts["single"], out, capsys), "config.json")


def test_unknown_architecture(work, capsys):
    ckpts, out = work
    config_path = ckpts["single"] / "config.json"
    config = json.loads(config_path.read_text())
    config["architectures"] = ["GPTNeoXForCausalLM"]
    config_path.write_text(json.dumps(config))
    assert_one_line(*run_convert(ckpts["single"], out, capsys), "GPTNeoXForCausalLM", "Qwen2ForCausalLM",
                    "LlamaForCausalLM")


def test_missing_tokenizer(work, capsys):
    ckpts, out = work
    for name in ("tokenizer.json", "tokenizer.model", "vocab.json", "merges.txt"):
        (ckpts["single"] / name).unlink(missing_ok=True)
    assert_one_line(*run_convert(ckpts["single"], out, capsys), "tokenizer")


def test_only_pickle_weights(work, capsys):
    ckpts, out = work
    model_dir = ckpts["single"]
    (model_dir / "model.safetensors").rename(model_dir / "pytorch_model.bin")
    assert_one_line(*run_convert(model_dir, out, capsys), "arbitrary code", "safetensors")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere; the read-only mount case covers it")
def test_output_directory_not_writable(work, capsys):
    ckpts, out = work
    out.chmod(0o500)
    try:
        assert_one_line(*run_convert(ckpts["single"], out, capsys), str(out))
    finally:
        out.chmod(0o700)


def test_output_directory_read_only_filesystem(work, capsys):
    """/proc refuses new files even to root, so this case runs everywhere."""
    ckpts, _ = work
    code = main(["convert", str(ckpts["single"]), "-o", "/proc/blossom-edge-test.gguf"])
    assert_one_line(code, capsys.readouterr().err, "/proc")


def test_output_directory_missing(work, capsys, tmp_path):
    ckpts, _ = work
    missing = tmp_path / "nope"
    code = main(["convert", str(ckpts["single"]), "-o", str(missing / "m.gguf")])
    assert_one_line(code, capsys.readouterr().err, str(missing))
    assert not missing.exists()


def test_unsupported_dtype(work, capsys):
    ckpts, out = work
    path = ckpts["single"] / "model.safetensors"
    _, header, data = _header(path)
    name = next(k for k in header if k != "__metadata__")
    header[name]["dtype"] = "F8_E4M3"
    _rewrite(path, header, data)
    assert_one_line(*run_convert(ckpts["single"], out, capsys), "F8_E4M3")


def test_offline_alias_fails_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    code = main(["convert", "4b", "-o", str(tmp_path / "m.gguf")])
    assert_one_line(code, capsys.readouterr().err, "Azure99/blossom-v5-4b", "offline")


def test_unknown_source(tmp_path, capsys):
    code = main(["convert", str(tmp_path / "no-such-dir")])
    assert_one_line(code, capsys.readouterr().err, "no-such-dir")
