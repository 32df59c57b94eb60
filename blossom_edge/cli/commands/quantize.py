"""`blossom-edge quantize SRC QTYPE`: one command from a model name to a verified quantized GGUF.

Examples:
    blossom-edge quantize 4b q4_k_m
    blossom-edge quantize ./my-checkpoint q8_0 -o out/
    blossom-edge quantize blossom-v5-4b-BF16.gguf q5_k_m --json
    blossom-edge quantize 4b iq2_xs                      # computes its importance matrix first
    blossom-edge quantize 4b iq2_xs --imatrix blossom-v5-4b.imatrix.gguf
    blossom-edge quantize 4b q4_k_m --imatrix auto       # optional for k-quants: calibrated too
    blossom-edge quantize ./Blossom-V7.1-9B q4_k_m --mmproj-type q8_0   # its vision projector in q8_0
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.cli.options import JsonOpt, OutputDirOpt, QuantizeThreadsOpt

QuantSourceArg = Annotated[
    str,
    typer.Argument(
        help="A catalog alias (4b, 9b, …), a Hugging Face repo id (org/name or org/name@revision), a local checkpoint "
        "directory, or a GGUF file to re-quantize.",
        show_default=False,
    ),
]
QTypeArg = Annotated[
    str,
    typer.Argument(help="llama.cpp quant type, any case: q4_k_m, q8_0, iq4_xs, bf16, … "
                        "(`blossom-edge quantize --list-types` shows them all).", show_default=False),
]


def _list_types(value: bool) -> None:
    if not value:
        return
    from blossom_edge.cli.output import Output
    from blossom_edge.quantize.types import QUANT_TYPES

    out = Output()
    for q in QUANT_TYPES:
        extra = f"alias of {q.alias_of.lower()}" if q.alias_of else ("needs an importance matrix (made if not given)"
                                                                   if q.needs_imatrix else "")
        out.print(f"{q.name.lower():10} {q.bpw:6.2f} bpw  {extra}")
    raise typer.Exit()


def quantize(
    source: QuantSourceArg,
    qtype: QTypeArg = "q4_k_m",
    output_dir: OutputDirOpt = None,
    threads: QuantizeThreadsOpt = None,
    imatrix: Annotated[
        str | None,
        typer.Option("--imatrix", metavar="FILE|auto|none",
                     help="Importance matrix: a file (GGUF or legacy .dat, ours or llama-imatrix's), `auto` to "
                          "compute one on the shipped Chinese/English text (the default for types that need one), "
                          "or `none`."),
    ] = None,
    keep_intermediate: Annotated[
        bool, typer.Option("--keep-intermediate", help="Keep the lossless GGUF made on the way.")
    ] = False,
    mmproj: Annotated[
        bool, typer.Option("--mmproj/--no-mmproj",
                           help="Leave a multimodal model's vision projector (mmproj-*.gguf) beside the output.")
    ] = True,
    mmproj_type: Annotated[
        str | None, typer.Option("--mmproj-type", metavar="f16|q8_0",
                                 help="The projector's type when converted from the checkpoint (default: f16).")
    ] = None,
    list_types: Annotated[
        bool | None, typer.Option("--list-types", callback=_list_types, is_eager=True,
                                     help="List every quant type with its typical bits per weight and exit.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Download, convert, quantize with llama.cpp and verify: one verified GGUF and its manifest.

    Example: blossom-edge quantize 4b q4_k_m -o models/
    """
    from blossom_edge.cli.output import Output
    from blossom_edge.quantize.manifest import manifest_path
    from blossom_edge.quantize.pipeline import quantize_pipeline

    out = Output(json_output)
    report = quantize_pipeline(source, qtype, output_dir or Path.cwd(), threads=threads, imatrix=imatrix,
                               keep_intermediate=keep_intermediate, mmproj=mmproj, mmproj_type=mmproj_type,
                               progress=out.progress)
    info = report.verification.info
    out.data({
        "path": str(report.path),
        "manifest": str(manifest_path(report.path)),
        "intermediate": str(report.intermediate) if report.intermediate else None,
        "intermediate_record": report.intermediate_record,
        "qtype": report.qtype.name,
        "source": report.source,
        "bytes": info.file_size,
        "bits_per_weight": round(info.bits_per_weight, 4),
        "tensor_types": info.type_histogram(),
        "generated": report.verification.text,
        "imatrix": report.imatrix,
        "projector": report.projector,
        "timings_seconds": {k: round(v, 3) for k, v in report.timings.items()},
    }, lambda: _render(out, report))


def _render(out, report) -> None:
    from rich.table import Table

    from blossom_edge.base.output import human_bytes
    from blossom_edge.quantize.manifest import manifest_path

    info = report.verification.info
    out.print(f"[bold green]✓[/] {report.path}  {human_bytes(info.file_size)}, "
              f"{info.bits_per_weight:.2f} bits per weight, {report.qtype.name} from {report.source}")
    types = Table(title="tensor types", show_edge=False)
    for col in ("type", "tensors", "weights", "size"):
        types.add_column(col, justify="left" if col == "type" else "right")
    for name, t in sorted(info.types.items(), key=lambda kv: -kv[1].bytes):
        types.add_row(name, str(t.tensors), f"{t.elements:,}", human_bytes(t.bytes))
    out.print(types)
    stages = "  ".join(f"{k} {v:.1f}s" for k, v in report.timings.items())
    out.print(f"stages: {stages}")
    out.print(f"verified: greedy reply to a Blossom prompt began {report.verification.text!r}")
    out.print(f"manifest: {manifest_path(report.path)}")
    if report.imatrix:
        out.print(f"importance matrix ({report.imatrix['made']}): {report.imatrix['file']}")
    if report.projector:
        projector = report.projector
        out.print(f"vision projector ({projector['type']}, {human_bytes(projector['bytes'])}): "
                  f"{report.path.parent / projector['file']}")
    if report.intermediate:
        out.print(f"intermediate kept: {report.intermediate}")


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize)
