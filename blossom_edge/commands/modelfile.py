"""`blossom-edge modelfile`: Ollama Modelfiles for Blossom, checked the way Ollama reads them.

Examples:
    blossom-edge modelfile 4b                                   # azure99/blossom:4b on stdout
    blossom-edge modelfile blossom-v5-4b-Q4_K_M.gguf --gpu -o 4b-gpu.Modelfile
    blossom-edge modelfile 9b --system "你是一个乐于助人的助手。" --ctx 8192
    blossom-edge modelfile --check Modelfile                    # errors with line numbers, as Ollama reports them
    blossom-edge modelfile --all modelfiles/                    # regenerate the published set
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.options import CtxOpt, GpuOpt, JsonOpt, ModelOpt, SystemOpt

ModelfileSourceArg = Annotated[
    str | None,
    typer.Argument(help="A GGUF file, or a catalog alias (4b, 9b, 14b, 34b, v6-7b, …) for the file "
                        "`quantize` would name.", show_default=False),
]
TagOpt = Annotated[
    str | None,
    typer.Option("--tag", help="Ollama tag the Modelfile is for (default: the published one, e.g. 4b or 4b-gpu)."),
]


def _check(path: Path, json_output: bool) -> None:
    from blossom_edge.errors import CorruptFileError
    from blossom_edge.ollama.modelfile import check_file
    from blossom_edge.output import print_json

    commands, problems, start = check_file(path)
    errors = [p for p in problems if not p.warning]
    if json_output:
        print_json({"file": str(path), "ok": not errors,
                    "problems": [{"line": p.line or start or None, "severity": "warning" if p.warning else "error",
                                  "message": p.message} for p in problems],
                    "commands": [{"line": c.line, "name": c.name, "args": c.args} for c in commands]})
    else:
        for p in problems:
            where = f"{path}:{p.line}" if p.line else str(path)
            hint = f" (the command that starts on line {start})" if start and not p.line else ""
            typer.echo(f"{where}: {'warning' if p.warning else 'error'}: {p.message}{hint}")
        if not errors:
            typer.echo(f"{path}: ok, {len(commands)} commands, as Ollama reads it")
    if errors:
        raise CorruptFileError(f"{path}: Ollama would refuse this Modelfile: {errors[0].message}")


def _write_all(directory: Path, qtype: str, json_output: bool) -> None:
    from rich.markup import escape

    from blossom_edge.ollama.modelfile import write_published_set
    from blossom_edge.output import note, print_json
    from blossom_edge.quantize.types import parse_qtype

    written, stale = write_published_set(directory, parse_qtype(qtype).name)
    for name in stale:
        note(escape(f"not part of the published set (remove it by hand): {directory / name}"))
    if json_output:
        print_json({"directory": str(directory), "written": written, "stale": stale})
    else:
        for name in written:
            typer.echo(str(directory / name))


def modelfile(
    source: ModelfileSourceArg = None,
    tag: TagOpt = None,
    gpu: GpuOpt = False,
    ctx: CtxOpt = None,
    system: SystemOpt = None,
    model: ModelOpt = None,
    qtype: Annotated[str, typer.Option("--qtype", help="Quant type of the GGUF an alias stands for.")] = "q4_k_m",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the Modelfile here (default: stdout).")
    ] = None,
    check: Annotated[
        Path | None, typer.Option("--check", help="Check a Modelfile as Ollama parses it, report errors by line.")
    ] = None,
    all_dir: Annotated[
        Path | None, typer.Option("--all", help="Write the published azure99/blossom set into this directory.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Render a Blossom Modelfile for a GGUF file or catalog alias, or check any Modelfile.

    Every value is written so Ollama reads it back unchanged, and the file is parsed back
    before it is written; a system prompt Ollama cannot represent is refused.

    Example: blossom-edge modelfile 4b --gpu -o 4b-gpu.Modelfile
    """
    from blossom_edge.errors import UsageError

    modes = [m for m, on in (("SRC", source is not None), ("--check", check is not None), ("--all", all_dir is not None))
             if on]
    if len(modes) != 1:
        raise UsageError("give exactly one of SRC, --check FILE or --all DIR" +
                         (f" (got {' and '.join(modes)})" if modes else ""))
    if check is not None:
        _check(check, json_output)
        return
    if all_dir is not None:
        _write_all(all_dir, qtype, json_output)
        return
    from blossom_edge.ollama.create import render_for_source

    rendered = render_for_source(source, qtype=qtype, tag=tag, gpu=gpu, num_ctx=ctx, system=system, alias=model,
                                 modelfile_dir=output.parent if output else Path.cwd())
    if output is None:
        typer.echo(rendered.text, nl=False)
        return
    from blossom_edge.atomic import atomic_write_text, refuse_overwriting

    refuse_overwriting(output, [Path(source)])
    atomic_write_text(output, rendered.text)
    if json_output:
        from blossom_edge.output import print_json

        print_json({"file": str(output), "tag": rendered.tag, "model": rendered.model.alias,
                    "from": rendered.from_value})
    else:
        typer.echo(str(output))


def register(app: typer.Typer) -> None:
    app.command("modelfile")(modelfile)
