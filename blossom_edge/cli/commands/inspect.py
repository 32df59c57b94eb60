"""`blossom-edge inspect FILE.gguf`: what a GGUF holds and how much RAM it needs to run.

Examples:
    blossom-edge inspect blossom-v5-4b-Q4_K_M.gguf
    blossom-edge inspect blossom-v5-4b-Q4_K_M.gguf --ctx 8192
    blossom-edge inspect blossom-v5-4b-Q4_K_M.gguf --json | jq .memory.total
    blossom-edge inspect mmproj-blossom-v7-9b-F16.gguf   # a vision projector: its encoder's facts
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from blossom_edge.cli.options import JsonOpt

DEFAULT_CTX = 4096


def inspect(
    path: Annotated[Path, typer.Argument(help="A GGUF file.", show_default=False)],
    ctx: Annotated[int, typer.Option("--ctx", "-c", min=1, help="Context length for the RAM estimate.")] = DEFAULT_CTX,
    json_output: JsonOpt = False,
) -> None:
    """Architecture, parameters, tensor types, bits per weight, chat template, special tokens and RAM.

    For a vision projector (mmproj-*.gguf): projector type, image and patch size, blocks, widths.

    Example: blossom-edge inspect blossom-v5-4b-Q4_K_M.gguf --ctx 2048
    """
    from blossom_edge.cli.output import Output
    from blossom_edge.inputs.gguf_inspect import inspect_report

    out = Output(json_output)
    data = inspect_report(path, ctx)
    out.data(data, lambda: _render_projector(out, data) if data["kind"] == "projector" else _render(out, data))


def _count(n: int) -> str:
    return f"{n / 1e9:.2f} B ({n:,})" if n >= 1e9 else f"{n / 1e6:.1f} M ({n:,})"


def _types_table(out, data: dict[str, Any]) -> None:
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import Column, table

    table(out, ["type", *(Column(c, right=True) for c in ("tensors", "weights", "size"))],
          [[name, str(t["tensors"]), f"{t['elements']:,}", human_bytes(t["bytes"])]
           for name, t in sorted(data["types"].items(), key=lambda kv: -kv[1]["bytes"])], title="tensor types")


def _render_projector(out, data: dict[str, Any]) -> None:
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import fields

    vision = {k: "-" if v is None else str(v) for k, v in data["vision"].items()}
    rows = [
        ("architecture", data["architecture"]),
        ("projector type", data["projector_type"] or "-"),
        ("name", data["name"] or "-"),
        ("image / patch size", f"{vision['image_size']} / {vision['patch_size']}"),
        ("blocks / width", f"{vision['block_count']} / {vision['embedding_length']}"),
        ("feed forward / heads", f"{vision['feed_forward_length']} / {vision['head_count']}"),
        ("projects to", f"{vision['projection_dim']} (the text model's width)"
                        + ("" if data["vision"]["spatial_merge_size"] is None else
                           f", merging {vision['spatial_merge_size']}×{vision['spatial_merge_size']} patches")),
        ("file type", data["file_type_name"] or str(data["file_type"])),
        ("parameters", _count(data["n_params"])),
        ("tensors", f"{data['tensors']}, {human_bytes(data['tensor_bytes'])}, "
                    f"{data['bits_per_weight']:.2f} bits per weight"),
    ]
    fields(out, rows, title=f"{data['path']}  {human_bytes(data['file_size'])}  (vision projector)")
    out.print("")
    _types_table(out, data)


def _render(out, data: dict[str, Any]) -> None:
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import fields, paragraph

    rows = [
        ("architecture", data["architecture"]),
        ("name", data["name"] or "-"),
        ("parameters", _count(data["n_params"])),
        ("bits per weight", f"{data['bits_per_weight']:.2f}"),
        ("context length", str(data["context_length"])),
        ("layers / width", f"{data['n_layer']} / {data['n_embd']}"),
        ("heads / kv heads", f"{data['n_head']} / {data['n_head_kv']}"),
        ("vocabulary", str(data["vocab_size"])),
        *([("experts", f"{data['experts']['count']}, {data['experts']['used']} per token "
                       f"({human_bytes(data['experts']['bytes'])} held, read only when routed)")]
          if data["experts"] else []),
        *([("layer kinds", f"{data['layer_kinds']['full_attention']} full attention (KV cache), "
                           f"{data['layer_kinds']['linear_attention']} linear attention (fixed state)")]
          if data["layer_kinds"]["linear_attention"] else []),
        ("special tokens", ", ".join(f"{k}={v}" for k, v in data["special_tokens"].items()) or "-"),
    ]
    fields(out, rows, title=f"{data['path']}  {human_bytes(data['file_size'])}")
    out.print("")
    _types_table(out, data)
    mem = data["memory"]
    paragraph(
        out, f"RAM at {mem['n_ctx']} tokens of context: about {human_bytes(mem['total'])} = weights "
        f"{human_bytes(mem['weights'])} + KV cache {human_bytes(mem['kv_cache'])} + compute "
        f"{human_bytes(mem['compute'] + mem['output'])} + runtime {human_bytes(mem['runtime'])}"
    )
    template = data["chat_template"]
    out.print("chat template:" if template else "chat template: none", style="dim")
    if template:
        out.print(template, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
