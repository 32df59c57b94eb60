"""`blossom-edge quality REF.gguf QUANT.gguf…`: what each quant lost, as llama-perplexity measures it.

Examples:
    blossom-edge quality blossom-v5-4b-BF16.gguf blossom-v5-4b-Q4_K_M.gguf
    blossom-edge quality model-BF16.gguf --text wiki.test.raw --ctx 512 --save-base model.kld
    blossom-edge quality model-Q4_K_M.gguf model-Q3_K_M.gguf --base model.kld --json
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.cli.options import InferenceThreadsOpt, JsonOpt


def quality(
    models: Annotated[list[Path], typer.Argument(
        help="The reference GGUF (bf16, f16 or q8_0), then quants of the same model; with --base, quants only.",
        show_default=False)],
    text: Annotated[Path | None, typer.Option(
        "--text", "-f", help="UTF-8 text to score, as llama-perplexity -f (default: the shipped Chinese/English text).",
        show_default=False)] = None,
    ctx: Annotated[int, typer.Option("--ctx", "-c", help="Tokens per chunk, as llama-perplexity -c; the second "
                                     "half of each chunk is scored.")] = 256,
    chunks: Annotated[int | None, typer.Option("--chunks", min=1, help="Score only the first K chunks.",
                                               show_default=False)] = None,
    save_base: Annotated[Path | None, typer.Option(
        "--save-base", help="Save the reference's log-probabilities here (llama-perplexity's "
                            "--kl-divergence-base format), to compare more quants later.", show_default=False)] = None,
    base: Annotated[Path | None, typer.Option(
        "--base", help="Compare with the reference log-probabilities saved in this file (by --save-base or "
                       "llama-perplexity --kl-divergence-base); text, ctx and chunks come from it.",
        show_default=False)] = None,
    threads: InferenceThreadsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Perplexity of each file and KL divergence from the reference, the figures llama-perplexity prints.

    Example: blossom-edge quality model-BF16.gguf model-Q4_K_M.gguf --text wiki.test.raw --ctx 512
    """
    from blossom_edge.base.errors import UsageError
    from blossom_edge.cli.output import Output
    from blossom_edge.quantize.quality import eval_text, measure

    if base is not None and (text is not None or chunks is not None):
        raise UsageError("--base holds the tokens it was made from: --text and --chunks go with the reference run")
    out = Output(json_output)
    report = measure(models, text=eval_text(text) if base is None else None, ctx=ctx, chunks=chunks, base=base,
                     save_base=save_base, threads=threads, progress=out.progress)
    out.data(report.to_dict(), lambda: _render(out, report))


def _render(out, report) -> None:
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import Column, paragraph, table

    columns = ["file", *(Column(c, right=True) for c in ("size", "bpw", "perplexity", "KL mean", "KL median",
                                                         "KL p99", "KL max", "same top"))]
    cells = []
    for r in report.rows:
        kl = r.kl
        figures = (f"{kl.kld_mean:.6f}", f"{kl.kld_median:.6f}", f"{kl.kld_p99:.6f}", f"{kl.kld_max:.6f}",
                   f"{kl.same_top:.3%}") if kl else ("ref", "-", "-", "-", "-")
        cells.append([r.path.name, human_bytes(r.file_size), f"{r.bits_per_weight:.2f}", f"{r.perplexity:.4f}",
                      *figures])
    table(out, columns, cells, title=f"quality on {report.text}, {report.chunks} chunks of {report.ctx} tokens")
    if report.base is not None:
        out.note(f"reference log-probabilities: {report.base} (llama-perplexity --kl-divergence-base reads it)")
    paragraph(out, "lower KL and a higher share of the same top token mean closer to the reference; "
                   "choose the smallest file whose figures you can accept.", style="dim")


def register(app: typer.Typer) -> None:
    app.command("quality")(quality)
