"""The results store's schema is versioned: old stores migrate in place, newer ones are refused, rows round-trip."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from blossom_edge.base.errors import UnsupportedError
from blossom_edge.bench.row import CSV_FIELDS, BenchRow
from blossom_edge.bench.store import MIGRATIONS, ResultsStore
from blossom_edge.cli import main

LEGACY_SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, created REAL NOT NULL, device_id TEXT, model_filename TEXT,
                   n_threads INTEGER, n_prompt INTEGER, n_gen INTEGER, avg_ts REAL, row TEXT NOT NULL);
CREATE TABLE bandwidth (device_id TEXT PRIMARY KEY, bytes_per_s REAL NOT NULL, threads INTEGER, measured REAL NOT NULL);
"""


def test_a_store_from_before_versioning_migrates_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(LEGACY_SCHEMA)
        # A row as the untyped dicts of earlier versions stored it, with a key that no longer exists.
        old = {"device_id": "pi5", "model_filename": "/m/x-Q4_0.gguf", "n_prompt": 0, "n_gen": 128, "avg_ts": 7.5,
               "retired_field": 1}
        db.execute("INSERT INTO runs (created, device_id, row) VALUES (0, 'pi5', ?)", (json.dumps(old),))
        db.execute("INSERT INTO bandwidth VALUES ('pi5', 1.7e10, 4, 0)")
    with ResultsStore(path) as store:
        (row,) = store.rows("pi5")
        assert (row.avg_ts, row.n_gen, row.engine) == (7.5, 128, "llama.cpp")
        assert store.bandwidth("pi5") == 1.7e10
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)


def test_a_store_from_a_newer_version_is_refused_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    path = tmp_path / "blossom-edge" / "results.sqlite"
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(UnsupportedError, match="newer"):
        ResultsStore(path)
    assert main(["report"]) == 1
    err = capsys.readouterr().err
    assert "upgrade blossom-edge" in err and err.count("\n") == 1


def test_rows_round_trip_through_the_store(tmp_path: Path) -> None:
    row = BenchRow(device_id="d", model_filename="m.gguf", n_threads=2, n_prompt=512, avg_ts=88.5,
                   samples_ns=[1, 2], samples_ts=[3.0, 4.0], throttled=False)
    with ResultsStore(tmp_path / "s.sqlite") as store:
        store.append([row])
        assert store.rows() == [row]


def test_csv_starts_with_llama_bench_fields_in_its_order() -> None:
    assert CSV_FIELDS[:24] == (
        "build_commit", "build_number", "cpu_info", "backends", "model_filename", "model_type", "model_size",
        "model_n_params", "n_batch", "n_ubatch", "n_threads", "type_k", "type_v", "n_gpu_layers", "n_prompt",
        "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts", "samples_ns", "samples_ts")
