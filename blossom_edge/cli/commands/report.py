"""`blossom-edge report`: compare bench runs across devices, models and quants.

Examples:
    blossom-edge report                          # everything in the local results store
    blossom-edge report phone.json pi5.json --png speed.png
    blossom-edge report --json | jq '.[] | select(.tg_ts > 10)'
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.cli.options import JsonOpt


def report(
    results: Annotated[
        list[Path] | None,
        typer.Argument(help="Files from bench --json or --csv (default: the local results store).", show_default=False),
    ] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also write the chart to this PNG file.")] = None,
    chart: Annotated[bool, typer.Option("--chart/--no-chart", help="Draw the chart in the terminal.")] = True,
    json_output: JsonOpt = False,
) -> None:
    """A table and a chart of generation tokens/s against model size as a share of device RAM.

    Example: blossom-edge report runs.json --png speed.png
    """
    from rich.markup import escape

    from blossom_edge.base.errors import NotFoundError
    from blossom_edge.bench import report as r
    from blossom_edge.bench.store import ResultsStore
    from blossom_edge.cli.output import Output

    out = Output(json_output)
    if results:
        rows = r.load_files(results)
    else:
        with ResultsStore() as store:
            rows = store.rows()
    pts = r.points(rows)
    if not pts:
        raise NotFoundError("no bench results to report: run `blossom-edge bench MODEL.gguf` first")
    if png is not None:
        from blossom_edge.base.atomic import refuse_overwriting

        refuse_overwriting(png, results or [])
        r.png_chart(pts, png)
        out.note(escape(f"chart written to {png}"))

    def show() -> None:
        render(out, pts)
        if chart:
            out.print(r.terminal_chart(pts, width=min(out.width, 110)), markup=False, highlight=False,
                      soft_wrap=True)

    out.data([p.to_dict() for p in pts], show)


def render(out, pts) -> None:
    """The points as a table; names come from files anyone can write, and stay plain text."""
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import Column, paragraph, table

    columns = ["device", "model", *(Column(c, right=True) for c in ("size", "% of RAM", "threads", "pp t/s",
                                                                    "tg t/s")), "engine"]
    mixed = "†"
    cells = [[p.device, p.model, human_bytes(p.model_size) if p.model_size else "?",
              f"{100 * p.ram_share:.1f}" if p.ram_share is not None else "?", str(p.n_threads or "?"),
              f"{p.pp_ts:.1f}" if p.pp_ts else "–",
              (f"{p.tg_ts:.1f}" if p.tg_ts else "–") + (mixed if p.mixed else ""), p.engine] for p in pts]
    table(out, columns, cells, title="bench results")
    if any(p.mixed for p in pts):
        paragraph(out, f"{mixed} pp and tg are each the best of several runs, not measured together in one run")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
