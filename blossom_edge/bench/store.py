"""The local results store: every bench row and each device's measured bandwidth, in one SQLite file.

It lives in the user's data directory ($XDG_DATA_HOME/blossom-edge, else
~/.local/share/blossom-edge, which is also where Termux keeps it) so that `report` and `fit`
can compare today's run with last month's, and a device's bandwidth is measured once.
Rows are stored whole as JSON; the few columns beside them are what queries filter on.

The schema is versioned the way simonw/llm versions its database: an ordered list of
migrations, each applied once, with SQLite's `user_version` counting how many have run. A
store written by a newer blossom-edge (more migrations than this one knows) is refused
rather than misread.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from blossom_edge.bench.row import BenchRow
from blossom_edge.errors import UnsupportedError


def _m001_runs_and_bandwidth(db: sqlite3.Connection) -> None:
    # IF NOT EXISTS: stores made before the schema was versioned already hold these tables.
    db.executescript("""
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
    """)


# Append only; never edit or reorder one that has shipped.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _m001_runs_and_bandwidth,
)


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this store has not had yet, each in its own transaction; returns the version."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise UnsupportedError(
            f"the results store has schema version {version}, newer than this blossom-edge knows "
            f"({len(MIGRATIONS)}); upgrade blossom-edge"
        )
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        with db:
            migration(db)
            db.execute(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)


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
        try:
            migrate(self._db)
        except BaseException:
            self._db.close()
            raise

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def append(self, rows: Iterable[BenchRow]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT INTO runs (created, device_id, model_filename, n_threads, n_prompt, n_gen, avg_ts, row)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (time.time(), r.device_id, r.model_filename, r.n_threads, r.n_prompt, r.n_gen, r.avg_ts,
                     json.dumps(r.to_dict(), default=str))
                    for r in rows
                ],
            )

    def rows(self, device_id: str | None = None) -> list[BenchRow]:
        query, args = "SELECT row FROM runs", ()
        if device_id is not None:
            query, args = query + " WHERE device_id = ?", (device_id,)
        return [BenchRow.from_dict(json.loads(text)) for (text,) in self._db.execute(query + " ORDER BY id", args)]

    def bandwidth(self, device_id: str) -> float | None:
        found = self._db.execute("SELECT bytes_per_s FROM bandwidth WHERE device_id = ?", (device_id,)).fetchone()
        return found[0] if found else None

    def set_bandwidth(self, device_id: str, bytes_per_s: float, threads: int) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO bandwidth (device_id, bytes_per_s, threads, measured) VALUES (?, ?, ?, ?)",
                (device_id, bytes_per_s, threads, time.time()),
            )
