"""Hostile input a user can produce: device captures, Modelfiles, the results store and report
files. Each ends in at most one clear line (a non-zero exit where the input cannot be used,
"unknown" where only one value is absurd), never an internal error, a hang, or a read that
grows with the file instead of stopping at its limit."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blossom_edge.base.errors import MAX_MESSAGE, CorruptFileError, one_line
from blossom_edge.bench import store as store_module
from blossom_edge.bench.row import BenchRow
from blossom_edge.bench.store import ResultsStore, StoreError
from blossom_edge.cli import main
from tests import DATA

DEVICES = DATA / "devices"
GALAXY = DEVICES / "galaxy-s23-snapdragon-8-gen-2"
GiB = 2**30
pytestmark = pytest.mark.usefixtures("hang_guard", "data_home")


def _one_line(capsys: pytest.CaptureFixture[str], code: int, expected: int) -> str:
    err = capsys.readouterr().err
    assert code == expected, err
    assert err.count("\n") == 1 and err.startswith("blossom-edge: error: "), err
    assert len(err) < 400 and "internal error" not in err, err
    return err


def _garbage(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def _put(path: Path, content: bytes | str | Callable[[Path], None]) -> None:
    """Replace whatever is at `path` by `content`: bytes, text, or a function that makes it."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if callable(content):
        content(path)
    else:
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def _directory(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _self_loop(path: Path) -> None:
    path.symlink_to(path.name)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with path.open("wb") as fh:
            fh.truncate(size)

    return make


# ---------------------------------------------------------------------------------------------
# Device captures

MEMINFO = "proc/meminfo"
CPUINFO = "proc/cpuinfo"
PRESENT = "sys/devices/system/cpu/present"
MAX_FREQ = "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"
ZONE0 = "sys/class/thermal/thermal_zone0/temp"
BATTERY = "sys/class/power_supply/battery"
GALAXY_CORES = 8


@pytest.fixture()
def capture(tmp_path: Path) -> Path:
    return Path(shutil.copytree(GALAXY, tmp_path / "capture"))


def _device(capsys: pytest.CaptureFixture[str], root: Path) -> dict[str, Any]:
    """The capture through `device --json` and through the table: both succeed, silently."""
    code = main(["device", "--root", str(root), "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    assert main(["device", "--root", str(root)]) == 0
    assert capsys.readouterr().err == ""
    return json.loads(out)


def _meminfo(total: str) -> str:
    return f"MemTotal: {total}\nMemAvailable: 1024 kB\n"


def _cluster_of(data: dict[str, Any], cpu: int) -> dict[str, Any]:
    return next(c for c in data["clusters"] if cpu in c["cores"])


def _zone0_dropped(data: dict[str, Any]) -> bool:
    return all(z["zone"] != "thermal_zone0" for z in data["thermal"])


def _zone_names_printable(data: dict[str, Any]) -> bool:
    return len(data["thermal"]) == 4 and all(z["zone"].isprintable() for z in data["thermal"])


DEVICE_CASES: list[tuple[str, str, bytes | str | Callable[[Path], None], Callable[[dict[str, Any]], bool]]] = [
    # absurd or unreadable numbers in /proc/meminfo: unknown RAM
    ("meminfo-1e30-kB", MEMINFO, _meminfo("1" + "0" * 30 + " kB"), lambda d: d["ram_total"] is None),
    ("meminfo-negative", MEMINFO, _meminfo("-5 kB"), lambda d: d["ram_total"] is None),
    ("meminfo-plus-sign", MEMINFO, _meminfo("+5 kB"), lambda d: d["ram_total"] == 5 * 1024),
    ("meminfo-arabic-digit", MEMINFO, _meminfo("٣ kB"), lambda d: d["ram_total"] is None),
    ("meminfo-superscript", MEMINFO, _meminfo("² kB"), lambda d: d["ram_total"] is None),
    ("meminfo-exponent", MEMINFO, _meminfo("1e30 kB"), lambda d: d["ram_total"] is None),
    ("meminfo-past-1-PiB", MEMINFO, _meminfo("9999999999999999999 kB"), lambda d: d["ram_total"] is None),
    ("meminfo-no-value", MEMINFO, "MemTotal:\nMemAvailable:\n", lambda d: d["ram_total"] is None),
    ("meminfo-extra-words", MEMINFO, _meminfo("4 kB kB kB"), lambda d: d["ram_total"] == 4096),
    ("meminfo-garbage", MEMINFO, _garbage(8192), lambda d: d["ram_total"] is None),
    ("meminfo-directory", MEMINFO, _directory, lambda d: d["ram_total"] is None),
    ("meminfo-fifo", MEMINFO, _fifo, lambda d: d["ram_total"] is None),
    ("meminfo-symlink-loop", MEMINFO, _self_loop, lambda d: d["ram_total"] is None),
    ("meminfo-dev-zero", MEMINFO, _dev_zero, lambda d: d["ram_total"] is None),
    ("meminfo-1-GiB", MEMINFO, _sparse(GiB), lambda d: d["ram_total"] is None),
    # CPU lists: capped at 4096 ids; a list that names none falls back to /proc/cpuinfo
    ("present-10^8-cpus", PRESENT, "0-99999999", lambda d: d["n_cores"] == 4096),
    ("present-repeated-ranges", PRESENT, "0-4095," * 140_000, lambda d: d["n_cores"] == 4096),
    ("present-past-the-cap", PRESENT, "99999999", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-past-64-bits", PRESENT, "18446744073709551616-18446744073709551617",
     lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-reversed", PRESENT, "3-0", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-letters", PRESENT, "a-b", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-double-dash", PRESENT, "0--1", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-negative", PRESENT, "-1", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-open-range", PRESENT, "1-", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-arabic-digit", PRESENT, "٣", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-arabic-range-end", PRESENT, "0-٣", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-exponent", PRESENT, "1e3", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-hex", PRESENT, "0x10", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-empty", PRESENT, "", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-nul-and-garbage", PRESENT, b"0-7\x00\xff\xfe", lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-garbage", PRESENT, _garbage(4096), lambda d: 0 < d["n_cores"] <= 4096),
    ("present-directory", PRESENT, _directory, lambda d: d["n_cores"] == GALAXY_CORES),
    ("present-fifo", PRESENT, _fifo, lambda d: d["n_cores"] == GALAXY_CORES),
    # clock ceilings: unknown clock for that core
    ("freq-10^40", MAX_FREQ, "1" + "0" * 40, lambda d: _cluster_of(d, 0)["max_mhz"] is None),
    ("freq-past-100-GHz", MAX_FREQ, "999999999999", lambda d: _cluster_of(d, 0)["max_mhz"] is None),
    ("freq-negative", MAX_FREQ, "-5", lambda d: _cluster_of(d, 0)["max_mhz"] is None),
    ("freq-zero", MAX_FREQ, "0", lambda d: _cluster_of(d, 0)["max_mhz"] is None),
    ("freq-arabic-digits", MAX_FREQ, "١٢٣", lambda d: _cluster_of(d, 0)["max_mhz"] is None),
    ("freq-nan", MAX_FREQ, "nan", lambda d: _cluster_of(d, 0)["max_mhz"] is None),
    ("freq-exponent", MAX_FREQ, "1e40", lambda d: _cluster_of(d, 0)["max_mhz"] is None),
    ("freq-garbage", MAX_FREQ, _garbage(512), lambda d: _cluster_of(d, 0)["max_mhz"] is None),
    ("freq-directory", MAX_FREQ, _directory, lambda d: _cluster_of(d, 0)["max_mhz"] is None),
    # thermal zones: a reading no sensor gives drops the zone
    ("temp-minus-10^20", ZONE0, "-100000000000000000000", _zone0_dropped),
    ("temp-below-absolute-zero", ZONE0, "-300000", _zone0_dropped),
    ("temp-2000-degrees", ZONE0, "2000000", _zone0_dropped),
    ("temp-exponent", ZONE0, "1e40", _zone0_dropped),
    ("temp-arabic-digit", ZONE0, "٣", _zone0_dropped),
    ("temp-30-digits", ZONE0, "9" * 30, _zone0_dropped),
    ("temp-nan", ZONE0, "nan", _zone0_dropped),
    ("temp-garbage", ZONE0, _garbage(256), _zone0_dropped),
    ("temp-fifo", ZONE0, _fifo, _zone0_dropped),
    # the battery: absurd values are unknown, so is the power they would give
    ("battery-voltage-1e308", f"{BATTERY}/voltage_now", "1e308",
     lambda d: d["battery"]["voltage_uv"] is None and d["battery"]["power_w"] is None),
    ("battery-voltage-400-digits", f"{BATTERY}/voltage_now", "1" + "0" * 400,
     lambda d: d["battery"]["voltage_uv"] is None and d["battery"]["power_w"] is None),
    ("battery-current-30-digits", f"{BATTERY}/current_now", "-" + "9" * 30,
     lambda d: d["battery"]["current_ua"] is None and d["battery"]["power_w"] is None),
    ("battery-capacity-999", f"{BATTERY}/capacity", "999", lambda d: d["battery"]["capacity_pct"] is None),
    ("battery-capacity-negative", f"{BATTERY}/capacity", "-1", lambda d: d["battery"]["capacity_pct"] is None),
    ("battery-temp-10^25", f"{BATTERY}/temp", "1" + "0" * 25, lambda d: d["battery"]["temp_c"] is None),
    ("battery-status-garbage", f"{BATTERY}/status", _garbage(300), lambda d: d["battery"] is not None),
    ("battery-type-directory", f"{BATTERY}/type", _directory, lambda d: d["battery"] is None),
    # /proc/cpuinfo: huge, binary, digits int() would choke on, absurd part numbers
    ("cpuinfo-1-GiB", CPUINFO, _sparse(GiB), lambda d: d["n_cores"] == GALAXY_CORES),
    ("cpuinfo-2-MiB-of-blocks", CPUINFO, "processor\t: 1\nCPU part\t: 0xd46\n\n" * 60_000,
     lambda d: d["n_cores"] == GALAXY_CORES),
    ("cpuinfo-superscript-processor", CPUINFO, "processor\t: ²\nFeatures\t: asimd\n\n",
     lambda d: d["n_cores"] == GALAXY_CORES),
    ("cpuinfo-arabic-processor", CPUINFO, "processor\t: ٣\nFeatures\t: asimd\n\n",
     lambda d: d["n_cores"] == GALAXY_CORES),
    ("cpuinfo-processor-past-the-cap", CPUINFO, "processor\t: 99999999\n\n", lambda d: d["n_cores"] == GALAXY_CORES),
    ("cpuinfo-huge-part-number", CPUINFO, "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0x" + "f" * 100_000,
     lambda d: d["clusters"][0]["core"] is None),
    ("cpuinfo-whitespace-runs", CPUINFO, "\n" + " \t" * 300_000 + "x\n", lambda d: d["n_cores"] == GALAXY_CORES),
    ("cpuinfo-garbage", CPUINFO, _garbage(1 << 16), lambda d: d["n_cores"] == GALAXY_CORES),
    ("cpuinfo-directory", CPUINFO, _directory, lambda d: d["features"] == []),
    ("cpuinfo-fifo", CPUINFO, _fifo, lambda d: d["features"] == []),
    ("cpuinfo-dev-zero", CPUINFO, _dev_zero, lambda d: d["features"] == []),
    ("cpuinfo-symlink-loop", CPUINFO, _self_loop, lambda d: d["features"] == []),
    # getprop.txt: lines no regular expression may backtrack across, markup, garbage
    ("getprop-open-brackets", "getprop.txt", "[a\n" * 300_000, lambda d: d["android"] is None),
    ("getprop-closing-brackets", "getprop.txt", "[a]: [" + "] " * 300_000 + "x\n", lambda d: d["android"] is None),
    ("getprop-markup-in-model", "getprop.txt",
     "[ro.build.version.release]: [14]\n[ro.product.manufacturer]: [[/]]\n[ro.product.model]: [[/bold]]\n",
     lambda d: d["name"] == "[/] [/bold]"),
    ("getprop-escape-sequences", "getprop.txt", "[ro.build.version.release]: [14]\n[ro.product.model]: [\x1b[2J]\n",
     lambda d: d["android"]["version"] == "14"),
    ("getprop-garbage", "getprop.txt", _garbage(1 << 16), lambda d: d["n_cores"] == GALAXY_CORES),
    ("getprop-directory", "getprop.txt", _directory, lambda d: d["android"] is None),
    ("getprop-fifo", "getprop.txt", _fifo, lambda d: d["android"] is None),
    ("getprop-1-GiB", "getprop.txt", _sparse(GiB), lambda d: d["android"] is None),
    # names no kernel makes: undecodable bytes and control characters
    ("zone-named-in-latin1", "sys/class/thermal/thermal_zone\udcff/temp", "45000", _zone_names_printable),
    ("zone-named-with-escape", "sys/class/thermal/thermal_zone\x1b[2J/temp", "45000", _zone_names_printable),
    ("battery-named-in-latin1", "sys/class/power_supply/BAT\udcfe/type", "Battery", lambda d: d["battery"] is not None
     and d["battery"]["name"] == "battery"),
    # whole subtrees the wrong kind of thing
    ("proc-symlink-loop", "proc", _self_loop, lambda d: d["ram_total"] is None and d["features"] == []),
    ("sys-is-a-file", "sys", "not a directory", lambda d: d["thermal"] == [] and d["battery"] is None),
]


@pytest.mark.parametrize("rel, content, check", [c[1:] for c in DEVICE_CASES], ids=[c[0] for c in DEVICE_CASES])
def test_a_corrupt_capture_reads_as_unknown_fields(capture: Path, capsys: pytest.CaptureFixture[str], rel: str,
                                                   content: Any, check: Callable[[dict[str, Any]], bool]) -> None:
    _put(capture / rel, content)
    started = time.monotonic()
    data = _device(capsys, capture)
    assert check(data), data
    assert time.monotonic() - started < 10


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "nope"


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "file").write_text("x")
    return tmp_path / "file"


def _a_loop(tmp_path: Path) -> Path:
    (tmp_path / "loop").symlink_to("loop")
    return tmp_path / "loop"


def _name_too_long(tmp_path: Path) -> Path:
    return tmp_path / ("x" * 5000)


@pytest.mark.parametrize("make_root", [_missing, _a_file, _a_loop, _name_too_long])
@pytest.mark.parametrize("command", [["device"], ["fit", "--bandwidth", "10"], ["bench", "x.gguf", "--bandwidth", "10"]])
def test_a_root_that_cannot_be_a_capture_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     make_root: Callable[[Path], Path], command: list[str]) -> None:
    flag = "--root" if command[0] == "device" else "--device-root"
    _one_line(capsys, main([*command, flag, str(make_root(tmp_path))]), 1)


@pytest.mark.parametrize("rel, content", [
    (PRESENT, "0-99999999"), (MEMINFO, _meminfo("1" + "0" * 30 + " kB")), (MEMINFO, _fifo),
    (CPUINFO, _garbage(4096)), (ZONE0, "-100000000000000000000"), ("getprop.txt", "[a\n" * 300_000),
])
def test_fit_on_a_corrupt_capture_still_answers(capture: Path, capsys: pytest.CaptureFixture[str], rel: str,
                                                content: Any) -> None:
    _put(capture / rel, content)
    assert main(["fit", "--device-root", str(capture), "--bandwidth", "10", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and len(json.loads(out)["rows"]) > 0


# ---------------------------------------------------------------------------------------------
# Modelfiles

def _check(capsys: pytest.CaptureFixture[str], path: Path, expected: int) -> str:
    return _one_line(capsys, main(["modelfile", "--check", str(path)]), expected)


@pytest.mark.parametrize("special, code", [("/dev/zero", 2), ("/dev/urandom", 2), ("/dev/null", 2)])
def test_modelfile_check_refuses_devices(capsys: pytest.CaptureFixture[str], special: str, code: int) -> None:
    err = _check(capsys, Path(special), code)
    assert "not a regular file" in err


@pytest.mark.parametrize("make, code, needle", [
    (_fifo, 2, "FIFO"), (_directory, 1, "is a directory"), (_self_loop, 1, "symbolic links"),
    (_dev_zero, 2, "not a regular file"), (_sparse(GiB), 1, "larger than 4 MiB"),
    (_sparse((4 << 20) + 1), 1, "larger than 4 MiB"),
])
def test_modelfile_check_refuses_what_cannot_be_a_modelfile(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            make: Callable[[Path], None], code: int,
                                                            needle: str) -> None:
    path = tmp_path / "Modelfile"
    make(path)
    assert needle in _check(capsys, path, code)


def test_modelfile_check_of_missing_and_overlong_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no such file" in _check(capsys, tmp_path / "nope", 1)
    assert "file name too long" in _check(capsys, tmp_path / ("m" * 5000), 1)


# Text that made the parser re-join its whole buffer at every line break, and other floods.
PATHOLOGICAL_MODELFILES = {
    "triple-quote-lines": 'FROM x\nSYSTEM """\n' + '"""x\n' * 200_000,
    "inner-triple-quotes": 'FROM x\nSYSTEM """\n' + 'a"""b\n' * 200_000,
    "unterminated-values": 'FROM x\n' + 'SYSTEM """\n' * 200_000,
    "single-quote-lines": 'FROM x\nSYSTEM "\n' + '"x\n' * 300_000,
    "carriage-returns": 'FROM x\nSYSTEM """' + "\r" * 1_000_000,
    "whitespace-only-value": "FROM x\nSYSTEM " + " \t" * 500_000,
    "megabyte-keyword": "F" * 1_000_000,
    "megabyte-parameter-name": "FROM x\nPARAMETER " + "n" * 1_000_000,
    "megabyte-of-comments": "# a\n" * 250_000,
    "nul-bytes": "FROM x\nSYSTEM " + "\x00" * 1_000_000,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL_MODELFILES))
def test_modelfile_parsing_is_linear(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """A megabyte of the worst case parses in well under 5 s (the quadratic parser took minutes)."""
    path = tmp_path / "Modelfile"
    path.write_text(PATHOLOGICAL_MODELFILES[name], encoding="utf-8")
    started = time.monotonic()
    code = main(["modelfile", "--check", str(path)])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code in (0, 1) and "internal error" not in err and err.count("\n") <= 1 and len(err) < 400, err
    assert elapsed < 5, f"{name}: {elapsed:.1f} s"


@pytest.mark.parametrize("line, needle", [
    ("PARAMETER temperature 0x1p99999", "invalid float value"),
    ("PARAMETER temperature 1e999", "invalid float value"),
    ("PARAMETER temperature " + "1" * 1_000_000, "invalid float value"),
    ("PARAMETER top_k " + "9" * 1_000_000, "invalid int value"),
    ("PARAMETER num_ctx " + "0" * 100_000 + "9223372036854775808", "invalid int value"),
    ("PARAMETER use_mmap " + "t" * 100_000, "invalid bool value"),
    ("REQUIRES " + "1." * 500_000, "semver"),
    ("PARAMETER " + "x" * 100_000 + " 1", "unknown parameter"),
])
def test_modelfile_values_beyond_any_range_are_ollamas_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              line: str, needle: str) -> None:
    path = tmp_path / "Modelfile"
    path.write_text(f"FROM x\n{line}\n")
    assert needle in _check(capsys, path, 1)


@pytest.mark.parametrize("content", [
    b"\xff\xfe" + b"F\x00R\x00O\x00M\x00 \x00x",  # UTF-16 with an odd trailing byte
    b"\xfe\xff\x00F\x00R\x00O\x00M\x00 \x00",
    b"\xef\xbb\xbfFROM x\nSYSTEM \xff\xfe\xfd\n",
    _garbage(1 << 16),
    b"FROM x\nTEMPLATE " + _garbage(4096) + b"\n",
])
def test_modelfile_binary_content_is_read_as_ollama_decodes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               content: bytes) -> None:
    path = tmp_path / "Modelfile"
    path.write_bytes(content)
    code = main(["modelfile", "--check", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 1) and "internal error" not in err and err.count("\n") <= 1 and len(err) < 400, err


# ---------------------------------------------------------------------------------------------
# The results store

def _store_path(data_home: Path) -> Path:
    path = data_home / "blossom-edge" / "results.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


GOOD_ROW = {"device": "Phone", "device_id": "phone", "device_ram_total": 8 * GiB, "model_filename": "/m/a.gguf",
            "model_size": GiB, "n_threads": 4, "n_prompt": 0, "n_gen": 128, "avg_ts": 9.0}


def _store_with_rows(path: Path, texts: list[Any]) -> None:
    """A store this blossom-edge wrote, then edited by hand: `texts` go into the row column as they are."""
    with ResultsStore(path) as store:
        store.append([BenchRow.from_dict(GOOD_ROW)])
    with sqlite3.connect(path) as db:
        db.executescript("ALTER TABLE runs RENAME TO old; CREATE TABLE runs (id INTEGER PRIMARY KEY, created REAL,"
                         " device_id TEXT, model_filename TEXT, n_threads INTEGER, n_prompt INTEGER, n_gen INTEGER,"
                         " avg_ts REAL, row); INSERT INTO runs SELECT * FROM old; DROP TABLE old;")
        db.executemany("INSERT INTO runs (created, device_id, row) VALUES (0, 'phone', ?)", [(t,) for t in texts])


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"this is not a database, it is a text file that happens to be long enough\n" * 20)


def _sqlite_header_then_garbage(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + _garbage(8192))


def _truncated_store(path: Path) -> None:
    with ResultsStore(path) as store:
        store.append([BenchRow.from_dict(GOOD_ROW)] * 200)
    path.write_bytes(path.read_bytes()[:3000])


def _schema(sql: str, version: int = 1) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with sqlite3.connect(path) as db:
            db.executescript(sql)
            db.execute(f"PRAGMA user_version = {version}")
    return make


STORE_CASES: dict[str, Callable[[Path], None]] = {
    "not-sqlite": _not_sqlite,
    "random-bytes": lambda p: p.write_bytes(_garbage(16384)),
    "zeros": lambda p: p.write_bytes(bytes(4096)),
    "sqlite-header-then-garbage": _sqlite_header_then_garbage,
    "truncated": _truncated_store,
    "json-instead": lambda p: p.write_text(json.dumps([GOOD_ROW])),
    "directory": _directory,
    "fifo": _fifo,
    "symlink-loop": _self_loop,
    "dev-zero": _dev_zero,
    "runs-without-row-column": _schema("CREATE TABLE runs (id INTEGER PRIMARY KEY, x);"
                                       "INSERT INTO runs (x) VALUES (1);"),
    "runs-is-a-view": _schema("CREATE VIEW runs AS SELECT 1 AS id, 2 AS device_id;"),
    "runs-missing-before-versioning-says-done": _schema("CREATE TABLE other (x);"),
    "negative-schema-version": _schema("", -5),
    "newer-schema-version": _schema("", 99),
}


@pytest.mark.parametrize("name", sorted(STORE_CASES))
@pytest.mark.parametrize("command", [["report"], ["fit", "--bandwidth", "10", "--device-root", str(GALAXY)]])
def test_a_broken_store_is_one_line(data_home: Path, capsys: pytest.CaptureFixture[str], name: str,
                                    command: list[str]) -> None:
    STORE_CASES[name](_store_path(data_home))
    assert "results store" in _one_line(capsys, main(command), 1)


BAD_ROW_TEXTS: dict[str, Any] = {
    "not-json": "{not json",
    "array": "[1, 2]",
    "number": "5",
    "null-json": "null",
    "string": '"a row"',
    "sql-null": None,
    "integer-column": 42,
    "blob-not-utf8": b"\xff\xfe\x00\x01",
    "nested-100000-arrays": "[" * 100_000 + "]" * 100_000,
    "nested-100000-objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "digits-past-the-limit": '{"avg_ts": ' + "1" * 5000 + "}",
    "two-megabytes": json.dumps({"device": "x" * (2 << 20)}),
}


@pytest.mark.parametrize("name", sorted(BAD_ROW_TEXTS))
@pytest.mark.parametrize("command", [["report"], ["fit", "--bandwidth", "10", "--device-root", str(GALAXY)]])
def test_a_row_that_is_not_a_json_object_is_named(data_home: Path, capsys: pytest.CaptureFixture[str], name: str,
                                                  command: list[str]) -> None:
    _store_with_rows(_store_path(data_home), [BAD_ROW_TEXTS[name]])
    if command[0] == "fit":  # fit reads this device's rows only
        from blossom_edge.device.probe import probe
        from blossom_edge.device.tree import Tree

        info = probe(Tree(GALAXY))
        with sqlite3.connect(_store_path(data_home)) as db:
            db.execute("UPDATE runs SET device_id = ?", (info.device_id,))
    err = _one_line(capsys, main(command), 1)
    assert "row 2 of the results store" in err and "DELETE FROM runs WHERE id = 2" in err


WRONG_TYPES: list[tuple[str, Any]] = [
    ("avg_ts", "fast"), ("avg_ts", [1]), ("avg_ts", {"a": 1}), ("avg_ts", True), ("avg_ts", float("nan")),
    ("avg_ts", float("inf")), ("avg_ts", 10**400), ("n_gen", "x"), ("n_gen", 1.5), ("n_gen", None),
    ("n_prompt", []), ("n_threads", "four"), ("n_threads", 10**30), ("model_size", "1 GB"), ("model_size", -1),
    ("model_size", 10**30), ("device_ram_total", "8G"), ("device_ram_total", 0), ("model_filename", 5),
    ("model_filename", ["a"]), ("device", {"name": "x"}), ("device", "[/]"), ("device_id", 5), ("engine", 5),
    ("samples_ns", ["a"]), ("samples_ns", "1,2"), ("samples_ts", [None]), ("throttled", "yes"),
    ("temp_after_c", "hot"), ("bandwidth_share", float("-inf")), ("stddev_ts", "±1"),
]


@pytest.mark.parametrize("field, value", WRONG_TYPES, ids=[f"{f}={str(v)[:12]}" for f, v in WRONG_TYPES])
def test_fields_of_the_wrong_type_read_as_unknown(data_home: Path, capsys: pytest.CaptureFixture[str], field: str,
                                                  value: Any) -> None:
    text = json.dumps({**GOOD_ROW, field: value})  # NaN and Infinity as Python's json writes them
    _store_with_rows(_store_path(data_home), [text])
    code = main(["report"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    assert "Phone" in out


def test_the_typing_rule_of_bench_rows() -> None:
    row = BenchRow.from_dict({"avg_ts": "fast", "n_gen": "x", "n_prompt": 512.0, "model_size": 10**30,
                              "samples_ts": [1, 2.5], "samples_ns": [1, "a"], "throttled": 1, "engine": None})
    assert (row.avg_ts, row.n_gen, row.n_prompt, row.model_size) == (None, 0, 512, None)
    assert (row.samples_ts, row.samples_ns, row.throttled, row.engine) == ([1.0, 2.5], [], None, "llama.cpp")


def test_a_locked_store_is_one_line(data_home: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = _store_path(data_home)
    with ResultsStore(path):
        pass
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.1)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        err = _one_line(capsys, main(["report"]), 1)
    finally:
        holder.close()
    assert "in use by another blossom-edge" in err


def _read_only_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection refuses writes as a read-only file would (chmod does not stop root)."""
    connect = sqlite3.connect

    def read_only(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = connect(*args, **kwargs)
        db.execute("PRAGMA query_only = ON")
        return db

    monkeypatch.setattr(sqlite3, "connect", read_only)


def test_a_read_only_store_that_needs_migrating_is_one_line(data_home: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _schema("CREATE TABLE runs (id INTEGER PRIMARY KEY, created REAL NOT NULL, device_id TEXT, row TEXT NOT NULL);",
            0)(_store_path(data_home))
    _read_only_sqlite(monkeypatch)
    assert "cannot be written" in _one_line(capsys, main(["report"]), 1)


def test_a_read_only_store_still_reads_and_refuses_writes_as_a_sqlite_error(data_home: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = _store_path(data_home)
    with ResultsStore(path) as store:
        store.append([BenchRow.from_dict(GOOD_ROW)])
    _read_only_sqlite(monkeypatch)
    with ResultsStore(path) as store:
        assert len(store.rows()) == 1
        with pytest.raises(StoreError, match="cannot be written") as caught:
            store.append([BenchRow.from_dict(GOOD_ROW)])
    assert isinstance(caught.value, sqlite3.Error)


def test_a_store_failure_is_still_a_sqlite_error_for_bench(data_home: Path) -> None:
    """bench saves after showing its results and catches sqlite3.Error to only note the failure."""
    _not_sqlite(_store_path(data_home))
    with pytest.raises(sqlite3.Error) as caught:
        ResultsStore()
    assert isinstance(caught.value, CorruptFileError) and "file is not a database" in str(caught.value)


def test_bench_notes_a_broken_store_after_its_results(data_home: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from tests.builders.tiny_gguf import build_tiny_llama

    tiny = build_tiny_llama(tmp_path / "tiny.gguf")
    _not_sqlite(_store_path(data_home))
    code = main(["bench", str(tiny), "--pp", "8", "--tg", "0", "--reps", "1", "--bandwidth", "10", "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)[0]["n_prompt"] == 8
    # bench's own note (rich wraps it at the console width, so it is not checked for one line here)
    assert "not saved to the results store" in err and "internal error" not in err


def test_a_stored_bandwidth_that_is_not_a_number_is_measured_again(data_home: Path) -> None:
    path = _store_path(data_home)
    with ResultsStore(path):
        pass
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO bandwidth VALUES (?, ?, 4, 0)",
                       [("text", "fast"), ("negative", -1.0), ("blob", b"\x00"), ("zero", 0)])
    with ResultsStore(path) as store:
        assert [store.bandwidth(d) for d in ("text", "negative", "blob", "zero")] == [None] * 4


def test_a_stored_bandwidth_that_is_not_a_number_does_not_stop_fit(data_home: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from blossom_edge.device.probe import probe
    from blossom_edge.device.tree import Tree

    info = probe(Tree(GALAXY))
    path = _store_path(data_home)
    with ResultsStore(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO bandwidth VALUES (?, 'fast', 4, 0)", (info.device_id,))
    assert main(["fit", "--device-root", str(GALAXY), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bandwidth_bps"] is None


# ---------------------------------------------------------------------------------------------
# Report files

CSV_HEADER = "device,device_id,device_ram_total,model_filename,model_size,n_threads,n_prompt,n_gen,avg_ts\n"
CSV_GOOD = "Phone,phone,8589934592,/m/a.gguf,1073741824,4,0,128,9.0\n"

# name → (file name, content, exit code, text the error must hold)
REPORT_FILE_CASES: dict[str, tuple[str, bytes | str | Callable[[Path], None], int, str]] = {
    "json-nested-100000-arrays": ("r.json", "[" * 100_000 + "]" * 100_000, 1, "nested too deeply"),
    "json-nested-100000-objects": ("r.json", '[{"a":' * 1 + '{"a":' * 100_000 + "1" + "}" * 100_001 + "]", 1,
                                   "nested too deeply"),
    "json-digits-past-the-limit": ("r.json", '[{"avg_ts": ' + "1" * 5000 + "}]", 1, "not bench --json"),
    "json-truncated": ("r.json", json.dumps([GOOD_ROW])[:-5], 1, "not bench --json"),
    "json-object": ("r.json", json.dumps(GOOD_ROW), 2, "JSON array"),
    "json-number": ("r.json", "5", 2, "JSON array"),
    "json-null": ("r.json", "null", 2, "JSON array"),
    "json-array-of-arrays": ("r.json", "[[1], [2]]", 2, "JSON array"),
    "json-empty-file": ("r.json", "", 1, "not bench --json"),
    "json-too-many-rows": ("r.json", "[" + "{}," * 100_000 + "{}]", 2, "more than 100000"),
    "json-nul-bytes": ("r.json", b"[\x00\x00]", 1, "not bench --json"),
    "not-utf8": ("r.json", b"\xff\xfe\x00junk", 1, "not UTF-8"),
    "latin1": ("r.csv", CSV_HEADER.encode() + "Téléphone,1\n".encode("latin-1"), 1, "not UTF-8"),
    "csv-field-past-the-limit": ("r.csv", CSV_HEADER + "x" * 200_000 + ",1\n", 1, "field larger than field limit"),
    "csv-unterminated-quote": ("r.csv", CSV_HEADER + '"' + "x\n" * 100_000, 1, "bench --csv"),
    "csv-too-many-rows": ("r.csv", CSV_HEADER + CSV_GOOD * 100_001, 2, "more than 100000"),
    "binary": ("r.json", _garbage(1 << 16), 1, "not"),
    "larger-than-16-MiB": ("r.json", _sparse((16 << 20) + 1), 1, "larger than 16 MiB"),
    "two-gigabytes": ("r.csv", _sparse(2 * GiB), 1, "larger than 16 MiB"),
    "directory": ("r.json", _directory, 1, "is a directory"),
    "fifo": ("r.json", _fifo, 2, "FIFO"),
    "dev-zero": ("r.json", _dev_zero, 2, "not a regular file"),
    "symlink-loop": ("r.json", _self_loop, 1, "symbolic links"),
}


@pytest.mark.parametrize("name", sorted(REPORT_FILE_CASES))
def test_a_report_file_that_cannot_be_results_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          name: str) -> None:
    file_name, content, code, needle = REPORT_FILE_CASES[name]
    path = tmp_path / file_name
    _put(path, content)
    err = _one_line(capsys, main(["report", str(path)]), code)
    assert needle in err


@pytest.mark.parametrize("path, code, needle", [("/dev/zero", 2, "not a regular file"),
                                                ("/dev/urandom", 2, "not a regular file"),
                                                ("/nonexistent/r.json", 1, "no such file")])
def test_report_refuses_devices_and_missing_files(capsys: pytest.CaptureFixture[str], path: str, code: int,
                                                  needle: str) -> None:
    assert needle in _one_line(capsys, main(["report", path]), code)


def test_report_of_an_overlong_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "file name too long" in _one_line(capsys, main(["report", str(tmp_path / ("r" * 5000 + ".json"))]), 1)


# name → (file name, content) of files that are results with odd values: report answers.
REPORT_ODD_VALUES: dict[str, tuple[str, str | bytes]] = {
    "csv-non-numeric": ("r.csv", CSV_HEADER + CSV_GOOD + "Phone,phone,lots,/m/b.gguf,big,four,0,128,fast\n"),
    "csv-extra-columns": ("r.csv", CSV_HEADER + CSV_GOOD.strip() + ",extra,more\n"),
    "csv-fewer-columns": ("r.csv", CSV_HEADER + CSV_GOOD + "Phone,phone\n"),
    "csv-nul-bytes": ("r.csv", CSV_HEADER + CSV_GOOD + "Ph\x00one,phone,1,/m/\x00,1,4,0,128,1.0\n"),
    "csv-infinities": ("r.csv", CSV_HEADER + CSV_GOOD + "Phone,phone,inf,/m/b.gguf,nan,4,0,128,1e999\n"),
    "csv-digit-flood": ("r.csv", CSV_HEADER + CSV_GOOD + "Phone,phone," + "9" * 5000 + ",/m/b.gguf,1,4,0,128,1\n"),
    "csv-nested-list": ("r.csv", CSV_HEADER.strip() + ",samples_ns\n" + CSV_GOOD.strip() + ',"' + "[" * 50_000 + '"\n'),
    "csv-carriage-returns": ("r.csv", (CSV_HEADER + CSV_GOOD).replace("\n", "\r")),
    "csv-bom": ("r.csv", "\ufeff" + CSV_HEADER + CSV_GOOD),
    "csv-markup-names": ("r.csv", CSV_HEADER + "[/],phone,8589934592,/m/[/bold].gguf,1073741824,4,0,128,9.0\n"),
    "json-wrong-types": ("r.json", json.dumps([GOOD_ROW, {**GOOD_ROW, "avg_ts": "fast", "n_gen": "x"},
                                               {**GOOD_ROW, "model_size": 10**30, "n_threads": [4]}])),
    "json-nan-and-infinity": ("r.json", json.dumps([GOOD_ROW, {**GOOD_ROW, "avg_ts": float("inf")},
                                                    {**GOOD_ROW, "device_ram_total": float("nan")}])),
    "json-huge-rate": ("r.json", json.dumps([{**GOOD_ROW, "avg_ts": 1.7e308}, {**GOOD_ROW, "model_size": 2**62,
                                                                              "device_ram_total": 1}])),
    "json-markup-names": ("r.json", json.dumps([{**GOOD_ROW, "device": "[/]", "engine": "[/bold]",
                                                 "model_filename": "[/x]"}])),
    "json-bom": ("r.json", "\ufeff" + json.dumps([GOOD_ROW])),
    "json-lone-surrogates": ("r.json", json.dumps([{**GOOD_ROW, "device": "\udcff", "model_filename": "\ud800.gguf"}])),
}


@pytest.mark.parametrize("name", sorted(REPORT_ODD_VALUES))
@pytest.mark.parametrize("mode", [["--json"], []])
def test_report_files_with_odd_values_still_report(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                                   mode: list[str]) -> None:
    file_name, content = REPORT_ODD_VALUES[name]
    path = tmp_path / file_name
    _put(path, content)
    code = main(["report", str(path), *mode])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    assert out and out.encode("utf-8")  # writable to a strict UTF-8 stdout


@pytest.mark.parametrize("rows", [
    [{**GOOD_ROW, "avg_ts": 1.7e308}, GOOD_ROW],
    [{**GOOD_ROW, "model_size": 2**62, "device_ram_total": 1}, GOOD_ROW],
    [{**GOOD_ROW, "avg_ts": 5e-324}, GOOD_ROW],
    [{**GOOD_ROW, "model_filename": "/m/b.gguf", "model_size": -5}, {**GOOD_ROW, "avg_ts": -3.0}, GOOD_ROW],
    [{**GOOD_ROW, "device": "[/]", "model_filename": "/m/[/x].gguf"}],
], ids=["rate-near-float-max", "size-past-ram", "subnormal-rate", "negative-values", "markup-names"])
def test_the_png_chart_of_odd_values(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     rows: list[dict[str, Any]]) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rows))
    assert main(["report", str(path), "--png", str(tmp_path / "c.png"), "--no-chart"]) == 0, capsys.readouterr().err
    assert (tmp_path / "c.png").stat().st_size > 1000


# ---------------------------------------------------------------------------------------------
# The error table itself

def test_a_message_quoting_megabytes_is_one_short_line() -> None:
    message, code = one_line(CorruptFileError("bad value: " + "x\n" * 5_000_000))
    assert code == 1 and len(message) == MAX_MESSAGE and message.endswith("…") and "\n" not in message


@pytest.mark.parametrize("exc, needle", [
    (OSError(errno.ENAMETOOLONG, "File name too long", "/x/" + "n" * 5000), "file name too long"),
    (OSError(errno.ELOOP, "Too many levels of symbolic links", "/x/loop"), "symbolic links"),
    (OSError(errno.EMFILE, "Too many open files"), "too many open files"),
    (OSError(errno.ENFILE, "Too many open files in system"), "too many open files"),
    (PermissionError(errno.EACCES, "Permission denied", "/x/" + "p" * 5000), "permission denied"),
    (OSError(errno.EINVAL, "Invalid argument", "/x/a:b"), "invalid argument"),
    (OSError(errno.EFBIG, "File too large", "/sdcard/m.gguf"), "file too large"),
    (OSError(errno.EDQUOT, "Disk quota exceeded", "/x/m.gguf"), "disk quota exceeded while writing /x/m.gguf"),
    (OSError(errno.ENOSPC, "No space left on device"), "no space left on the device while writing output"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/x"), "is a directory"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/f/y"), "not a directory"),
    (FileExistsError(errno.EEXIST, "File exists", "/x/blossom-edge"), "already exists"),
    (FileNotFoundError(errno.ENOENT, "No such file", "/x/\x1b[2J"), "no such file"),
    (FileNotFoundError("llama-bench is not installed"), "no such file or directory: llama-bench is not installed"),
])
def test_os_errors_a_user_can_cause_are_one_line(exc: OSError, needle: str) -> None:
    message, code = one_line(exc)
    assert code == 1 and needle in message and len(message) <= MAX_MESSAGE
    assert message.isprintable(), message


def test_os_error_names_keep_their_end() -> None:
    message, _ = one_line(FileNotFoundError(errno.ENOENT, "No such file", "/a/" + "d" * 5000 + "/model.gguf"))
    assert message.endswith("/model.gguf") and "…" in message and len(message) < 200


@pytest.mark.parametrize("exc", [RecursionError("deep"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
                                 ValueError("x")])
def test_what_readers_must_name_is_not_in_the_table(exc: BaseException) -> None:
    """These need the file name only the reader knows; one that reaches the table is a bug to fix there."""
    assert one_line(exc) is None
