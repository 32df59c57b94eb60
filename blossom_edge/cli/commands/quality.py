"""`blossom-edge quality REF.gguf QUANT.gguf…`: what each quant lost, to pick one for a phone.

Examples:
    blossom-edge quality blossom-v5-4b-BF16.gguf blossom-v5-4b-Q4_K_M.gguf
    blossom-edge quality blossom-v5-4b-Q8_0.gguf blossom-v5-4b-Q4_K_M.gguf blossom-v5-4b-Q3_K_M.gguf --json
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.cli.options import InferenceThreadsOpt, JsonOpt


def quality(
    reference: Annotated[Path, typer.Argument(help="The reference GGUF (bf16, f16 or q8_0).", show_default=False)],
    quants: Annotated[list[Path], typer.Argument(help="One or more quantized GGUFs of the same model.",
                                                 show_default=False)],
    chunk: Annotated[int, typer.Option("--chunk", min=32, help="Tokens per evaluation chunk.")] = 256,
    threads: InferenceThreadsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Perplexity of each file and KL divergence from the reference on the shipped Chinese/English text.

    Example: blossom-edge quality model-BF16.gguf model-Q4_K_M.gguf model-Q5_K_M.gguf
    """
    from blossom_edge.cli.output import Output
    from blossom_edge.quantize.quality import measure

    out = Output(json_output)
    rows = measure(reference, quants, chunk=chunk, threads=threads, progress=out.progress)
    out.data([r.to_dict() for r in rows], lambda: _render(out, reference, rows))


def _render(out, reference: Path, rows) -> None:
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import Column, paragraph, table

    columns = ["file", *(Column(c, right=True) for c in ("size", "bpw", "perplexity", "Δppl", "KL mean", "KL p99",
                                                         "same top-1"))]
    ref_ppl = rows[0].perplexity
    cells = []
    for r in rows:
        kl = (f"{r.kl_mean:.4f}", f"{r.kl_p99:.4f}", f"{r.top1_agreement:.1%}") if r.kl_mean is not None else ("-", "-", "-")
        delta = f"{(r.perplexity / ref_ppl - 1):+.2%}" if r is not rows[0] else "ref"
        cells.append([r.path.name, human_bytes(r.file_size), f"{r.bits_per_weight:.2f}", f"{r.perplexity:.3f}", delta,
                      *kl])
    table(out, columns, cells, title="quality against " + reference.name)
    paragraph(out, "lower KL and higher top-1 agreement mean closer to the reference; "
                   "choose the smallest file whose figures you can accept.", style="dim")


def register(app: typer.Typer) -> None:
    app.command("quality")(quality)
