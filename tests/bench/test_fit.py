"""`fit`: memory per catalog model × quant against a RAM budget, speed labels, one recommendation."""

from __future__ import annotations

import json
import re

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
    rec = data["pick"]
    assert rec["fits"] and rec["tg_ts"] >= f.MIN_READABLE_TPS
    best = max((r for r in data["candidates"] if r["fits"] and r["tg_ts"] >= f.MIN_READABLE_TPS),
               key=lambda r: f._rank(f.FitRow(**r), 4096))
    assert (rec["model"], rec["ctx"]) == (best["model"], best["ctx"])
    assert rec["quant"] == ("Q4_0" if best["quant"] == "Q4_K_M" else best["quant"])
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


def test_a_share_bench_measured_on_this_device_replaces_the_typical_one(capsys: pytest.CaptureFixture[str]) -> None:
    """bench records what share of copy bandwidth decoding reached; fit's estimates for every other
    file scale by it, while the file bench measured keeps its measured rate."""
    from blossom_edge.device.probe import probe
    from blossom_edge.device.tree import Tree

    root = DEVICES / "raspberry-pi-5"
    args = ("--ram", "8G", "--bandwidth", "17", "--device-root", str(root))
    before = {(r["model"], r["quant"]): r for r in _fit(capsys, *args)["rows"]}
    info = probe(Tree(root))
    with ResultsStore() as store:
        store.append([BenchRow(device_id=info.device_id, model_filename="/m/blossom-v5-4b-Q8_0.gguf", n_threads=4,
                               n_prompt=0, n_gen=128, avg_ts=2.5, bandwidth_share=share) for share in (0.8, 0.9, 1.3)])
    data = _fit(capsys, *args)
    assert data["decode_efficiency"] == 0.9 and "3 bench runs" in data["decode_efficiency_basis"]
    after = {(r["model"], r["quant"]): r for r in data["rows"]}
    assert after[("v5-4b", "Q8_0")]["tg_source"] == "measured" and after[("v5-4b", "Q8_0")]["tg_ts"] == 2.5
    assert after[("v6.3-8b", "Q4_K_M")]["tg_ts"] == pytest.approx(before[("v6.3-8b", "Q4_K_M")]["tg_ts"] * 0.9 / 0.6)
    assert main(["fit", *args]) == 0
    assert "decode efficiency 0.90 (median of 3 bench runs" in " ".join(capsys.readouterr().out.split())
    # A type's own runs come first: a Q4_K_M run sets every Q4_K_M estimate, the rest use all four runs.
    with ResultsStore() as store:
        store.append([BenchRow(device_id=info.device_id, model_filename="/m/other-Q4_K_M.gguf", n_threads=4,
                               n_prompt=0, n_gen=128, avg_ts=9.0, bandwidth_share=0.3)])
    after = {(r["model"], r["quant"]): r for r in _fit(capsys, *args)["rows"]}
    for quant, share in (("Q4_K_M", 0.3), ("Q6_K", 0.85)):
        assert after[("v6.3-8b", quant)]["tg_ts"] == pytest.approx(before[("v6.3-8b", quant)]["tg_ts"] * share / 0.6)
    assert f.file_quant("/x/blossom-v6.3-8b-IQ2_XXS.gguf") == "IQ2_XXS" and f.file_quant("model.gguf") is None


def test_nothing_fits_names_the_nearest_and_the_ram_that_makes_it_fit(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--bandwidth", "10", "--device-root", str(DEVICES / "pixel-3-snapdragon-845")]
    assert main(["fit", "--ram", "1G", *args]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "No pick (readable = at least 4 tokens/s). Nearest:" in out and "estimate" in out
    suggested = re.search(r"--ram (\S+) or more", out).group(1)
    # The RAM it names is enough for that very option: asked again with it, fit has a pick.
    data = _fit(capsys, "--ram", suggested, *args)
    assert data["pick"] is not None and data["nearest"] is None


def test_a_4g_phone_gets_one_pick(capsys: pytest.CaptureFixture[str]) -> None:
    """Only Q4_0..F16 at the asked context once left a 4 GB phone with nothing; the low-bit types and
    smaller contexts give it a model."""
    args = ["fit", "--ram", "4G", "--ctx", "4096", "--bandwidth", "20",
            "--device-root", str(DEVICES / "pixel-3-snapdragon-845")]
    assert main(args) == 0
    text = " ".join(capsys.readouterr().out.split())
    data = _fit(capsys, *args[1:])
    pick = data["pick"]
    assert pick is not None and pick["fits"] and pick["need"] <= data["budget"] == int(4 * GiB * f.USABLE_SHARE)
    assert pick["tg_ts"] >= f.MIN_READABLE_TPS
    assert f"Pick: {pick['model']} {pick['quant']} at context {pick['ctx']}" in text and "4 tokens/s" in text
    # The types fit used to weigh, at the asked context, leave this phone nothing readable: the pick
    # is a lower-bit type or a smaller context.
    old_types = {"Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16"}
    assert not [r for r in data["candidates"] if r["fits"] and r["tg_ts"] >= f.MIN_READABLE_TPS
                and r["quant"] in old_types and r["ctx"] == 4096]
    assert pick["quant"] not in old_types or pick["ctx"] < 4096
    assert pick["needs_imatrix"] == (pick["quant"] in f.NEEDS_IMATRIX)
    if pick["needs_imatrix"]:
        assert "importance matrix" in text


def test_a_smaller_context_is_weighed_and_said(capsys: pytest.CaptureFixture[str]) -> None:
    data = _fit(capsys, "--ram", "3G", "--ctx", "8192", "--bandwidth", "40",
                "--device-root", str(DEVICES / "pixel-3-snapdragon-845"))
    ctxs = {r["ctx"] for r in data["candidates"]}
    assert min(ctxs) == f.MIN_CTX and 8192 in ctxs
    pick = data["pick"]
    # A smaller context is a last resort within a quality level: it is taken only when nothing of
    # the pick's bits fits at the asked one.
    if pick["ctx"] < 8192:
        assert "smaller context" in data["reason"]
        assert not [r for r in data["candidates"] if r["fits"] and r["tg_ts"] >= f.MIN_READABLE_TPS
                    and r["ctx"] == 8192 and min(f.quant_bits(r["quant"]), 4) >= min(f.quant_bits(pick["quant"]), 4)]


def test_too_slow_everywhere_says_what_would_help(capsys: pytest.CaptureFixture[str]) -> None:
    data = _fit(capsys, "--ram", "16G", "--bandwidth", "0.5", "--device-root", str(DEVICES / "raspberry-pi-5"))
    assert data["pick"] is None and data["nearest"]["fits"]
    assert data["nearest"]["tg_ts"] == max(r["tg_ts"] for r in data["candidates"] if r["fits"])
    assert "memory bandwidth" in data["reason"]


def test_contexts_never_pass_the_model_and_stop_at_the_floor() -> None:
    assert f.contexts(4096, 32768) == [4096, 2048, 1024]
    assert f.contexts(16384, 4096) == [4096, 2048, 1024]
    assert f.contexts(3000, 32768) == [3000, 1500, 1024]
    assert f.contexts(512, 32768) == [512]
    for r in f.candidates(8 * GiB, 65536, 20e9, [], "x86_64", []):
        model = next(m for m in MODELS if m.alias == r.model)
        assert min(f.MIN_CTX, model.context_length) <= r.ctx <= model.context_length


def test_every_general_quant_type_is_weighed() -> None:
    from blossom_edge.quantize.types import QUANT_TYPES

    low = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_S", "IQ3_M", "Q2_K",
           "Q3_K_S", "Q3_K_M", "Q3_K_L"}
    assert low <= set(f.QUANTS) and {"Q4_0", "Q4_K_M", "Q8_0", "F16"} <= set(f.QUANTS)
    named = {q.name for q in QUANT_TYPES if q.alias_of is None}
    assert set(f.QUANTS) | set(f.NOT_WEIGHED) == named and not set(f.QUANTS) & set(f.NOT_WEIGHED)
    assert list(f.QUANTS.values()) == sorted(f.QUANTS.values())
    assert {"IQ1_S", "IQ2_XXS"} <= f.NEEDS_IMATRIX and not {"Q2_K", "Q4_K_M"} & f.NEEDS_IMATRIX


def test_help_states_the_threshold_and_the_smallest_context(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"{f.MIN_READABLE_TPS:g} tokens/s" in text and str(f.MIN_CTX) in text


def test_table_recommends(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the table layout, one line per row
    args = ["fit", "--ram", "16G", "--bandwidth", "30", "--device-root", str(DEVICES / "orange-pi-5-rk3588s")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Pick:" in out and "≈" in out
    # One line per model by default; --all lists every quant of every model.
    assert out.count("v5-4b ") == 1 and "Not estimated" in out
    assert main([*args, "--all"]) == 0
    assert capsys.readouterr().out.count("v5-4b ") == len(f.QUANTS)


def test_parse_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_size("8G") == 8 * GiB
    assert parse_size("7.5GiB") == int(7.5 * GiB)
    assert parse_size("512m") == 512 * 2**20
    assert parse_size("4096M") == parse_size("4GiB") == parse_size("4G") == 4 * GiB
    assert main(["fit", "--ram", "lots"]) == 2
    capsys.readouterr()
    # A bare number is refused in one line that spells out the units for that number.
    assert main(["fit", "--ram", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") <= 1 and "4G" in err and "4GiB" in err and "4096M" in err


def test_the_table_speed_is_estimated_tg_the_benchmark_checks() -> None:
    """benchmarks/fit.py measures `estimated_tg` against bench; the table must report that very figure."""
    model = next(m for m in MODELS if m.alias == "v5-4b")
    rows = {r.quant: r for r in f.table(8 * GiB, 4096, 20e9, ["dotprod"], "aarch64", []) if r.model == "v5-4b"}
    for quant, repacked in (("Q8_0", False), ("Q4_0", True)):
        expected = f.estimated_tg(f.shape_for(model, quant), 2048, 20e9, repacked_q4_0=repacked)
        assert rows[quant].tg_ts == pytest.approx(expected)
    assert rows["Q4_0"].tg_ts / f.estimated_tg(f.shape_for(model, "Q4_0"), 2048, 20e9) == pytest.approx(
        f.ARM_Q4_0_BONUS)
