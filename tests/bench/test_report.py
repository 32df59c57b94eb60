"""`report`: merge runs from the store and files, table, terminal chart and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blossom_edge.bench import report as r
from blossom_edge.bench.row import BenchRow
from blossom_edge.bench.store import ResultsStore
from blossom_edge.cli import main

GiB = 2**30

pytestmark = pytest.mark.usefixtures("data_home")


def _rows(device: str, ram: int, model: str, size: int, pp: float, tg: float) -> list[dict]:
    base = {"device": device, "device_id": device.lower(), "device_ram_total": ram, "model_filename": model,
            "model_size": size, "n_threads": 4}
    return [{**base, "n_prompt": 512, "n_gen": 0, "avg_ts": pp}, {**base, "n_prompt": 0, "n_gen": 128, "avg_ts": tg}]


# Illustrative rows for the tests only (shapes of real results, not measurements).
ROWS = (_rows("Phone", 8 * GiB, "/m/blossom-v5-4b-Q4_K_M.gguf", int(2.3 * GiB), 40.0, 9.0)
        + _rows("Phone", 8 * GiB, "/m/blossom-v5.1-9b-Q4_K_M.gguf", int(5.0 * GiB), 18.0, 4.0)
        + _rows("Laptop", 16 * GiB, "/m/blossom-v5-4b-Q4_K_M.gguf", int(2.3 * GiB), 90.0, 20.0))


def test_points_merge_prompt_and_generation() -> None:
    pts = r.points([BenchRow.from_dict(row) for row in ROWS])
    assert len(pts) == 3
    phone_4b = next(p for p in pts if p.device == "Phone" and "4b" in p.model)
    assert (phone_4b.pp_ts, phone_4b.tg_ts) == (40.0, 9.0)
    assert phone_4b.ram_share == pytest.approx(2.3 / 8, rel=1e-3)
    series = r.chart_series(pts)
    assert set(series) == {"Phone, 4 threads", "Laptop, 4 threads"} and len(series["Phone, 4 threads"]) == 2


def test_report_from_store(capsys: pytest.CaptureFixture[str]) -> None:
    with ResultsStore() as store:
        store.append(BenchRow.from_dict(row) for row in ROWS)
    assert main(["report", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 3 and all("ram_share" in p for p in data)
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    assert "Phone" in out and "28.7" in out and "tokens/s" in out and "A = Laptop, 4 threads" in out


def test_report_from_files_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    results = tmp_path / "runs.json"
    results.write_text(json.dumps(ROWS))
    png = tmp_path / "chart.png"
    assert main(["report", str(results), "--png", str(png), "--no-chart"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_csv_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import csv

    path = tmp_path / "runs.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ROWS[0]) + ["n_prompt", "n_gen", "avg_ts"])
        writer.writeheader()
        writer.writerows(ROWS)
    assert main(["report", str(path), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_empty_store_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 1
    assert "no bench results" in capsys.readouterr().err


def test_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["report", str(bad)]) == 1


def test_report_bad_inputs_are_one_line(tmp_path, capsys) -> None:
    from blossom_edge.cli import main

    binary = tmp_path / "results.json"
    binary.write_bytes(b"\xff\xfe\x00junk")
    not_rows = tmp_path / "rows.json"
    not_rows.write_text("[1, 2]")
    for path in (binary, not_rows):
        code = main(["report", str(path)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code in (1, 2) and len(err) == 1 and "bench --json" in err[0]


def _run(pp: float, tg: float) -> list[dict]:
    """One bench run's two rows: they share the model's load time, which differs between runs."""
    load = {"load_time_s": 1.0 + pp / 1000}
    return [{**row, **load} for row in _rows("Phone", 8 * GiB, "/m/blossom-v5-4b-Q4_K_M.gguf", int(2.3 * GiB), pp, tg)]


@pytest.mark.parametrize(("runs", "mixed"), [
    ([_run(40.0, 9.0)], False),
    ([_run(40.0, 9.0), _run(30.0, 10.0)], True),   # best pp from the first run, best tg from the second
    ([_run(40.0, 9.0), _run(50.0, 10.0)], False),  # both best from the second run
    ([_run(40.0, 9.0)[:1], _run(30.0, 10.0)[1:]], True),  # a pp-only run, then a tg-only run
])
def test_a_row_from_two_runs_says_so(runs: list[list[dict]], mixed: bool, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    rows = [row for run in runs for row in run]
    (point,) = r.points([BenchRow.from_dict(row) for row in rows])
    assert point.mixed is mixed
    results = tmp_path / "runs.json"
    results.write_text(json.dumps(rows))
    assert main(["report", str(results), "--no-chart"]) == 0
    out = capsys.readouterr().out
    assert ("†" in out) is mixed and ("not measured together in one run" in out) is mixed
