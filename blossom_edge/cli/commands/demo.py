"""`blossom-edge demo`: the whole path offline on a tiny built-in model, in about a minute.

Examples:
    blossom-edge demo
    blossom-edge demo -o /tmp/blossom-demo --no-bench
    blossom-edge demo --json
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.cli.options import JsonOpt

DEFAULT_DIR = Path("blossom-edge-demo")


def demo(
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", "-o", help=f"Where to put the demo files (default: ./{DEFAULT_DIR}).")
    ] = None,
    bench: Annotated[bool, typer.Option("--bench/--no-bench", help="Benchmark the result.")] = True,
    json_output: JsonOpt = False,
) -> None:
    """Build a tiny Blossom-shaped model, convert, quantize to q4_k_m, verify, write its Modelfile, benchmark.

    Needs no network and no model download. Example: blossom-edge demo -o /tmp/demo
    """
    from blossom_edge.cli.output import Output
    from blossom_edge.demo.run import run_demo

    out = Output(json_output)
    result = run_demo(output_dir or DEFAULT_DIR, progress=out.progress, bench=bench)
    info = result.report.verification.info
    data = {
        "workdir": str(result.workdir),
        "checkpoint": str(result.checkpoint),
        "gguf": str(result.gguf),
        "manifest": str(result.manifest),
        "modelfile": str(result.modelfile) if result.modelfile else None,
        "bytes": info.file_size,
        "bits_per_weight": round(info.bits_per_weight, 4),
        "tensor_types": info.type_histogram(),
        "generated": result.report.verification.text,
        "bench": [{"test": row.test, "n_threads": row.n_threads, "tokens_per_second": row.avg_ts}
                  for row in result.bench_rows],
        "timings_seconds": {k: round(v, 3) for k, v in result.timings.items()},
    }
    out.data(data, lambda: _render(out, data))


def _render(out, data: dict) -> None:
    from shlex import quote

    from blossom_edge.base.output import human_bytes

    out.print(f"[bold green]✓ demo finished[/] in {sum(data['timings_seconds'].values()):.1f}s — files in {data['workdir']}")
    out.print(f"  checkpoint  {data['checkpoint']}")
    out.print(f"  GGUF        {data['gguf']}  ({human_bytes(data['bytes'])}, {data['bits_per_weight']:.2f} bpw, "
              + ", ".join(f"{k} ×{v}" for k, v in data["tensor_types"].items()) + ")")
    out.print(f"  manifest    {data['manifest']}")
    if data["modelfile"]:
        out.print(f"  Modelfile   {data['modelfile']}  (ollama create blossom-demo -f {data['modelfile']})")
    for row in data["bench"]:
        out.print(f"  bench       {row['test']} with {row['n_threads']} threads: {row['tokens_per_second']:.1f} tokens/s")
    out.print("  stages      " + "  ".join(f"{k} {v:.1f}s" for k, v in data["timings_seconds"].items()))
    out.print(f"  greedy reply (random weights, so nonsense is expected): {data['generated']!r}")
    # Relative when it can be (shorter on a phone); soft_wrap: a command to copy is never broken by us.
    out.print(f"next: blossom-edge chat {quote(_from_here(data['gguf']))}", soft_wrap=True, markup=False)
    out.print("      blossom-edge quantize 4b q4_k_m")


def _from_here(path: str) -> str:
    """`path` relative to the current directory when it lies below it, else as it is."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
