"""The local results store: every bench row and each device's measured bandwidth, in one SQLite file.

It lives in the user's data directory ($XDG_DATA_HOME/blossom-edge, else
~/.local/share/blossom-edge, which is also where Termux keeps it) so that `report` and `fit`
can compare today's run with last month's, and a device's bandwidth is measured once.
Rows are stored whole as JSON; the few columns beside them are what queries filter on.

The schema is versioned the way simonw/llm versions its database: an ordered list of
migrations, each applied once, with SQLite's `user_version` counting how many have run. A
store written by a newer blossom-edge (more migrations than this one knows) is refused
rather than misread.

The file is the user's to copy, edit or break, so every SQLite failure (not a database,
other tables, locked, read-only) and every row that is not a JSON object becomes one
StoreError that names the file and what to do; values of the wrong type inside a row are
BenchRow.from_dict's to handle.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from blossom_edge.base.bounded_read import parse_json
from blossom_edge.base.errors import CorruptFileError, UnsupportedError
from blossom_edge.bench.row import BenchRow

# How long to wait for another blossom-edge that holds the store's lock before giving up.
BUSY_TIMEOUT_S = 5.0
# The most rows `rows()` returns: years of bench runs are thousands; past this is not a store we wrote.
MAX_ROWS = 100_000
# The longest row `rows()` parses: one row's JSON is about 2 kB.
MAX_ROW_CHARS = 1 << 20


class StoreError(CorruptFileError, sqlite3.DatabaseError):
    """The results store cannot be used. It is also a sqlite3 error, so that `bench`, which saves
    after its results are shown and must not fail the run for it, keeps catching it as one."""


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
    if version < 0:
        raise CorruptFileError(f"the results store has schema version {version}, which no blossom-edge writes")
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
        with self._failures():
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        try:
            with self._failures():
                migrate(self._db)
        except BaseException:
            self._db.close()
            raise

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """SQLite's errors and our own findings about the file, as one StoreError naming it."""
        try:
            yield
        except StoreError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"the results store {self.path} {_what_to_do(exc)}") from exc
        except CorruptFileError as exc:
            raise StoreError(f"the results store {self.path}: {exc}; move the file aside to start a new one") from exc

    def append(self, rows: Iterable[BenchRow]) -> None:
        records = [(time.time(), r.device_id, r.model_filename, r.n_threads, r.n_prompt, r.n_gen, r.avg_ts,
                    json.dumps(r.to_dict(), default=str)) for r in rows]
        with self._failures(), self._db:
            self._db.executemany(
                "INSERT INTO runs (created, device_id, model_filename, n_threads, n_prompt, n_gen, avg_ts, row)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records)

    def rows(self, device_id: str | None = None) -> list[BenchRow]:
        """Every stored row (of one device), oldest first; a store past MAX_ROWS or with a row that
        is not a JSON object of at most MAX_ROW_CHARS is a StoreError, read one row at a time."""
        query, args = f"SELECT id, substr(row, 1, {MAX_ROW_CHARS + 1}) FROM runs", ()
        if device_id is not None:
            query, args = query + " WHERE device_id = ?", (device_id,)
        rows = []
        with self._failures():
            for row_id, text in self._db.execute(f"{query} ORDER BY id LIMIT {MAX_ROWS + 1}", args):
                if len(rows) == MAX_ROWS:
                    raise CorruptFileError(f"it holds more than {MAX_ROWS} rows, more than blossom-edge writes")
                rows.append(BenchRow.from_dict(self._row_object(row_id, text)))
        return rows

    def _row_object(self, row_id: object, text: object) -> dict:
        """A stored row's JSON object, or StoreError naming the one row to delete (the others are fine)."""
        data, reason = None, "not a JSON object"
        if isinstance(text, (str, bytes)) and len(text) > MAX_ROW_CHARS:
            reason = f"longer than {MAX_ROW_CHARS} characters"
        elif isinstance(text, (str, bytes)):
            try:
                data = parse_json(text, "not JSON")
            except CorruptFileError as exc:
                reason = str(exc)
        if isinstance(data, dict):
            return data
        raise StoreError(f"row {row_id} of the results store {self.path} is {reason}; delete that row "
                         f"(DELETE FROM runs WHERE id = {row_id}) or move the file aside")

    def bandwidth(self, device_id: str) -> float | None:
        """The stored figure, or None when there is none or it is not a positive number (measure again)."""
        with self._failures():
            found = self._db.execute("SELECT bytes_per_s FROM bandwidth WHERE device_id = ?", (device_id,)).fetchone()
        value = found[0] if found else None
        usable = type(value) in (int, float) and math.isfinite(value) and value > 0
        return float(value) if usable else None

    def set_bandwidth(self, device_id: str, bytes_per_s: float, threads: int) -> None:
        with self._failures(), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO bandwidth (device_id, bytes_per_s, threads, measured) VALUES (?, ?, ?, ?)",
                (device_id, bytes_per_s, threads, time.time()),
            )


def _what_to_do(exc: sqlite3.Error) -> str:
    """The end of the message for a SQLite failure: what went wrong and what the user can do."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"is in use by another blossom-edge ({text}); try again when it has finished"
    if "readonly" in text or "read-only" in text:
        return f"cannot be written ({text}); make it writable or point XDG_DATA_HOME elsewhere"
    return f"cannot be used ({text}); move the file aside to start a new store"
