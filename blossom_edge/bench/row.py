"""One benchmark result: the row bench prints, `--csv` writes, the store keeps, and report and fit read.

The fields are llama-bench's own, under its names and in its order, then ours (device state
around the test, memory, bandwidth, engine). Rows from older runs or other tools may lack
fields; reading one fills the gaps with None rather than failing, and drops fields it does
not know.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class BenchRow:
    """One model × thread count × test (pp or tg) on one device."""

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
    llama_cpp_python: str | None = None

    @property
    def test(self) -> str:
        """`pp512` or `tg128`, as llama-bench names its tests."""
        return f"pp{self.n_prompt}" if self.n_prompt else f"tg{self.n_gen}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchRow:
        """A row from stored or exported data; unknown keys are dropped, missing ones left at their default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known and v is not None})


# The column order of --csv: llama-bench's fields first, then ours.
CSV_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(BenchRow))


def csv_record(row: BenchRow) -> dict[str, Any]:
    """A row as CSV values: lists as JSON, everything else as it is."""
    return {k: json.dumps(v) if isinstance(v, list) else v for k, v in row.to_dict().items()}
