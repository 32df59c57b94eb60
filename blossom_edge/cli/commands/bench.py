"""`blossom-edge bench`: prompt and generation tokens/s of GGUF models against this device's memory.

Examples:
    blossom-edge bench blossom-v5-4b-Q4_K_M.gguf
    blossom-edge bench *.gguf --threads 1,2,4 --pp 512 --tg 128 --reps 5 --json > runs.json
    blossom-edge bench model.gguf --threads sweep --csv
    blossom-edge bench --ollama azure99/blossom:4b
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.cli.options import JsonOpt


def bench(
    models: Annotated[list[Path] | None, typer.Argument(help="GGUF files to benchmark.", show_default=False)] = None,
    threads: Annotated[
        str | None,
        typer.Option("--threads", "-t", help="Thread counts, e.g. 1,2,4, or 'sweep' (default: the performance cores)."),
    ] = None,
    n_prompt: Annotated[int, typer.Option("--pp", min=0, help="Prompt tokens per prompt test (0: skip).")] = 512,
    n_gen: Annotated[int, typer.Option("--tg", min=0, help="Tokens per generation test (0: skip).")] = 128,
    reps: Annotated[int, typer.Option("--reps", "-r", min=1, help="Timed repetitions after the warm-up.")] = 5,
    json_output: JsonOpt = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print CSV rows (llama-bench's fields first).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Run even if the memory estimate exceeds available RAM.")] = False,
    ollama: Annotated[
        str | None, typer.Option("--ollama", help="Measure this model:tag through a running Ollama server.")
    ] = None,
    bandwidth_gbs: Annotated[
        float | None,
        typer.Option("--bandwidth", min=0.01, help="Device memory bandwidth in GB/s (default: measured once, cached)."),
    ] = None,
    repack: Annotated[
        str | None,
        typer.Option("--repack", metavar="auto|on|off",
                     help="Weight repacking in llama.cpp's extra CPU buffers, as llama-bench's --repack: auto is off "
                          "on AMX machines, where that path crashes (default: $BLOSSOM_EDGE_REPACK, else auto)."),
    ] = None,
    device_root: Annotated[
        Path | None, typer.Option("--device-root", hidden=True, help="Read RAM/heat/battery from a captured tree.")
    ] = None,
) -> None:
    """Measure load time, prompt and generation tokens/s, peak RSS, RAM, heat and energy per token.

    Example: blossom-edge bench blossom-v5-4b-Q4_K_M.gguf --threads 2,4 --json
    """
    from blossom_edge.base.errors import BlossomError, UsageError
    from blossom_edge.bench import llama as b
    from blossom_edge.bench.bandwidth import bandwidth_for
    from blossom_edge.bench.store import ResultsStore
    from blossom_edge.cli.output import Output
    from blossom_edge.device.probe import probe
    from blossom_edge.device.tree import Tree

    if json_output and csv_output:
        raise UsageError("--json and --csv cannot be used together")
    out = Output(json_output)
    if repack is not None:
        import os

        from blossom_edge.engine import weight_repack

        if repack.strip().lower() not in ("auto", "on", "off"):
            raise UsageError(f"--repack takes auto, on or off, not {repack!r}")
        os.environ[weight_repack.ENV] = repack  # the benchmark's child processes read it
    if not models and not ollama:
        raise UsageError("give GGUF files to benchmark, or --ollama TAG")
    if models and ollama:
        raise UsageError("benchmark either GGUF files or an Ollama model, not both")
    tree = Tree(device_root) if device_root is not None else Tree()
    info = probe(tree)
    counts, sweep = b.parse_threads(threads, info)
    cfg = b.BenchConfig(n_prompt=n_prompt, n_gen=n_gen, reps=reps, threads=counts, force=force)
    if n_prompt == 0 and n_gen == 0:
        raise UsageError("--pp and --tg are both 0: nothing to measure")
    ceiling = bandwidth_for(info, given_gbs=bandwidth_gbs, this_machine=device_root is None,
                            note=out.progress.step)
    if ollama:
        from blossom_edge.bench.ollama import run_ollama

        rows = run_ollama(ollama, cfg, info, tree, bandwidth=ceiling, progress=out.progress.step)
    else:
        rows = b.run(list(models or []), cfg, info, tree, bandwidth=ceiling, progress=out.progress)
    if csv_output:
        write_csv(rows)
    else:
        out.data([row.to_dict() for row in rows], lambda: render(out, rows, b.best_by_model(rows) if sweep else None))
    # After the results are shown: a locked or full results database must not cost the run.
    try:
        with ResultsStore() as store:
            store.append(rows)
    except (sqlite3.Error, OSError, BlossomError) as exc:
        from rich.markup import escape

        out.note(f"[yellow]not saved to the results store:[/yellow] {escape(str(exc))}")


def write_csv(rows) -> None:
    import csv

    from blossom_edge.bench.row import CSV_FIELDS, csv_record

    writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow(csv_record(row))


def render(out, rows, best: dict | None) -> None:
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import Column, paragraph, table

    def opt(value, fmt: str) -> str:
        return "–" if value is None else format(value, fmt)

    first = rows[0] if rows else None
    title = (f"{first.device or '?'}: {human_bytes(first.device_ram_total or 0)} RAM" if first
             else "?: 0 B RAM")
    columns = ["model", Column("thr", right=True), "test",
               *(Column(c, right=True) for c in ("t/s", "peak RSS", "free RAM", "°C", "J/tok", "BW"))]
    winners = {id(r) for r in (best or {}).values()}
    cells = []
    for r in rows:
        hot = "!" if r.throttled else ""
        mark = "★" if id(r) in winners else ""
        cells.append([
            Path(r.model_filename).name + (" +MTP" if r.mtp_layers else ""),
            f"{r.n_threads}{mark}",
            r.test,
            f"{r.avg_ts:.1f}±{r.stddev_ts:.1f}",
            human_bytes(r.peak_rss) if r.peak_rss else "?",
            human_bytes(r.ram_available_after) if r.ram_available_after else "?",
            f"{opt(r.temp_before_c, '.0f')}→{opt(r.temp_after_c, '.0f')}{hot}",
            opt(r.energy_j_per_token, ".3f"),
            f"{100 * r.bandwidth_share:.0f}%" if r.bandwidth_share else "–",
        ])
    table(out, columns, cells, title=title)
    from blossom_edge.engine.weight_repack import describe

    # Only what this table shows is explained: a legend entry for a mark no row carries misleads.
    notes = ["free RAM: available after the test", "BW: share of the measured memory bandwidth"]
    notes += ["! throttled"] if any(r.throttled for r in rows) else []
    notes += ["★ best thread count per model and test"] if winners else []
    if any(r.mtp_layers for r in rows):
        notes.append("+MTP: carries MTP layers for speculative decoding (not used in this benchmark)")
    if rows and rows[0].engine == "llama.cpp":
        notes.append(describe())
    paragraph(out, "; ".join(notes))


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
