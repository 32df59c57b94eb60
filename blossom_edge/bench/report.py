"""Compare bench runs across devices, models and quants: a table and a chart.

The chart puts generation tokens/s against model size as a share of the device's RAM: on
one picture a phone and a laptop line up by how full their memory is, which is the axis the
"which model for my device" question lives on. Rows come from the results store and from
files written by `bench --json` or `bench --csv`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blossom_edge.base.atomic import atomic_output
from blossom_edge.base.bounded_read import parse_json, read_small_file
from blossom_edge.base.errors import CorruptFileError, UsageError
from blossom_edge.bench.row import BenchRow

# The largest results file `report` reads: bench --json takes about 1.5 kB a row, so this is
# some ten thousand rows. Parsed JSON can take 25 times its size in memory (`[{},{},…]`),
# so this, not 64 MiB, is what keeps a hostile file within a phone's RAM; a 2 GB file or
# /dev/zero stops here.
MAX_RESULTS_BYTES = 16 << 20
# The most rows `report` reads from all its files together: each costs memory, and a row
# holds one device × model × thread count × test, so real collections are thousands.
MAX_REPORT_ROWS = 100_000
# The fastest rate a row may claim: no device decodes a billion tokens a second, and the chart's
# axes overflow on rates near float's limit, so a rate past this is not a measurement.
MAX_TOKENS_PER_S = 1e9


@dataclass
class Point:
    """One device × model × thread count, with its best prompt and generation rates."""

    device: str
    model: str
    model_size: int | None
    ram_total: int | None
    n_threads: int | None
    pp_ts: float | None
    tg_ts: float | None
    engine: str
    # True when the best pp and the best tg came from different runs, so the row pairs figures
    # that were never measured together (a cooler device, another build, other free RAM).
    mixed: bool = False

    @property
    def ram_share(self) -> float | None:
        if (self.model_size or 0) <= 0 or (self.ram_total or 0) <= 0:
            return None
        return self.model_size / self.ram_total

    def to_dict(self) -> dict[str, Any]:
        return {**vars(self), "ram_share": self.ram_share}


def load_files(paths: list[Path]) -> list[BenchRow]:
    """Rows from files that `bench --json` or `bench --csv` wrote.

    Each file must be a regular file of at most MAX_RESULTS_BYTES of UTF-8, and all of them
    together at most MAX_REPORT_ROWS rows; anything else is one error naming the file.
    Values of the wrong type inside a row are BenchRow's to handle (they read as unknown).
    """
    rows: list[BenchRow] = []
    for path in paths:
        text = _read_text(path)
        rows.extend(_csv_rows(path, text) if path.suffix.lower() == ".csv" else _json_rows(path, text))
        if len(rows) > MAX_REPORT_ROWS:
            raise UsageError(f"{path}: more than {MAX_REPORT_ROWS} result rows in all; report fewer files at once")
    return rows


def _read_text(path: Path) -> str:
    """The file as text, refusing what cannot be bench output before reading much of it."""
    data = read_small_file(path, MAX_RESULTS_BYTES, what="bench --json or --csv output")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{path} is not bench --json or --csv output (not UTF-8 text)") from exc


def _csv_rows(path: Path, text: str) -> list[BenchRow]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        for record in reader:
            rows.append(BenchRow.from_csv_record(record))
            if len(rows) > MAX_REPORT_ROWS:
                break
    except csv.Error as exc:
        raise CorruptFileError(f"{path} line {reader.line_num} is not bench --csv output: {exc}") from exc
    return rows


def _json_rows(path: Path, text: str) -> list[BenchRow]:
    data = parse_json(text, f"{path} is not bench --json output")
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise UsageError(f"{path} is not the JSON array of result objects bench --json writes")
    if len(data) > MAX_REPORT_ROWS:
        raise UsageError(f"{path} holds more than {MAX_REPORT_ROWS} result rows, more than report reads")
    return [BenchRow.from_dict(row) for row in data]


def points(rows: list[BenchRow]) -> list[Point]:
    """Merge prompt and generation rows into one point per device × model × threads (best of each).

    `bench` writes a model's pp row and then its tg row for each thread count, with the one load
    time of the model they share, so the two best rows came from one run when they are neighbours,
    in that order, among the rows of their key (rows keep the order of the store, oldest first, and
    of each file) and do not differ in load time; otherwise the point is marked `mixed`.
    """
    merged: dict[tuple[Any, ...], Point] = {}
    seen: dict[tuple[Any, ...], int] = {}
    best: dict[tuple[Any, ...], dict[str, tuple[int, BenchRow]]] = {}
    for row in rows:
        if row.avg_ts is None or not 0 < row.avg_ts <= MAX_TOKENS_PER_S:
            continue
        model = Path(str(row.model_filename or "?")).name
        key = (row.device_id or row.device, model, row.n_threads)
        point = merged.setdefault(key, Point(str(row.device or "?"), model, row.model_size, row.device_ram_total,
                                             row.n_threads, None, None, str(row.engine or "llama.cpp")))
        index = seen[key] = seen.get(key, -1) + 1
        rate = float(row.avg_ts)
        if row.n_gen:
            if rate > (point.tg_ts or 0.0):
                point.tg_ts, best.setdefault(key, {})["tg"] = rate, (index, row)
        elif row.n_prompt:
            if rate > (point.pp_ts or 0.0):
                point.pp_ts, best.setdefault(key, {})["pp"] = rate, (index, row)
    for key, at in best.items():
        if "pp" in at and "tg" in at:
            (pp_index, pp_row), (tg_index, tg_row) = at["pp"], at["tg"]
            loads = (pp_row.load_time_s, tg_row.load_time_s)
            merged[key].mixed = tg_index != pp_index + 1 or (None not in loads and loads[0] != loads[1])
    return sorted(merged.values(), key=lambda p: (p.device, p.ram_share or 0, p.model, p.n_threads or 0))


def chart_series(pts: list[Point]) -> dict[str, list[tuple[float, float, str]]]:
    """Per device and thread count: (model size as % of RAM, generation t/s, model) where both are known."""
    series: dict[str, list[tuple[float, float, str]]] = {}
    for p in pts:
        if p.ram_share is None or p.tg_ts is None:
            continue
        key = f"{p.device}, {p.n_threads} thread{'s' if p.n_threads != 1 else ''}" if p.n_threads else p.device
        series.setdefault(key, []).append((100 * p.ram_share, p.tg_ts, Path(p.model).stem))
    for values in series.values():
        values.sort()
    return series


TITLE = "Generation speed against model size as a share of device RAM"
X_LABEL = "model size, % of device RAM"
Y_LABEL = "generation tokens/s"


def terminal_chart(pts: list[Point], width: int = 100, height: int = 20) -> str:
    """The chart as text: one letter per device on a character grid, a legend under it.

    Drawn by hand so the terminal view needs no plotting dependency on a phone.
    """
    series = chart_series(pts)
    if not series:
        return "(no generation results with model size and device RAM to chart)"
    xs = [x for values in series.values() for x, _, _ in values]
    ys = [y for values in series.values() for _, y, _ in values]
    x_max, y_max = max(xs) * 1.05 or 1.0, max(ys) * 1.05 or 1.0
    label_w = max(len(f"{y_max:.1f}"), 4)
    plot_w = max(20, width - label_w - 3)
    grid = [[" "] * plot_w for _ in range(height)]
    legend = []
    for index, (device, values) in enumerate(series.items()):
        mark = chr(ord("A") + index % 26)
        legend.append(f"{mark} = {device}")
        for x, y, _ in values:
            col = min(plot_w - 1, int(x / x_max * (plot_w - 1)))
            row = height - 1 - min(height - 1, int(y / y_max * (height - 1)))
            grid[row][col] = mark if grid[row][col] in (" ", mark) else "*"
    lines = [TITLE, Y_LABEL]
    for i, cells in enumerate(grid):
        value = y_max * (height - 1 - i) / (height - 1)
        tick = f"{value:.1f}" if i % 5 == 0 or i == height - 1 else ""
        lines.append(f"{tick:>{label_w}} |" + "".join(cells))
    lines.append(" " * label_w + " +" + "-" * plot_w)
    ticks = " " * (label_w + 2)
    for k in range(5):
        text = f"{x_max * k / 4:.{0 if x_max >= 20 else 1}f}%"
        pos = label_w + 2 + int(k / 4 * (plot_w - 1)) - len(ticks)
        ticks += " " * max(0, pos - (len(text) if k == 4 else 0)) + text
    lines.append(ticks)
    lines.append(" " * (label_w + 2) + X_LABEL + "   (* = several devices)")
    lines.extend("  " + entry for entry in legend)
    return "\n".join(lines)


def png_chart(pts: list[Point], out: Path) -> Path:
    """The same chart as a PNG, one colour per device and each point labelled with its model."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UsageError("--png needs matplotlib: pip install 'blossom-edge[plot]'") from exc
    series = chart_series(pts)
    if not series:
        raise UsageError("no generation results with model size and device RAM to plot")
    fig, ax = plt.subplots(figsize=(10, 6), dpi=120)
    for device, values in series.items():
        xs, ys = [v[0] for v in values], [v[1] for v in values]
        ax.plot(xs, ys, marker="o", linestyle="-", linewidth=1, markersize=7, label=device)
        for x, y, label in values:
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_title(TITLE)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    ax.set_xlim(0, max(v[0] for values in series.values() for v in values) * 1.15)
    rates = [v[1] for values in series.values() for v in values]
    if max(rates) > 20 * min(rates):
        # Phones and laptops, small and large models: an order of magnitude apart is the norm.
        ax.set_yscale("log")
        ax.set_ylabel(Y_LABEL + " (log scale)")
    else:
        ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(title="device", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as partial:
        fig.savefig(partial, format="png")
    plt.close(fig)
    return out
