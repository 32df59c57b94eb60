"""The local results store: every bench row and each device's measured bandwidth, in one SQLite file.

It lives in the user's data directory ($XDG_DATA_HOME/blossom-edge, else
~/.local/share/blossom-edge, which is also where Termux keeps it) so that `report` and `fit`
can compare today's run with last month's, and a device's bandwidth is measured once.
Rows are stored whole as JSON; the few columns beside them are what queries filter on.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    device_id TEXT,
    model_filename TEXT,
    n_threads INTEGER,
    n_prompt INTEGER,
    n_gen INTEGER,
    avg_ts REAL,
    row TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bandwidth (
    device_id TEXT PRIMARY KEY,
    bytes_per_s REAL NOT NULL,
    threads INTEGER,
    measured REAL NOT NULL
);
"""


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "blossom-edge"


def store_path() -> Path:
    return data_dir() / "results.sqlite"


class ResultsStore:
    """A thin wrapper over the SQLite file; opened per command, closed on exit."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.executescript(_SCHEMA)

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def append(self, rows: list[dict[str, Any]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT INTO runs (created, device_id, model_filename, n_threads, n_prompt, n_gen, avg_ts, row)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (time.time(), r.get("device_id"), r.get("model_filename"), r.get("n_threads"),
                     r.get("n_prompt"), r.get("n_gen"), r.get("avg_ts"), json.dumps(r, default=str))
                    for r in rows
                ],
            )

    def rows(self, device_id: str | None = None) -> list[dict[str, Any]]:
        query, args = "SELECT row FROM runs", ()
        if device_id is not None:
            query, args = query + " WHERE device_id = ?", (device_id,)
        return [json.loads(text) for (text,) in self._db.execute(query + " ORDER BY id", args)]

    def bandwidth(self, device_id: str) -> float | None:
        found = self._db.execute("SELECT bytes_per_s FROM bandwidth WHERE device_id = ?", (device_id,)).fetchone()
        return found[0] if found else None

    def set_bandwidth(self, device_id: str, bytes_per_s: float, threads: int) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO bandwidth (device_id, bytes_per_s, threads, measured) VALUES (?, ?, ?, ?)",
                (device_id, bytes_per_s, threads, time.time()),
            )
