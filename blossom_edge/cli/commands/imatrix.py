"""`blossom-edge imatrix MODEL.gguf`: the importance matrix low-bit quant types need, on bilingual text.

Examples:
    blossom-edge imatrix blossom-v5-4b-BF16.gguf
    blossom-edge imatrix model-F16.gguf --text my-chats.txt --text docs.txt --chunks 100 -o model.imatrix.gguf
    blossom-edge quantize blossom-v5-4b-BF16.gguf iq2_xs --imatrix blossom-v5-4b.imatrix.gguf
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.cli.options import InferenceThreadsOpt, JsonOpt, OutputFileOpt


def imatrix(
    model: Annotated[Path, typer.Argument(help="The GGUF to calibrate: its 16-bit (bf16/f16) file is best.",
                                          show_default=False)],
    text: Annotated[
        list[Path] | None,
        typer.Option("--text", help="UTF-8 calibration text; repeat for several files (default: the shipped "
                                    "Chinese/English set)."),
    ] = None,
    ctx: Annotated[int, typer.Option("--ctx", help="Tokens per chunk, as llama-imatrix's -c.")] = 512,
    chunks: Annotated[
        int | None, typer.Option("--chunks", min=1, help="At most this many chunks (default: all of the text).")
    ] = None,
    threads: InferenceThreadsOpt = None,
    output: OutputFileOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Compute an importance matrix in llama.cpp's GGUF format, as llama-imatrix does, through llama-cpp-python.

    The output (default `<model>.imatrix.gguf` in the current directory) is what
    `quantize --imatrix` and llama.cpp's llama-quantize read.

    Example: blossom-edge imatrix blossom-v5-4b-BF16.gguf --chunks 50
    """
    from blossom_edge.cli.output import Output
    from blossom_edge.device.probe import probe
    from blossom_edge.device.threads import performance_cores
    from blossom_edge.imatrix.compute import make_imatrix
    from blossom_edge.imatrix.text import calibration_text

    out = Output(json_output)
    calibration = calibration_text(text)
    result = make_imatrix(model, output, calibration, ctx=ctx, chunks=chunks,
                          threads=threads or performance_cores(probe()), progress=out.progress,
                          provenance={"model": model.name}, text_files=text)
    out.data(result.to_dict(), lambda: out.print(
        f"[bold green]✓[/] {result.path}: {result.entries} weights, {result.chunks} chunks of {result.chunk_size} "
        f"tokens from {', '.join(result.datasets)}; perplexity {result.perplexity:.4f}; "
        f"{result.seconds_per_chunk:.2f} s per chunk"))


def register(app: typer.Typer) -> None:
    app.command("imatrix")(imatrix)
