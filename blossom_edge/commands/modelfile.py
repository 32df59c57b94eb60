"""`blossom-edge modelfile`: Ollama Modelfiles for Blossom, checked the way Ollama reads them.

Examples:
    blossom-edge modelfile 4b                                   # azure99/blossom:4b on stdout
    blossom-edge modelfile blossom-v5-4b-Q4_K_M.gguf --gpu -o 4b-gpu.Modelfile
    blossom-edge modelfile 9b --system "你是一个乐于助人的助手。" --ctx 8192
    blossom-edge modelfile --check Modelfile                    # errors with line numbers, as Ollama reports them
    blossom-edge modelfile --all modelfiles/                    # regenerate the published set
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from blossom_edge.options import JsonOpt

if TYPE_CHECKING:
    from blossom_edge.catalog import ModelInfo

ModelfileSourceArg = Annotated[
    str | None,
    typer.Argument(help="A GGUF file, or a catalog alias (4b, 9b, 14b, 34b, v6-7b, …) for the file "
                        "`quantize` would name.", show_default=False),
]
TagOpt = Annotated[
    str | None,
    typer.Option("--tag", help="Ollama tag the Modelfile is for (default: the published one, e.g. 4b or 4b-gpu)."),
]
GpuOpt = Annotated[
    bool,
    typer.Option("--gpu", help="Keep every layer on the GPU (PARAMETER num_gpu 999); on Android this needs "
                               "Termux's Vulkan backend."),
]
CtxOpt = Annotated[int | None, typer.Option("--ctx", min=1, help="Context size num_ctx (default: the model's context, at most 4096).")]
SystemOpt = Annotated[str | None, typer.Option("--system", help="System prompt (default: Blossom's own).")]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Which Blossom release a GGUF is, when its file name does not say."),
]


def identify_gguf(path: Path, alias: str | None) -> ModelInfo:
    """The catalog entry for a GGUF: from --model, else from the `quantize` file name."""
    from blossom_edge.catalog import MODELS, resolve
    from blossom_edge.errors import UsageError

    if alias:
        return resolve(alias)
    name = path.name.lower()
    matches = [m for m in MODELS if name.startswith(f"{m.name}-") or name.startswith(f"{m.name}.")]
    if not matches:
        raise UsageError(f"cannot tell which Blossom release {path.name} is from its name; "
                         "say it with --model ALIAS (see `blossom-edge models`)")
    return max(matches, key=lambda m: len(m.name))


def choose_tag(model: ModelInfo, tag: str | None, gpu: bool) -> str:
    """The tag, checked by Ollama's rules and against --gpu (a `-gpu` tag must be the GPU variant)."""
    from blossom_edge.errors import UsageError
    from blossom_edge.modelfile import default_tag, is_gpu_tag
    from blossom_edge.ollama_client import check_tag

    tag = check_tag(tag) if tag else default_tag(model, gpu)
    if is_gpu_tag(tag) != gpu:
        wanted = "add --gpu" if is_gpu_tag(tag) else "drop --gpu or use a tag ending in -gpu"
        raise UsageError(f"tag '{tag}' {'names' if is_gpu_tag(tag) else 'does not name'} the GPU variant: {wanted}")
    return tag


def from_path(gguf: Path, modelfile_dir: Path) -> str:
    """FROM as Ollama resolves it: relative to the Modelfile's directory."""
    try:
        rel = os.path.relpath(gguf.resolve(), modelfile_dir.resolve())
    except ValueError:
        return str(gguf.resolve())
    return rel if rel.startswith(("./", "../")) else f"./{rel}"


def _check(path: Path, json_output: bool) -> None:
    from blossom_edge import modelfile as mf
    from blossom_edge.errors import CorruptFileError
    from blossom_edge.output import print_json

    try:
        commands = mf.read(path)
    except mf.ModelfileError as exc:
        commands, problems, start = [], [exc.problem], exc.start
    else:
        problems, start = mf.check(commands), 0
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
    from blossom_edge.atomic import atomic_write_text
    from blossom_edge.modelfile import published_set
    from blossom_edge.output import note, print_json

    directory.mkdir(parents=True, exist_ok=True)
    files = published_set(qtype)
    for name, text in files.items():
        atomic_write_text(directory / name, text)
    stale = sorted(p.name for p in directory.glob("*.Modelfile") if p.name not in files)
    for name in stale:
        note(f"not part of the published set (remove it by hand): {directory / name}")
    if json_output:
        print_json({"directory": str(directory), "written": sorted(files), "stale": stale})
    else:
        for name in sorted(files):
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
    from blossom_edge.catalog import OLLAMA_NAMESPACE
    from blossom_edge.errors import NotFoundError, UsageError
    from blossom_edge.modelfile import blossom_modelfile
    from blossom_edge.quantize import parse_qtype

    modes = [m for m, on in (("SRC", source is not None), ("--check", check is not None), ("--all", all_dir is not None))
             if on]
    if len(modes) != 1:
        raise UsageError("give exactly one of SRC, --check FILE or --all DIR" +
                         (f" (got {' and '.join(modes)})" if modes else ""))
    if check is not None:
        _check(check, json_output)
        return
    quant = parse_qtype(qtype).name
    if all_dir is not None:
        _write_all(all_dir, quant, json_output)
        return
    out_dir = output.parent if output else Path.cwd()
    if source.lower().endswith(".gguf") or Path(source).is_file():
        gguf = Path(source).expanduser()
        if not gguf.is_file():
            raise NotFoundError(f"no such GGUF file: {gguf}")
        info = identify_gguf(gguf, model)
        from_value = from_path(gguf, out_dir)
    else:
        from blossom_edge.catalog import resolve

        info = resolve(source)
        from_value = f"./{info.gguf_filename(quant)}"
    chosen = choose_tag(info, tag, gpu)
    text = blossom_modelfile(info, from_value, name=f"{OLLAMA_NAMESPACE}:{chosen}", gpu=gpu, num_ctx=ctx,
                             system=system)
    if output is None:
        typer.echo(text, nl=False)
        return
    from blossom_edge.atomic import atomic_write_text

    atomic_write_text(output, text)
    if json_output:
        from blossom_edge.output import print_json

        print_json({"file": str(output), "tag": chosen, "model": info.alias, "from": from_value})
    else:
        typer.echo(str(output))


def register(app: typer.Typer) -> None:
    app.command("modelfile")(modelfile)
