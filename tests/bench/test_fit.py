"""`fit`: memory per catalog model × quant against a RAM budget, speed labels, one recommendation."""

from __future__ import annotations

import json

import pytest

from blossom_edge.bench import fit as f
from blossom_edge.bench.fit import parse_size
from blossom_edge.bench.row import BenchRow
from blossom_edge.bench.store import ResultsStore
from blossom_edge.cli import main
from blossom_edge.model.catalog import MODELS
from tests import DATA

DEVICES = DATA / "devices"

pytestmark = pytest.mark.usefixtures("data_home")
GiB = 2**30


def _fit(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["fit", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_models_without_a_shape_are_named_not_estimated() -> None:
    from blossom_edge.model.catalog import BASE_SHAPES

    assert {m.alias for m in MODELS if m.base_model not in BASE_SHAPES} == set(f.without_shape())
    assert "v6.3-36b" in f.without_shape() and "v5-4b" not in f.without_shape()


def test_8g_phone(capsys: pytest.CaptureFixture[str]) -> None:
    data = _fit(capsys, "--ram", "8G", "--ctx", "4096", "--bandwidth", "50",
                "--device-root", str(DEVICES / "galaxy-s23-snapdragon-8-gen-2"))
    rows = data["rows"]
    assert len(rows) == (len(MODELS) - len(f.without_shape())) * len(f.QUANTS)
    best = {m["model"]: m["best"] for m in data["models"]}
    assert best["v5-4b"]["quant"] == "Q8_0" and best["v5.1-34b"] is None
    assert data["budget"] == int(8 * GiB * f.USABLE_SHARE)
    by = {(r["model"], r["quant"]): r for r in rows}
    small, big = by[("v5-4b", "Q4_K_M")], by[("v5.1-34b", "Q4_K_M")]
    assert small["fits"] and not big["fits"]
    assert small["need"] == small["weights"] + small["kv_cache"] + small["compute"] + f.DEFAULT_RUNTIME_BYTES + 4 * 151936
    assert small["headroom"] == data["budget"] - small["need"]
    # Qwen1.5-4B has no GQA: its 4096-token F16 KV cache is 40 layers × 2 × 2560 × 2 bytes × 4096.
    assert small["kv_cache"] == 40 * 2 * 20 * 128 * 2 * 4096
    assert all(r["tg_source"] == "estimate" for r in rows)
    assert small["tg_ts"] > by[("v5-4b", "Q8_0")]["tg_ts"] > 0
    # ARM with dotprod/i8mm: the repacked Q4_0 path is credited.
    assert by[("v5-4b", "Q4_0")]["note"].startswith("repacked")
    rec = data["recommendation"]
    assert rec["fits"] and rec["tg_ts"] >= f.MIN_READABLE_TPS
    assert rec["quant"] != "Q4_K_M"  # on this ARM device Q4_0 replaces it when 4-bit is the pick


def test_context_capped_for_4k_models(capsys: pytest.CaptureFixture[str]) -> None:
    data = _fit(capsys, "--ram", "64G", "--ctx", "16384", "--bandwidth", "100",
                "--device-root", str(DEVICES / "thinkpad-x1-i7-1260p"))
    by = {(r["model"], r["quant"]): r for r in data["rows"]}
    assert "context capped at 4096" in by[("v5.1-9b", "Q4_K_M")]["note"]
    assert "repacked" not in by[("v5-4b", "Q4_0")]["note"]  # x86: no ARM repack credit


def test_stored_results_win_over_estimates(capsys: pytest.CaptureFixture[str]) -> None:
    from blossom_edge.device.probe import probe
    from blossom_edge.device.tree import Tree

    root = DEVICES / "raspberry-pi-5"
    info = probe(Tree(root))
    with ResultsStore() as store:
        store.append([BenchRow(device_id=info.device_id, model_filename="/m/blossom-v5-4b-Q4_K_M.gguf",
                               n_threads=4, n_prompt=0, n_gen=128, avg_ts=3.2)])
    data = _fit(capsys, "--bandwidth", "17", "--device-root", str(root))
    row = next(r for r in data["rows"] if r["model"] == "v5-4b" and r["quant"] == "Q4_K_M")
    assert (row["tg_source"], row["tg_ts"]) == ("measured", 3.2)
    assert data["budget"] == info.ram_available


def test_nothing_fits_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--ram", "1G", "--bandwidth", "10", "--device-root", str(DEVICES / "pixel-3-snapdragon-845")]) == 0
    out = capsys.readouterr().out
    assert "No Blossom model fits" in out and "estimate" in out


def test_table_recommends(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the table layout, one line per row
    args = ["fit", "--ram", "16G", "--bandwidth", "30", "--device-root", str(DEVICES / "orange-pi-5-rk3588s")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Recommended:" in out and "≈" in out
    # One line per model by default; --all lists every quant of every model.
    assert out.count("v5-4b ") == 1 and "Not estimated" in out
    assert main([*args, "--all"]) == 0
    assert capsys.readouterr().out.count("v5-4b ") == len(f.QUANTS)


def test_parse_size() -> None:
    assert parse_size("8G") == 8 * GiB
    assert parse_size("7.5GiB") == int(7.5 * GiB)
    assert parse_size("512m") == 512 * 2**20
    assert main(["fit", "--ram", "lots"]) == 2


def test_the_table_speed_is_estimated_tg_the_benchmark_checks() -> None:
    """benchmarks/fit.py measures `estimated_tg` against bench; the table must report that very figure."""
    model = next(m for m in MODELS if m.alias == "v5-4b")
    rows = {r.quant: r for r in f.table(8 * GiB, 4096, 20e9, ["dotprod"], "aarch64", []) if r.model == "v5-4b"}
    for quant, repacked in (("Q8_0", False), ("Q4_0", True)):
        expected = f.estimated_tg(f.shape_for(model, quant), 2048, 20e9, repacked_q4_0=repacked)
        assert rows[quant].tg_ts == pytest.approx(expected)
    assert rows["Q4_0"].tg_ts / f.estimated_tg(f.shape_for(model, "Q4_0"), 2048, 20e9) == pytest.approx(
        f.ARM_Q4_0_BONUS)
