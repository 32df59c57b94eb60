"""bench's table legend explains only the marks its rows carry."""

from __future__ import annotations

import pytest

from blossom_edge.bench.row import BenchRow
from blossom_edge.cli.commands.bench import render
from blossom_edge.cli.output import Output


def _row(**fields) -> BenchRow:
    return BenchRow.from_dict({"model_filename": "m.gguf", "n_threads": 2, "n_prompt": 0, "n_gen": 16,
                               "avg_ts": 10.0, "stddev_ts": 0.5, "device": "Phone", "device_ram_total": 2**33,
                               "engine": "ollama", **fields})


@pytest.mark.parametrize("throttled", [False, True])
@pytest.mark.parametrize("sweep", [False, True])
def test_legend_lists_only_marks_that_occur(throttled: bool, sweep: bool, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    rows = [_row(throttled=throttled), _row(n_threads=4)]
    render(Output(), rows, {("m.gguf", "tg16"): rows[1]} if sweep else None)
    out = capsys.readouterr().out
    legend = out.strip().splitlines()[-1]
    assert ("! throttled" in legend) is throttled and ("!" in out.replace("! throttled", "")) is throttled
    assert ("★ best thread count" in legend) is sweep and ("★" in out.replace("★ best", "")) is sweep
