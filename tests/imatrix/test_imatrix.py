"""imatrix: statistics as llama-imatrix accumulates them, the file format, a first-layer oracle, bad inputs.

Parity with llama-imatrix itself is in test_imatrix_reference.py (slow: it builds the tool).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blossom_edge.cli import main
from blossom_edge.engine.eval_callback import Matmul, weight_name
from blossom_edge.imatrix.collector import Collector, Entry
from blossom_edge.imatrix.reader import load_imatrix
from blossom_edge.imatrix.text import calibration_text, default_text
from blossom_edge.imatrix.writer import read_provenance, write_imatrix
from tests import ROOT

DATA = ROOT / "blossom_edge" / "data"


def _one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and err.startswith("blossom-edge: error:"), err
    return err


# ----------------------------------------------------------------------------- accumulation


def test_dense_sums_every_row_of_every_matrix():
    rng = np.random.default_rng(0)
    collector = Collector(chunk_size=8)
    # A 2-D weight reading (1, 3, rows, width) activations: the three planes fold into one matrix.
    x = rng.standard_normal((1, 3, 8, 5)).astype(np.float32)
    collector(Matmul("blk.0.ffn_up.weight", x, None, (1, 1)))
    collector(Matmul("blk.0.ffn_up.weight", x[:, :1], None, (1, 1)))
    entry = collector.entries["blk.0.ffn_up.weight"]
    expected = (x.astype(np.float64) ** 2).sum(axis=(0, 1, 2)) + (x[:, :1].astype(np.float64) ** 2).sum(axis=(0, 1, 2))
    np.testing.assert_allclose(entry.sums[0], expected, rtol=1e-6)  # per-call sums are float32
    assert entry.counts.tolist() == [32]
    assert collector.chunk_count == 4


def test_stacked_weight_keeps_one_row_per_matrix():
    rng = np.random.default_rng(1)
    collector = Collector(chunk_size=4)
    x = rng.standard_normal((1, 2, 4, 3)).astype(np.float32)
    collector(Matmul("blk.0.attn_kv_b.weight", x, None, (2, 1)))
    entry = collector.entries["blk.0.attn_kv_b.weight"]
    for plane in range(2):
        np.testing.assert_allclose(entry.sums[plane], (x[0, plane].astype(np.float64) ** 2).sum(axis=0), rtol=1e-6)
    assert entry.counts.tolist() == [4]


def _experts_like_llama_imatrix(x, ids, n_experts):
    """llama-imatrix's MUL_MAT_ID loop, transcribed: idx over chosen slots, row over tokens."""
    sums = np.zeros((n_experts, x.shape[2]))
    counts = np.zeros(n_experts, dtype=np.int64)
    for idx in range(ids.shape[1]):
        for row in range(ids.shape[0]):
            ex = ids[row, idx]
            v = x[row, idx % x.shape[1]].astype(np.float64)
            sums[ex] += v * v
            counts[ex] += 1
    return sums, counts


@pytest.mark.parametrize("slots", [1, 2])
def test_experts_count_only_routed_tokens(slots):
    rng = np.random.default_rng(2)
    n_experts, tokens, used = 6, 20, 2
    ids = np.stack([rng.choice(n_experts - 1, used, replace=False) for _ in range(tokens)]).astype(np.int32)
    x = rng.standard_normal((tokens, slots, 7)).astype(np.float32)
    collector = Collector(chunk_size=10)
    collector(Matmul("blk.0.ffn_up_exps.weight", x, ids, (n_experts, 1)))
    sums, counts = _experts_like_llama_imatrix(x, ids, n_experts)
    entry = collector.entries["blk.0.ffn_up_exps.weight"]
    np.testing.assert_allclose(entry.sums, sums, rtol=1e-12)
    assert entry.counts.tolist() == counts.tolist() and counts[-1] == 0  # expert 5 never chosen


def test_non_finite_activations_and_bad_expert_ids_are_refused():
    from blossom_edge.base.errors import ExternalToolError

    x = np.full((1, 1, 16, 4), np.inf, dtype=np.float32)
    with pytest.raises(ExternalToolError, match="non-finite activations in blk.1.attn_q.weight"):
        Collector(chunk_size=16)(Matmul("blk.1.attn_q.weight", x, None, (1, 1)))
    ids = np.array([[7]], dtype=np.int32)
    with pytest.raises(ExternalToolError, match="expert id outside"):
        Collector(chunk_size=16)(Matmul("blk.0.ffn_down_exps.weight", np.ones((1, 1, 4), np.float32), ids, (4, 1)))


def test_backend_copies_are_named_after_their_weight():
    assert weight_name(b"CUDA0#blk.0.attn_k.weight#0") == "blk.0.attn_k.weight"
    assert weight_name(b"blk.3.ffn_down.weight") == "blk.3.ffn_down.weight"


# ----------------------------------------------------------------------------- the file


def test_written_file_reads_back_as_llama_quantize_divides_it(tmp_path):
    import gguf

    entries = {
        "blk.0.attn_q.weight": Entry(np.array([[2.0, 4.0, 6.0]]), np.array([2])),
        "blk.0.ffn_up_exps.weight": Entry(np.array([[3.0, 3.0], [0.0, 0.0]]), np.array([3, 0])),
    }
    path = write_imatrix(tmp_path / "m.imatrix.gguf", entries, datasets=["a.txt", "b.txt"], chunks=5,
                         chunk_size=512, provenance={"ctx": 512, "model": "m.gguf"})
    reader = gguf.GGUFReader(path)
    assert reader.fields["general.type"].contents() == "imatrix"
    assert reader.fields["imatrix.datasets"].contents() == ["a.txt", "b.txt"]
    assert reader.fields["imatrix.chunk_count"].contents() == 5
    assert reader.fields["imatrix.chunk_size"].contents() == 512
    shapes = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}
    # gguf-py lists ne (innermost first): in_sum2 is width × rows, counts 1 × rows, as llama-imatrix writes.
    assert shapes == {"blk.0.attn_q.weight.in_sum2": (3, 1), "blk.0.attn_q.weight.counts": (1, 1),
                      "blk.0.ffn_up_exps.weight.in_sum2": (2, 2), "blk.0.ffn_up_exps.weight.counts": (1, 2)}
    assert [t.name.removesuffix(".in_sum2") for t in reader.tensors][::2] == sorted(entries) and not list(tmp_path.glob("*.partial"))
    meta = load_imatrix(path)
    assert meta["chunks"] == 5 and meta["dataset"] == "a.txt"
    np.testing.assert_allclose(meta["entries"]["blk.0.attn_q.weight"], [1.0, 2.0, 3.0])
    # An expert no token reached counts as 1, as llama-quantize treats missing data.
    np.testing.assert_allclose(meta["entries"]["blk.0.ffn_up_exps.weight"], [1.0, 1.0, 1.0, 1.0])
    assert read_provenance(path) == {"ctx": 512, "model": "m.gguf"}


def test_calibration_text_is_not_the_quality_text():
    calibration = default_text()
    evaluation = (DATA / "eval_zh_en.txt").read_text(encoding="utf-8")
    sentences = {s.strip() for line in evaluation.splitlines() for s in line.replace("。", ".").split(".")
                 if len(s.strip()) >= 15}
    assert sentences and not [s for s in sentences if s in calibration.text]
    assert len(calibration.text.encode()) > 100_000
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in calibration.text)
    assert 0.1 < cjk / len(calibration.text) < 0.6  # both languages, in earnest
    assert calibration.datasets == ["blossom-edge:calibration_zh_en.txt"]


def test_user_texts_are_joined_and_named(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("第一段\n", encoding="utf-8")
    b.write_text("second", encoding="utf-8")
    text = calibration_text([a, b])
    assert text.text == "第一段\nsecond" and text.datasets == [str(a), str(b)]


# ----------------------------------------------------------------------------- on a real model


@pytest.fixture(scope="module")
def tiny_f32(tmp_path_factory) -> Path:
    from blossom_edge.convert import convert_checkpoint
    from tests.builders.checkpoints import build_checkpoint

    root = tmp_path_factory.mktemp("imatrix")
    ckpt = build_checkpoint(root / "blossom-tiny", "qwen2", hidden=128, layers=2, heads=4, dtype="float32")
    return convert_checkpoint(ckpt, root / "blossom-tiny-F32.gguf", "f32").path


def _gguf_tensor(reader, name: str):
    tensor = next(t for t in reader.tensors if t.name == name)
    return np.asarray(tensor.data, dtype=np.float64).reshape([int(n) for n in reversed(tensor.shape)])


def test_first_layer_inputs_match_an_oracle_from_the_weights(tiny_f32, tmp_path):
    """blk.0's attention reads RMSNorm(embedding) × norm weight: computable from the GGUF alone."""
    import gguf

    from blossom_edge.engine.llama_lowlevel import LlamaEngine
    from blossom_edge.imatrix.compute import compute_imatrix

    text = default_text()
    ctx, chunks = 64, 3
    result = compute_imatrix(tiny_f32, tmp_path / "t.imatrix.gguf", text, ctx=ctx, chunks=chunks, threads=2)
    assert result.chunks == chunks and result.tokens == ctx * chunks and result.perplexity > 1

    engine = LlamaEngine()
    model = engine.load(tiny_f32)
    try:
        tokens = engine.tokenize(model, text.text, add_special=True, parse_special=False)
        _, bos = engine.vocab(model)
    finally:
        engine.free_model(model)
    fed = []
    for i in range(chunks):
        chunk = tokens[i * ctx:(i + 1) * ctx]
        fed += [bos, *chunk[1:]] if bos is not None else chunk
    reader = gguf.GGUFReader(tiny_f32)
    eps = float(reader.fields["qwen2.attention.layer_norm_rms_epsilon"].contents())
    emb = _gguf_tensor(reader, "token_embd.weight")[fed]
    normed = emb / np.sqrt((emb ** 2).mean(axis=1, keepdims=True) + eps) * _gguf_tensor(reader, "blk.0.attn_norm.weight")
    expected = (normed ** 2).sum(axis=0)

    reader = gguf.GGUFReader(result.path)
    stored = {t.name: np.asarray(t.data, dtype=np.float64).reshape(-1) for t in reader.tensors}
    for weight in ("attn_q", "attn_k", "attn_v"):
        np.testing.assert_allclose(stored[f"blk.0.{weight}.weight.in_sum2"], expected, rtol=1e-4)
        assert stored[f"blk.0.{weight}.weight.counts"].tolist() == [ctx * chunks]
    per_layer = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}
    assert {n.removesuffix(".in_sum2") for n in stored if n.endswith(".in_sum2")} == {
        f"blk.{i}.{w}.weight" for i in range(2) for w in per_layer}


def test_cli_json_and_default_name(tiny_f32, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["imatrix", str(tiny_f32), "--ctx", "64", "--chunks", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["path"] == str(tmp_path / "blossom-tiny.imatrix.gguf") and data["chunks"] == 2
    assert data["entries"] == 14 and data["datasets"] == ["blossom-edge:calibration_zh_en.txt"]
    assert load_imatrix(Path(data["path"]))["chunks"] == 2


def test_full_vocabulary_model(tmp_path, capsys):
    """The real Qwen2 vocabulary (151,643 tokens): larger arrays than any check of ours may refuse."""
    from blossom_edge.convert import convert_checkpoint
    from tests.builders.checkpoints import build_checkpoint

    ckpt = build_checkpoint(tmp_path / "blossom-full", "qwen2", hidden=64, layers=1, heads=2, tokenizer="full")
    model = convert_checkpoint(ckpt, tmp_path / "blossom-full-BF16.gguf", "auto").path
    out = tmp_path / "full.imatrix.gguf"
    assert main(["imatrix", str(model), "--ctx", "64", "--chunks", "2", "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 7 and load_imatrix(out)["chunks"] == 2


@pytest.mark.parametrize("case", ["missing", "not-gguf", "short-text", "tiny-ctx", "output-is-model",
                                  "not-utf8", "text-missing", "text-dir"])
def test_bad_inputs_are_one_line(case, tiny_f32, tmp_path, capsys):
    out = tmp_path / "out.imatrix.gguf"
    args = ["imatrix", str(tiny_f32), "-o", str(out)]
    if case == "missing":
        args[1] = str(tmp_path / "nope.gguf")
    elif case == "not-gguf":
        bad = tmp_path / "bad.gguf"
        bad.write_bytes(b"not a gguf at all, only words" * 10)
        args[1] = str(bad)
    elif case == "short-text":
        short = tmp_path / "short.txt"
        short.write_text("too short", encoding="utf-8")
        args += ["--text", str(short)]
    elif case == "tiny-ctx":
        args += ["--ctx", "8"]
    elif case == "output-is-model":
        args[-1] = str(tiny_f32)
    elif case == "not-utf8":
        raw = tmp_path / "latin1.txt"
        raw.write_bytes("caf\xe9 ".encode("latin-1") * 2000)
        args += ["--text", str(raw)]
    elif case == "text-missing":
        args += ["--text", str(tmp_path / "absent.txt")]
    elif case == "text-dir":
        args += ["--text", str(tmp_path)]
    err = _one_line_error(capsys, main(args))
    expected = {"missing": "no such GGUF", "not-gguf": "GGUF", "short-text": "needs at least",
                "tiny-ctx": "too short", "output-is-model": "one of the inputs", "not-utf8": "not UTF-8",
                "text-missing": "no such calibration text", "text-dir": "directory"}[case]
    assert expected in err
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_mid_decode_stops_the_graph_and_leaves_nothing(tiny_f32, tmp_path, monkeypatch, signum):
    """The signal arrives while llama.cpp is inside a decode, calling back into Python: it is held
    (a raise there would be swallowed by ctypes), the graph stops at the next node, the run ends
    as `Interrupted` and no matrix is written."""
    import os
    import signal

    from blossom_edge.base.signals import Interrupted, signals_as_interrupts
    from blossom_edge.imatrix.compute import compute_imatrix

    calls: list[str] = []
    collect = Collector.__call__

    def sends_a_signal(self, mm):
        calls.append(mm.weight)
        if len(calls) == 1:
            os.kill(os.getpid(), getattr(signal, signum))
        collect(self, mm)

    monkeypatch.setattr(Collector, "__call__", sends_a_signal)
    out = tmp_path / "stopped.imatrix.gguf"
    with pytest.raises(Interrupted), signals_as_interrupts():
        compute_imatrix(tiny_f32, out, default_text(), ctx=64, chunks=8, threads=2)
    assert calls == ["blk.0.attn_q.weight"]  # nothing after the signal, of 14 weights × 8 chunks
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
