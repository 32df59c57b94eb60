"""`blossom-edge convert`: Hugging Face checkpoint → GGUF, without torch, in bounded memory.

Examples:
    blossom-edge convert 4b                          # alias: download, write blossom-v5-4b-BF16.gguf
    blossom-edge convert Azure99/blossom-v5.1-9b@main --outtype q8_0
    blossom-edge convert ./my-checkpoint -o model-f16.gguf --outtype f16
    blossom-edge convert ./my-checkpoint --dry-run   # print the plan, write nothing
    blossom-edge convert ./blossom-v7-9b --no-mmproj # the text model only, no mmproj-*.gguf

A multimodal checkpoint (Qwen3.5's vision tower) also gets its projector, `mmproj-<name>.gguf`
beside the GGUF, of the same type, as llama.cpp's `convert_hf_to_gguf.py --mmproj` writes it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from blossom_edge.cli.options import JsonOpt, OutputFileOpt, SourceArg

OuttypeOpt = Annotated[
    str,
    typer.Option("--outtype", help="f32, f16, bf16, q8_0, or auto (keep the source's 16-bit type)."),
]


def convert(
    source: SourceArg,
    output: OutputFileOpt = None,
    outtype: OuttypeOpt = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (tensors, types, size); write nothing.")] = False,
    no_mmproj: Annotated[bool, typer.Option(
        "--no-mmproj", help="Skip a multimodal checkpoint's vision projector (mmproj-<name>.gguf).")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Convert a Hugging Face checkpoint (alias, org/name[@revision] or directory) to GGUF.

    A checkpoint with a vision tower also gets mmproj-<name>.gguf beside it (--no-mmproj: not).

    Example: blossom-edge convert 4b --outtype bf16
    """
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.output import Output
    from blossom_edge.convert import plan_conversion
    from blossom_edge.inputs.hub import resolve_source

    out = Output(json_output)
    local = resolve_source(source)
    with plan_conversion(local, output, outtype, mmproj=not no_mmproj) as conversion:
        if dry_run:
            _show_plan(out, conversion)
            return
        result = conversion.write(progress=out.progress)
    summary = {
        "path": str(result.path),
        "outtype": result.outtype,
        "tensors": result.tensor_count,
        "bytes": result.bytes_written,
        "seconds": round(result.seconds, 3),
        "source": local.describe(),
        "projector": None if result.projector is None else {
            "path": str(result.projector.path), "outtype": result.projector.outtype,
            "tensors": result.projector.tensor_count, "bytes": result.projector.bytes_written},
    }

    def wrote() -> None:
        rate = result.bytes_written / result.seconds if result.seconds else 0
        out.note(f"wrote {result.path} ({human_bytes(result.bytes_written)}, {result.tensor_count} tensors, "
                 f"{result.outtype}) in {result.seconds:.1f} s ({human_bytes(rate)}/s)")
        if result.projector is not None:
            out.note(f"wrote {result.projector.path} (vision projector, {human_bytes(result.projector.bytes_written)}, "
                     f"{result.projector.tensor_count} tensors, {result.projector.outtype})")

    out.data(summary, wrote)


def _rows(plan) -> list[dict]:
    return [
        {"name": t.name, "source": t.source.name, "shape": list(t.shape), "from": t.source.dtype,
         "to": t.qtype.name, "bytes": t.nbytes}
        for t in plan.tensors
    ]


def _show_plan(out, conversion) -> None:
    from blossom_edge.convert.projector import n_params

    plan, projector = conversion.plan, conversion.projector
    rows = _rows(plan)
    projector_data = None if projector is None else {
        "output": str(projector.output), "architecture": projector.plan.arch.arch_name,
        "outtype": projector.plan.outtype, "n_params": n_params(projector.plan),
        "tensor_bytes": projector.plan.tensor_bytes, "tensors": _rows(projector.plan)}

    def tables() -> None:
        _plan_table(out, conversion.output, plan, rows, plan.n_params)
        if projector_data is not None:
            _plan_table(out, projector.output, projector.plan, projector_data["tensors"], projector_data["n_params"])

    out.data({"output": str(conversion.output), "architecture": plan.arch.arch_name, "outtype": plan.outtype,
              "n_params": plan.n_params, "tensor_bytes": plan.tensor_bytes, "tensors": rows,
              "projector": projector_data}, tables)


def _plan_table(out, output, plan, rows: list[dict], params: int) -> None:
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import Column, table

    table(out, ["gguf tensor", "shape", "from", "to", Column("size", right=True)],
          [[row["name"], "×".join(map(str, row["shape"])), row["from"], row["to"], human_bytes(row["bytes"])]
           for row in rows],
          title=f"{output} ({plan.arch.arch_name}, {plan.outtype}) — dry run, nothing written",
          total=[f"{len(rows)} tensors", f"{params / 1e9:.3f}B params", "", "", human_bytes(plan.tensor_bytes)])


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
