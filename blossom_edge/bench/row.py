"""One benchmark result: the row bench prints, `--csv` writes, the store keeps, and report and fit read.

The fields are llama-bench's own, under its names and in its order, then ours (device state
around the test, memory, bandwidth, engine). Rows from older runs or other tools may lack
fields; reading one fills the gaps with None rather than failing, and drops fields it does
not know.

Rows are also read from files anyone can hand `report` and from a store anyone can edit, so
reading follows one rule: a value that is not of its field's type is missing. A word where a
number belongs ("fast" for avg_ts), NaN or infinity, an integer past 64 bits, a fraction
where a count belongs, a list holding anything but numbers: each leaves the field at its
default (None, 0 for the test sizes, "llama.cpp" for engine, [] for samples), so `report`
and `fit` see an unknown rather than crash on it. Text is kept, as valid UTF-8.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, get_type_hints

from blossom_edge.base.bounded_read import parse_json
from blossom_edge.base.errors import CorruptFileError


@dataclass(slots=True)
class BenchRow:
    """One model × thread count × test (pp or tg) on one device.

    Slotted: a row is then about 500 bytes instead of 1.8 kB, which is what keeps `report`
    at its row limit within a phone's memory.
    """

    # llama-bench's fields
    build_commit: str | None = None
    build_number: int | None = None
    cpu_info: str | None = None
    backends: str | None = None
    model_filename: str | None = None
    model_type: str | None = None
    model_size: int | None = None
    model_n_params: int | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    n_threads: int | None = None
    type_k: str | None = None
    type_v: str | None = None
    n_gpu_layers: int | None = None
    n_prompt: int = 0
    n_gen: int = 0
    n_depth: int = 0
    test_time: str | None = None
    avg_ns: int | None = None
    stddev_ns: int | None = None
    avg_ts: float | None = None
    stddev_ts: float | None = None
    samples_ns: list[int] = field(default_factory=list)
    samples_ts: list[float] = field(default_factory=list)
    # ours
    device: str | None = None
    device_id: str | None = None
    soc: str | None = None
    device_ram_total: int | None = None
    load_time_s: float | None = None
    est_memory: int | None = None
    peak_rss: int | None = None
    ram_available_before: int | None = None
    ram_available_after: int | None = None
    swap_growth: int | None = None
    temp_before_c: float | None = None
    temp_after_c: float | None = None
    throttled: bool | None = None
    energy_j_per_token: float | None = None
    bytes_per_token: int | None = None
    bandwidth_bps: float | None = None
    bandwidth_share: float | None = None
    device_bandwidth_bps: float | None = None
    engine: str = "llama.cpp"
    # llama.cpp's extra CPU buffer types (weight repacking) were on; llama-bench lists its --repack
    # only when it differs from the default, so it stands with ours, not in its columns
    repack: bool | None = None
    llama_cpp_python: str | None = None
    # MTP (nextn) layers the GGUF carries for speculative decoding; the benchmark itself does not draft
    mtp_layers: int | None = None

    @property
    def test(self) -> str:
        """`pp512` or `tg128`, as llama-bench names its tests."""
        return f"pp{self.n_prompt}" if self.n_prompt else f"tg{self.n_gen}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchRow:
        """A row from stored or exported data; unknown keys are dropped, missing ones and values
        of the wrong type (see the module's rule) left at their default."""
        typed = {k: _TYPED[k](v) for k, v in data.items() if k in _TYPED and v is not None}
        return cls(**{k: v for k, v in typed.items() if v is not None})

    @classmethod
    def from_csv_record(cls, record: Mapping[str | None, str | list[str] | None]) -> BenchRow:
        """A row from a `--csv` line, each text read as its field's type (the inverse of `csv_record`);
        values past the header (which csv files under None) are dropped."""
        return cls.from_dict({k: _FROM_TEXT[k](v) for k, v in record.items()
                              if k in _FROM_TEXT and isinstance(v, str) and v != ""})


# The column order of --csv: llama-bench's fields first, then ours.
CSV_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(BenchRow))


def csv_record(row: BenchRow) -> dict[str, Any]:
    """A row as CSV values: lists as JSON, everything else as it is."""
    return {k: json.dumps(v) if isinstance(v, list) else v for k, v in row.to_dict().items()}


# SQLite's INTEGER, and what every count, size and nanosecond figure here fits in.
_INT64 = range(-(2**63), 2**63)


def _int(value: Any) -> int | None:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if type(value) is int and value in _INT64 else None


def _float(value: Any) -> float | None:
    if type(value) is int and value in _INT64:
        value = float(value)
    return value if type(value) is float and math.isfinite(value) else None


def _str(value: Any) -> str | None:
    """Text as valid UTF-8: JSON may spell a lone surrogate ("\\udcff"), which no output stream
    can write, so it becomes "?"."""
    return value.encode("utf-8", "replace").decode("utf-8") if isinstance(value, str) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], list[Any] | None]:
    def typed(value: Any) -> list[Any] | None:
        if not isinstance(value, list):
            return None
        items = [item(v) for v in value]
        return None if any(v is None for v in items) else items

    return typed


def _number_text(text: str) -> int | float | None:
    """`512`, `7.5`, `1e3` as a number; int() first so large counts stay exact."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return None


def _bool_text(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.strip().lower())


def _json_text(text: str) -> Any:
    """A CSV cell that holds a JSON list (samples), or None when it does not parse within our reader's bounds."""
    try:
        return parse_json(text, "a CSV cell")
    except CorruptFileError:
        return None


_BY_HINT: dict[Any, tuple[Callable[[Any], Any], Callable[[str], Any]]] = {
    int: (_int, _number_text), int | None: (_int, _number_text), float | None: (_float, _number_text),
    str: (_str, str), str | None: (_str, str), bool | None: (_bool, _bool_text),
    list[int]: (_list_of(_int), _json_text), list[float]: (_list_of(_float), _json_text),
}
_HINTS = get_type_hints(BenchRow)
# Field name → the function that returns its value typed, or None for a value of the wrong type.
_TYPED: dict[str, Callable[[Any], Any]] = {name: _BY_HINT[hint][0] for name, hint in _HINTS.items()}
# Field name → the function that reads its CSV text.
_FROM_TEXT: dict[str, Callable[[str], Any]] = {name: _BY_HINT[hint][1] for name, hint in _HINTS.items()}
