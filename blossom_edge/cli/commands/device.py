"""`blossom-edge device`: RAM, core clusters, ISA features, SoC, heat and battery of this device.

Examples:
    blossom-edge device
    blossom-edge device --json | jq .default_threads
    blossom-edge device --capture my-phone/      # send this directory in with a bug report
    blossom-edge device --root my-phone/         # read a capture instead of this machine
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.cli.options import JsonOpt


def device(
    json_output: JsonOpt = False,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Read a captured tree (DIR/proc, DIR/sys, DIR/getprop.txt) instead of this machine."),
    ] = None,
    capture: Annotated[
        Path | None,
        typer.Option("--capture", help="Copy the files the probes read on this machine into DIR."),
    ] = None,
) -> None:
    """Show what this device offers a GGUF model: memory, performance cores, CPU features, SoC.

    Example: blossom-edge device --json
    """
    from rich.markup import escape

    from blossom_edge.base.errors import UsageError
    from blossom_edge.cli.output import Output
    from blossom_edge.device.capture import capture as capture_files
    from blossom_edge.device.probe import probe
    from blossom_edge.device.tree import Tree

    if root is not None and capture is not None:
        raise UsageError("--root and --capture cannot be used together")
    out = Output(json_output)
    if capture is not None:
        written = capture_files(capture)
        out.data({"capture": str(capture), "files": written},
                 lambda: out.note(escape(f"captured {len(written)} files into {capture}")))
        return
    info = probe(Tree(root) if root is not None else None)
    out.data(info.to_dict(), lambda: render(out, info))


def render(out, info) -> None:
    """The probe as `field: value` lines; every value is plain text, since a capture's file can hold `[/]`,
    which rich would otherwise read as markup and fail on."""
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import fields

    def size(value: int | None) -> str:
        return human_bytes(value) if value is not None else "?"

    pairs: list[tuple[str, str]] = []

    def add_row(field: str, value: str) -> None:
        pairs.append((field, value))

    add_row("SoC / board", " / ".join(x for x in (info.soc, info.board) if x) or "?")
    add_row("OS, kernel", f"{info.os or '?'}, {info.kernel or '?'} ({info.arch or '?'})")
    if info.android:
        add_row("Android", f"{info.android['manufacturer']} {info.android['model']}, "
                f"Android {info.android['version']} (SDK {info.android['sdk']})")
    add_row("RAM", f"{size(info.ram_available)} available of {size(info.ram_total)}")
    add_row("swap", f"{size(info.swap_free)} free of {size(info.swap_total)}")
    add_row("CPU", f"{info.cpu_model or '?'} ({info.n_cores} cores)")
    for cluster in info.clusters:
        mhz = f"{cluster.max_mhz} MHz" if cluster.max_mhz else "max clock unknown"
        kind = "little" if cluster.little else "big"
        add_row(f"cluster ({kind})", f"cpu {','.join(map(str, cluster.cores))}: "
                f"{cluster.core or 'core'} @ {mhz}")
    add_row("default threads", f"{info.default_threads} (performance cores {','.join(map(str, info.perf_cores))})")
    derived = f" (from the part number: {', '.join(info.features_derived)})" if info.features_derived else ""
    add_row("CPU features", (", ".join(info.features) or "none detected") + derived)
    if info.cpu_temp_c is not None:
        add_row("CPU temperature", f"{info.cpu_temp_c:.1f} °C ({len(info.thermal)} thermal zones)")
    if info.battery is not None:
        b = info.battery
        power = f", {b.power_w:.2f} W" if b.power_w is not None else ""
        add_row("battery", f"{b.capacity_pct if b.capacity_pct is not None else '?'}% {b.status or ''}{power}")
    fields(out, pairs, title=info.name)


def register(app: typer.Typer) -> None:
    app.command("device")(device)
