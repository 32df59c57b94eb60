"""`blossom-edge ollama create`: a Blossom model in your running Ollama, from one command.

Examples:
    blossom-edge ollama create 4b                                  # quantize q4_k_m, create azure99/blossom:4b
    blossom-edge ollama create 4b q5_k_m --gpu                     # azure99/blossom:4b-gpu, every layer on the GPU
    blossom-edge ollama create ./blossom-v5-4b-Q4_K_M.gguf --name me/blossom:test
    OLLAMA_HOST=192.168.1.20:11434 blossom-edge ollama create 9b --push
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from blossom_edge.commands.modelfile import CtxOpt, GpuOpt, ModelOpt, SystemOpt
from blossom_edge.options import JsonOpt, OutputDirOpt

if TYPE_CHECKING:
    from blossom_edge.catalog import ModelInfo

ollama_app = typer.Typer(
    name="ollama",
    help="Put Blossom models into a running Ollama server.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

CreateSourceArg = Annotated[
    str,
    typer.Argument(help="A GGUF file (used as it is), or a catalog alias (4b, 9b, …), Hugging Face repo id or "
                        "checkpoint directory to quantize first.", show_default=False),
]
CreateQTypeArg = Annotated[
    str | None,
    typer.Argument(help="Quant type when quantizing (default q4_k_m).", show_default=False),
]


def _identify(source: str, is_gguf: bool, alias: str | None) -> ModelInfo:
    from blossom_edge.catalog import lookup, resolve
    from blossom_edge.commands.modelfile import identify_gguf
    from blossom_edge.errors import UsageError

    if is_gguf:
        return identify_gguf(Path(source).expanduser(), alias)
    if alias:
        return resolve(alias)
    found = lookup(source) or lookup(Path(source).name)
    if found is None:
        raise UsageError(f"cannot tell which Blossom release '{source}' is; say it with --model ALIAS "
                         "(see `blossom-edge models`)")
    return found


@ollama_app.command("create")
def create(
    source: CreateSourceArg,
    qtype: CreateQTypeArg = None,
    gpu: GpuOpt = False,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Ollama model name (default: the published one, azure99/blossom:TAG)."),
    ] = None,
    push: Annotated[bool, typer.Option("--push", help="Push the model to ollama.com when created.")] = False,
    ctx: CtxOpt = None,
    system: SystemOpt = None,
    model: ModelOpt = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Ollama server (default: OLLAMA_HOST, else 127.0.0.1:11434).")
    ] = None,
    output_dir: OutputDirOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Quantize if needed, write the Modelfile, create the model in Ollama and check what it stored.

    Example: blossom-edge ollama create 4b --gpu
    """
    from blossom_edge import ollama_client as oc
    from blossom_edge.atomic import atomic_write_text
    from blossom_edge.catalog import DEFAULT_QTYPE
    from blossom_edge.commands.modelfile import choose_tag, from_path
    from blossom_edge.errors import NotFoundError, UsageError
    from blossom_edge.modelfile import blossom_modelfile
    from blossom_edge.output import note, print_json
    from blossom_edge.quantize import parse_qtype

    is_gguf = source.lower().endswith(".gguf") or Path(source).expanduser().is_file()
    if is_gguf and qtype:
        raise UsageError("QTYPE applies when quantizing; a GGUF file is used as it is")
    quant = None if is_gguf else parse_qtype(qtype or DEFAULT_QTYPE).name.lower()
    info = _identify(source, is_gguf, model)
    full_name = oc.parse_model_name(name or info.ollama_name(gpu=gpu))
    tag = choose_tag(info, full_name.tag, gpu)
    if is_gguf and not Path(source).expanduser().is_file():
        raise NotFoundError(f"no such GGUF file: {source}")
    client = oc.connect(host)
    url = oc.server_url(client)
    oc.ping(client, url)

    out_dir = output_dir or Path.cwd()
    if quant is None:
        gguf = Path(source).expanduser()
    else:
        from blossom_edge.quantize import quantize_source

        gguf = quantize_source(source, quant, out_dir)
    modelfile_dir = output_dir or gguf.parent
    modelfile_path = modelfile_dir / f"{tag}.Modelfile"
    text = blossom_modelfile(info, from_path(gguf, modelfile_dir), name=str(full_name), gpu=gpu, num_ctx=ctx,
                             system=system)
    atomic_write_text(modelfile_path, text)
    note(f"wrote {modelfile_path}")
    created = oc.create_model(client, str(full_name), text, modelfile_dir, url, progress=note, push=push)
    if json_output:
        print_json({"name": created.name, "gguf": str(gguf), "modelfile": str(modelfile_path),
                    "digest": created.digest, "uploaded": created.uploaded, "pushed": created.pushed,
                    "notes": created.notes, "server": url})
        return
    for line in created.notes:
        note(f"note: {line}")
    verb = "created and pushed" if created.pushed else "created"
    typer.echo(f"{verb} {created.name} from {gguf.name}; try: ollama run {created.name}")


def register(app: typer.Typer) -> None:
    app.add_typer(ollama_app, name="ollama")
