"""`blossom-edge fit`: which Blossom model, quant and context fit this device's memory, and how fast it runs.

Examples:
    blossom-edge fit
    blossom-edge fit --ram 4G --ctx 4096
    blossom-edge fit --all                 # every model × quant
    blossom-edge fit --json | jq .pick
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.base.sizes import unit_help
from blossom_edge.cli.options import JsonOpt


def fit(
    ram: Annotated[
        str | None,
        typer.Option("--ram", metavar="SIZE", help="Plan for a device with this much RAM, e.g. 8G or 7.5GiB (default: "
                                                    f"this device's available RAM). {unit_help(binary=True)}"),
    ] = None,
    ctx: Annotated[int, typer.Option("--ctx", min=256, help="Context length to budget the KV cache for; smaller "
                                                            "ones down to 1024 are weighed too.")] = 4096,
    bandwidth_gbs: Annotated[
        float | None,
        typer.Option("--bandwidth", min=0.01, help="Memory bandwidth in GB/s for speed estimates (default: measured)."),
    ] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Show every model × quant, not one line per model.")] = False,
    json_output: JsonOpt = False,
    device_root: Annotated[
        Path | None, typer.Option("--device-root", hidden=True, help="Read the device from a captured tree.")
    ] = None,
) -> None:
    """Per Blossom model, its best quant that fits this device's RAM, what it needs, headroom and speed; one pick.

    Every llama.cpp quant type from IQ1_S to F16 and contexts down to 1024 are weighed. The pick
    is the best model × quant × context that fits and generates at least 4 tokens/s (the
    readable-speed threshold); without one, fit names the nearest option and what would make it
    work.

    Example: blossom-edge fit --ram 4G --ctx 4096
    """
    from blossom_edge.bench import fit as f
    from blossom_edge.bench.bandwidth import bandwidth_for
    from blossom_edge.bench.store import ResultsStore
    from blossom_edge.cli.output import Output
    from blossom_edge.device.probe import probe
    from blossom_edge.device.tree import Tree

    out = Output(json_output)
    ram_bytes = f.parse_size(ram) if ram is not None else None
    info = probe(Tree(device_root) if device_root is not None else None)
    total, budget, basis = f.budget(ram_bytes, info)
    with ResultsStore() as store:
        stored = store.rows(info.device_id)
        cached = store.bandwidth(info.device_id)
    bandwidth = bandwidth_for(info, given_gbs=bandwidth_gbs, cached=cached, this_machine=device_root is None,
                              note=out.progress.step)
    efficiency, efficiency_basis = f.decode_efficiency(stored)
    rows = f.table(budget, ctx, bandwidth, info.features, info.arch, stored)
    every = f.candidates(budget, ctx, bandwidth, info.features, info.arch, stored)
    advice = f.advise(every, ctx, f.arm_repack(info.features, info.arch), budget, ram_given=ram_bytes is not None)
    payload = {
        "device": info.name, "device_id": info.device_id, "ram_total": total, "budget": budget,
        "budget_basis": basis, "ctx": ctx, "bandwidth_bps": bandwidth, "min_readable_tps": f.MIN_READABLE_TPS,
        "decode_efficiency": efficiency, "decode_efficiency_basis": efficiency_basis,
        "speed_note": "tg_source 'estimate' = bandwidth-based estimate, not a measurement",
        "rows": [r.to_dict() for r in rows], "candidates": [r.to_dict() for r in every],
        "pick": advice.pick.to_dict() if advice.pick else None,
        "nearest": advice.nearest.to_dict() if advice.nearest else None, "reason": advice.reason,
        "models": [{"model": alias, "best": r.to_dict() if r else None} for alias, r in f.best_per_model(rows)],
        "no_shape": f.without_shape(), "needs_imatrix": sorted(f.NEEDS_IMATRIX),
    }
    shown = rows if all_rows else f.best_per_model(rows)
    out.data(payload, lambda: render(out, shown, advice, info.name, budget, basis, ctx, bandwidth, matrix=all_rows,
                                     skipped=f.without_shape(), efficiency=(efficiency, efficiency_basis)))


def render(out, rows, advice, name: str, budget: int, basis: str, ctx: int, bandwidth: float | None, *,
           matrix: bool = True, skipped: list[str] = (), efficiency: tuple[float, str] = (0.6, "typical")) -> None:
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import Column, paragraph, table

    columns = ["model", "quant", *(Column(c, right=True) for c in ("weights", "KV cache", "needs", "headroom",
                                                                   "gen t/s")), "fit"]
    cells, styles = [], []
    for item in rows:
        if not matrix:
            alias, r = item
            if r is None:
                cells.append([alias, "—", "", "", "", "", "", "nothing fits"])
                styles.append("dim")
                continue
        else:
            r = item
        speed = "?" if r.tg_ts is None else (f"{r.tg_ts:.1f}" if r.tg_source == "measured" else f"≈{r.tg_ts:.1f}*")
        mark = "fits" if r.fits else "too big"
        cells.append([r.model, r.quant, human_bytes(r.weights), human_bytes(r.kv_cache), human_bytes(r.need),
                      human_bytes(r.headroom), speed, mark + (f" ({r.note})" if r.note else "")])
        styles.append(None if r.fits else "dim")
    table(out, columns, cells, styles=styles,
          title=f"{name}: {human_bytes(budget)} for the model ({basis}), context {ctx}")
    if skipped:
        paragraph(out, f"Not estimated (no dimensions recorded for their base model): {', '.join(skipped)}")
    if bandwidth:
        paragraph(out, f"* estimate: {bandwidth / 1e9:.1f} GB/s copy bandwidth × decode efficiency "
                       f"{efficiency[0]:.2f} ({efficiency[1]}; a type bench has run uses its own runs) ÷ bytes per "
                       "token; run `blossom-edge bench` for measured figures")
    paragraph(out, conclusion(advice))


def conclusion(advice) -> str:
    """fit's last line: the one pick (model, type, context, speed), or the nearest option and what
    would make it work, always with the speed threshold the choice used."""
    from blossom_edge.base.output import human_bytes
    from blossom_edge.bench.fit import MIN_READABLE_TPS

    threshold = f"readable = at least {MIN_READABLE_TPS:g} tokens/s"
    r = advice.pick or advice.nearest
    if r is None:
        return f"No pick: {advice.reason}."
    speed = ("speed unknown" if r.tg_ts is None
             else f"{'about ' if r.tg_source != 'measured' else ''}{r.tg_ts:.1f} tokens/s")
    what = f"{r.model} {r.quant} at context {r.ctx} ({r.file_name}): needs {human_bytes(r.need)}, {speed}"
    imatrix = "; needs an importance matrix (`blossom-edge quantize` computes one)" if r.needs_imatrix else ""
    if advice.pick is not None:
        why = f"; {advice.reason}" if advice.reason else ""
        return f"Pick: {what}{imatrix}{why} ({threshold})."
    return f"No pick ({threshold}). Nearest: {what}: {advice.reason}."


def register(app: typer.Typer) -> None:
    app.command("fit")(fit)
