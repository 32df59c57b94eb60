"""`blossom-edge modelfile`: Ollama Modelfiles for Blossom, checked the way Ollama reads them.

Examples:
    blossom-edge modelfile 4b                                   # azure99/blossom:4b on stdout
    blossom-edge modelfile blossom-v5-4b-Q4_K_M.gguf --gpu -o 4b-gpu.Modelfile   # its tokenizer.chat_template, proved
    blossom-edge modelfile 9b --system "你是一个乐于助人的助手。" --ctx 8192
    blossom-edge modelfile ./Blossom-V6.1-8B                     # from the checkpoint's own chat template, proved
    blossom-edge modelfile --check Modelfile                    # errors with line numbers, as Ollama reports them
    blossom-edge modelfile --check Modelfile --against ./Blossom-V6.1-8B   # does its TEMPLATE prompt like the model?
    blossom-edge modelfile --all modelfiles/                    # regenerate the published set
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from blossom_edge.cli.options import CtxOpt, GpuOpt, JsonOpt, MmprojOpt, ModelOpt, SystemOpt

if TYPE_CHECKING:
    from blossom_edge.cli.output import Output

ModelfileSourceArg = Annotated[
    str | None,
    typer.Argument(help="A GGUF file or checkpoint directory (its own chat template is used), or a catalog "
                        "alias (4b, 9b, 14b, 34b, …) for the file `quantize` would name (the cached "
                        "checkpoint's template when it was downloaded before).", show_default=False),
]
TagOpt = Annotated[
    str | None,
    typer.Option("--tag", help="Ollama tag the Modelfile is for (default: the published one, e.g. 4b or 4b-gpu)."),
]


def _check(path: Path, out: Output, against: Path | None = None) -> None:
    from blossom_edge.base.errors import CorruptFileError
    from blossom_edge.ollama.modelfile import check_file

    result = check_file(path, against)
    match = result.template

    def render() -> None:
        from blossom_edge.cli.records import paragraph

        for p in result.problems:
            where = f"{path}:{p.line}" if p.line else str(path)
            hint = f" (the command that starts on line {result.start})" if result.start and not p.line else ""
            paragraph(out, f"{where}: {'warning' if p.warning else 'error'}: {p.message}{hint}", hanging=2)
        if not result.errors:
            paragraph(out, f"{path}: ok, {len(result.commands)} commands, as Ollama reads it")
        if match is not None and match.matches:
            paragraph(out, f"{path}: TEMPLATE prompts exactly as {match.against} on every probe")

    out.data({"file": str(path), "ok": result.ok,
              "template": None if match is None else {"against": match.against, "matches": match.matches,
                                                      "difference": match.difference},
              "problems": [{"line": p.line or result.start or None, "severity": "warning" if p.warning else "error",
                            "message": p.message} for p in result.problems],
              "commands": [{"line": c.line, "name": c.name, "args": c.args} for c in result.commands]}, render)
    if result.refusal is not None:
        raise CorruptFileError(result.refusal)


def _write_all(directory: Path, qtype: str, out: Output) -> None:
    from rich.markup import escape

    from blossom_edge.ollama.modelfile import write_published_set
    from blossom_edge.quantize.types import parse_qtype

    written, stale = write_published_set(directory, parse_qtype(qtype).name)
    for name in stale:
        out.note(escape(f"not part of the published set (remove it by hand): {directory / name}"))

    def render() -> None:
        for name in written:
            typer.echo(str(directory / name))

    out.data({"directory": str(directory), "written": written, "stale": stale}, render)


def modelfile(
    source: ModelfileSourceArg = None,
    tag: TagOpt = None,
    gpu: GpuOpt = False,
    ctx: CtxOpt = None,
    system: SystemOpt = None,
    model: ModelOpt = None,
    mmproj: MmprojOpt = None,
    qtype: Annotated[str, typer.Option("--qtype", help="Quant type of the GGUF an alias stands for.")] = "q4_k_m",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the Modelfile here (default: stdout).")
    ] = None,
    check: Annotated[
        Path | None, typer.Option("--check", help="Check a Modelfile as Ollama parses it, report errors by line.")
    ] = None,
    against: Annotated[
        Path | None, typer.Option("--against", help="With --check: a checkpoint directory or GGUF whose own chat "
                                                    "template the TEMPLATE must match.")
    ] = None,
    all_dir: Annotated[
        Path | None, typer.Option("--all", help="Write the published azure99/blossom set into this directory.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Render a Blossom Modelfile for a GGUF file, checkpoint or catalog alias, or check any Modelfile.

    The model's own chat template (a checkpoint's, a GGUF's tokenizer.chat_template, or the cached
    checkpoint's for an alias) is turned into the TEMPLATE and proved equal on probe conversations,
    or refused at the first that differs; without one the catalog's format is used. Every value is written so Ollama reads
    it back unchanged, and the file is parsed back before it is written.

    Example: blossom-edge modelfile 4b --gpu -o 4b-gpu.Modelfile
    """
    from blossom_edge.base.errors import UsageError
    from blossom_edge.cli.output import Output

    out = Output(json_output)
    modes = [m for m, on in (("SRC", source is not None), ("--check", check is not None), ("--all", all_dir is not None))
             if on]
    if len(modes) != 1:
        raise UsageError("give exactly one of SRC, --check FILE or --all DIR" +
                         (f" (got {' and '.join(modes)})" if modes else ""))
    if against is not None and check is None:
        raise UsageError("--against goes with --check FILE")
    if check is not None:
        _check(check, out, against)
        return
    if all_dir is not None:
        _write_all(all_dir, qtype, out)
        return
    from blossom_edge.ollama.create import render_for_source

    rendered = render_for_source(source, qtype=qtype, tag=tag, gpu=gpu, num_ctx=ctx, system=system, alias=model,
                                 modelfile_dir=output.parent if output else Path.cwd(), mmproj=mmproj)
    if output is None:
        typer.echo(rendered.text, nl=False)
        return
    from blossom_edge.ollama.modelfile import save

    save(output, rendered.text, source)
    out.data({"file": str(output), "tag": rendered.tag, "model": rendered.model.alias, "from": rendered.from_value,
              "projector": rendered.projector_value},
             lambda: typer.echo(str(output)))


def register(app: typer.Typer) -> None:
    app.command("modelfile")(modelfile)
