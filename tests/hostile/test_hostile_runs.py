"""Runs a hostile user can set up: outputs that are inputs, two writers, signals, incomplete
checkpoints, files llama.cpp refuses. Each ends in one line and leaves nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from blossom_edge.base.atomic import atomic_output
from blossom_edge.cli import main
from tests import ROOT
from tests.quantize.test_quantize_tiny import write_tiny_gguf


@pytest.fixture()
def checkpoint(demo, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(demo, tmp_path / "ckpt"))


def _one_line(capsys, code: int, expected: int) -> str:
    captured = capsys.readouterr()
    assert code == expected, captured.err
    assert captured.err.count("\n") == 1 and "internal error" not in captured.err, captured.err
    return captured.err


def _without(checkpoint: Path, *drop: str) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(checkpoint / "model.safetensors")
    save_file({k: v for k, v in weights.items() if k not in drop}, checkpoint / "model.safetensors")


@pytest.mark.parametrize("target", ["model.safetensors", "config.json", "tokenizer.json"])
def test_convert_never_writes_over_its_own_checkpoint(checkpoint, capsys, target):
    before = (checkpoint / target).read_bytes()
    err = _one_line(capsys, main(["convert", str(checkpoint), "-o", str(checkpoint / target)]), 2)
    assert "one of the inputs" in err
    assert (checkpoint / target).read_bytes() == before


def test_convert_through_a_link_to_its_own_shard_is_refused(checkpoint, tmp_path, capsys):
    (tmp_path / "out.gguf").symlink_to(checkpoint / "model.safetensors")
    _one_line(capsys, main(["convert", str(checkpoint), "-o", str(tmp_path / "out.gguf")]), 2)
    assert (checkpoint / "model.safetensors").stat().st_size > 1000


def test_quantize_and_modelfile_refuse_their_inputs_as_outputs(tmp_path, capsys):
    gguf = write_tiny_gguf(tmp_path / "blossom-v5-4b-BF16.gguf")
    before = gguf.read_bytes()
    _one_line(capsys, main(["modelfile", str(gguf), "-o", str(gguf)]), 2)
    assert gguf.read_bytes() == before


def test_a_second_run_on_the_same_output_fails_without_touching_the_first(checkpoint, tmp_path, capsys):
    out = tmp_path / "m.gguf"
    with atomic_output(out) as partial:
        partial.write_bytes(b"the first run's bytes")
        err = _one_line(capsys, main(["convert", str(checkpoint), "-o", str(out)]), 1)
        assert "another run is writing m.gguf" in err
        assert partial.read_bytes() == b"the first run's bytes"
    assert out.read_bytes() == b"the first run's bytes"


@pytest.mark.parametrize("drop, missing", [
    (("model.layers.2.mlp.down_proj.weight",), "blk.2.ffn_down.weight"),
    (("model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight",
      "model.layers.2.self_attn.q_proj.weight", "model.layers.3.self_attn.q_proj.weight"), "blk.0.attn_q.weight"),
    (("model.norm.weight",), "output_norm.weight"),
    (("model.layers.3.input_layernorm.weight",), "blk.3.attn_norm.weight"),
    (("model.layers.1.self_attn.k_proj.bias",), "blk.1.attn_k.bias"),
])
def test_an_incomplete_checkpoint_names_what_is_missing_and_writes_nothing(checkpoint, tmp_path, capsys,
                                                                             drop, missing):
    _without(checkpoint, *drop)
    err = _one_line(capsys, main(["convert", str(checkpoint), "-o", str(tmp_path / "m.gguf")]), 1)
    assert missing in err
    assert not list(tmp_path.glob("m.gguf*"))


_STALL = """
import sys, time
from blossom_edge.convert import stream
real = stream.StreamedTensor.tofile
def stalled(self, fout):
    real(self, fout)
    print("writing", flush=True)
    time.sleep(60)
stream.StreamedTensor.tofile = stalled
from blossom_edge.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_convert_is_interrupted_and_leaves_nothing(checkpoint, tmp_path, signum, code):
    out = tmp_path / "m.gguf"
    proc = subprocess.Popen([sys.executable, "-c", _STALL, "convert", str(checkpoint), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline() == "writing\n"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert err.strip() == "blossom-edge: error: interrupted"
    assert list(tmp_path.glob("m.gguf*")) == []


def _unknown_architecture(tmp_path: Path) -> Path:
    path = write_tiny_gguf(tmp_path / "weird-BF16.gguf")
    data = path.read_bytes().replace(b"qwen2", b"qwenz")
    path.write_bytes(data)
    return path


def test_llama_cpp_says_why_it_refused_a_file(tmp_path, capsys):
    path = _unknown_architecture(tmp_path)
    err = _one_line(capsys, main(["bench", str(path), "--pp", "8", "--tg", "0", "--reps", "1",
                                  "--bandwidth", "10", "--force"]), 1)
    assert "unknown model architecture" in err and "qwenz" in err


def test_verification_says_why_llama_cpp_refused(tmp_path):
    from blossom_edge.base.errors import ExternalToolError
    from blossom_edge.quantize.verify import verify_gguf

    with pytest.raises(ExternalToolError, match="unknown model architecture"):
        verify_gguf(_unknown_architecture(tmp_path))


def test_off_a_terminal_a_failing_command_prints_only_its_error(tmp_path):
    path = _unknown_architecture(tmp_path)
    result = subprocess.run([sys.executable, "-m", "blossom_edge", "bench", str(path), "--pp", "8", "--tg", "0",
                             "--reps", "1", "--force"], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("blossom-edge: error:"), result.stderr
    assert json.dumps(result.stdout) == '""'


@pytest.mark.parametrize("change, fragment", [
    ({"architectures": 5}, "architectures"),
    ({"architectures": [["Qwen2ForCausalLM"]]}, "architectures"),
    ({"num_hidden_layers": "abc"}, "num_hidden_layers"),
    ({"num_hidden_layers": None}, "no num_hidden_layers"),
    ({"num_hidden_layers": 0}, "num_hidden_layers"),
    ({"num_hidden_layers": True}, "num_hidden_layers"),
    ({"hidden_size": 1e400}, "hidden_size"),
    ({"num_attention_heads": -8}, "num_attention_heads"),
    ({"num_key_value_heads": 3}, "multiple of"),
    ({"intermediate_size": [1536]}, "intermediate_size"),
    ({"vocab_size": 2**62}, "vocab_size"),
    ({"rms_norm_eps": "tiny"}, "rms_norm_eps"),
    ({"rope_theta": float("nan")}, "rope_theta"),
    ({"rope_scaling": "linear"}, "rope_scaling"),
    ({"rope_scaling": {"type": "linear", "factor": "x"}}, "factor"),
    ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "original_max_position_embeddings"),
    ({"max_position_embeddings": 1.5}, "max_position_embeddings"),
])
def test_a_config_of_the_wrong_shape_is_one_line(checkpoint, tmp_path, capsys, change, fragment):
    config = json.loads((checkpoint / "config.json").read_text())
    config.update(change)
    (checkpoint / "config.json").write_text(json.dumps(config, allow_nan=True))
    err = _one_line(capsys, main(["convert", str(checkpoint), "-o", str(tmp_path / "m.gguf")]), 1)
    assert fragment in err and len(err) < 400
    assert not list(tmp_path.glob("m.gguf*"))


def test_report_never_draws_its_chart_over_its_input(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    results = tmp_path / "runs.json"
    results.write_text(json.dumps([{"device": "d", "model_filename": "m.gguf", "n_gen": 16, "avg_ts": 5.0,
                                    "model_size": 100, "device_ram_total": 1000, "n_threads": 2}]))
    before = results.read_bytes()
    err = _one_line(capsys, main(["report", str(results), "--png", str(results), "--no-chart"]), 2)
    assert "one of the inputs" in err and results.read_bytes() == before
