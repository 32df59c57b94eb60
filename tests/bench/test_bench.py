"""`bench` on a tiny GGUF: shape and sanity of the rows, the store, and refusal when RAM is short."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from blossom_edge.bench.store import ResultsStore
from blossom_edge.cli import main
from blossom_edge.inputs.gguf_info import read_gguf_info
from blossom_edge.model.memory import bytes_per_token, estimate
from tests import DATA
from tests.builders.tiny_gguf import build_tiny_llama

DEVICES = DATA / "devices"
QUICK = ["--pp", "16", "--tg", "8", "--reps", "3", "--bandwidth", "10"]

pytestmark = pytest.mark.usefixtures("data_home")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def _bench_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    assert main(["bench", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_rows_like_llama_bench(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _bench_json(capsys, str(tiny), *QUICK, "--threads", "1,2")
    assert [(r["n_threads"], r["n_prompt"], r["n_gen"]) for r in rows] == [(1, 16, 0), (1, 0, 8), (2, 16, 0), (2, 0, 8)]
    size = tiny.stat().st_size
    for r in rows:
        assert r["model_filename"] == str(tiny)
        assert r["model_type"].startswith("llama")
        assert r["model_n_params"] == read_gguf_info(tiny).n_params
        assert 0 < r["model_size"] <= size
        assert len(r["samples_ns"]) == len(r["samples_ts"]) == 3
        assert r["avg_ts"] > 0 and all(t > 0 for t in r["samples_ts"])
        assert r["stddev_ts"] >= 0 and r["stddev_ns"] >= 0
        assert r["avg_ts"] == pytest.approx(sum(r["samples_ts"]) / 3)
        assert r["peak_rss"] > r["model_size"]
        assert r["est_memory"] > r["model_size"]
        assert r["load_time_s"] > 0
        assert r["ram_available_before"] > 0 and r["ram_available_after"] > 0
        assert r["swap_growth"] is not None
        assert "throttled" in r and "temp_before_c" in r and "energy_j_per_token" in r
        assert r["device_id"] and r["device_ram_total"] > 0
        assert r["mtp_layers"] == 0
    gen = [r for r in rows if r["n_gen"]]
    for r in gen:
        assert r["bytes_per_token"] > 0
        assert r["bandwidth_bps"] == pytest.approx(r["avg_ts"] * r["bytes_per_token"])
        assert r["bandwidth_share"] == pytest.approx(r["bandwidth_bps"] / 10e9)
    with ResultsStore() as store:
        assert len(store.rows()) == 4


@pytest.mark.slow
def test_csv_has_llama_bench_header(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(tiny), *QUICK, "--tg", "0", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1
    for field in ("model_filename", "model_type", "model_size", "model_n_params", "n_threads", "n_prompt",
                  "n_gen", "avg_ts", "stddev_ts", "samples_ts", "peak_rss", "device"):
        assert field in rows[0]
    assert rows[0]["n_gen"] == "0" and float(rows[0]["avg_ts"]) > 0
    assert len(json.loads(rows[0]["samples_ts"])) == 3


@pytest.mark.slow
def test_table_and_sweep(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(tiny), *QUICK, "--threads", "sweep"]) == 0
    out = capsys.readouterr().out
    assert "tg8" in out and "pp16" in out and "★" in out


def test_refuses_when_memory_does_not_fit(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = tmp_path / "phone"
    (small / "proc").mkdir(parents=True)
    (small / "proc" / "meminfo").write_text("MemTotal: 2097152 kB\nMemAvailable: 8192 kB\n")
    code = main(["bench", str(tiny), *QUICK, "--device-root", str(small)])
    err = capsys.readouterr().err
    assert code == 1
    assert "needs about" in err and "8.0 MiB" in err and "--force" in err
    assert err.count("\n") == 1
    with ResultsStore() as store:
        assert store.rows() == []


@pytest.mark.slow
def test_force_runs_anyway(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "phone"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "meminfo").write_text("MemTotal: 2097152 kB\nMemAvailable: 8192 kB\n")
    rows = _bench_json(capsys, str(tiny), *QUICK, "--tg", "0", "--reps", "1", "--force", "--device-root", str(root))
    assert rows[0]["ram_available_before"] == 8192 * 1024


def test_usage_errors(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench"]) == 2
    assert main(["bench", str(tiny), "--threads", "two"]) == 2
    assert main(["bench", str(tiny), "--json", "--csv"]) == 2
    assert main(["bench", str(tiny), "--pp", "0", "--tg", "0", "--bandwidth", "1"]) == 2


def test_default_threads_are_big_cores() -> None:
    from blossom_edge.bench import llama as bench
    from blossom_edge.device.probe import probe
    from blossom_edge.device.tree import Tree

    info = probe(Tree(DEVICES / "galaxy-s23-snapdragon-8-gen-2"))
    assert bench.parse_threads(None, info) == ([5], False)
    assert bench.parse_threads("sweep", info) == (list(range(1, 9)), True)
    assert bench.parse_threads("1,2,4", info) == ([1, 2, 4], False)


def test_estimate_and_bytes_per_token(tiny: Path) -> None:
    shape = read_gguf_info(tiny).model_shape()
    est = estimate(shape, 512)
    assert est.weights == shape.weight_bytes
    assert est.kv_cache == 512 * 2 * 2 * 2 * 64 * 2  # ctx × K,V × layers × kv heads × head dim × f16
    assert est.total == est.weights + est.kv_cache + est.compute + est.output + est.runtime
    # Generation reads every weight except all-but-one row of the separate token embedding.
    assert shape.weight_bytes - shape.embd_only_bytes < bytes_per_token(shape, 0) < shape.weight_bytes
    assert bytes_per_token(shape, 100) - bytes_per_token(shape, 0) == 100 * shape.kv_bytes_per_token()


def test_throttling_and_energy_sampling() -> None:
    from blossom_edge.bench.measure import Sample
    from blossom_edge.bench.measure import throttled as _throttled
    from blossom_edge.device.tree import Tree

    cool = Sample(1, 0, 40.0, {4: 2803200}, 1.5, True)
    capped = Sample(1, 0, 60.0, {4: 1996800}, 1.5, True)
    hot = Sample(1, 0, 90.0, {4: 2803200}, 1.5, True)
    assert not _throttled(cool, cool)
    assert _throttled(cool, capped)
    assert _throttled(cool, hot)
    s = Sample.take(Tree(DEVICES / "galaxy-s23-snapdragon-8-gen-2"), [7])
    assert s.discharging and s.power_w == pytest.approx(0.412 * 3.987)
    assert s.caps == {7: 3360000}


def test_benchmark_contexts_get_a_persistent_thread_pool():
    """Like llama-bench: without it ggml spawns threads per token and generation reads slow."""
    from blossom_edge.engine.llama_lowlevel import LlamaEngine

    assert LlamaEngine()._pools is not None


def test_results_are_shown_even_when_the_store_cannot_be_written(
        tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from blossom_edge.bench.store import ResultsStore

    def locked(self, rows):  # noqa: ANN001
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(ResultsStore, "append", locked)
    rows = _bench_json(capsys, str(tiny), "--pp", "8", "--tg", "0", "--reps", "1", "--bandwidth", "10")
    assert rows and rows[0]["n_prompt"] == 8
