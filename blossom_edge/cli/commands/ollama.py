"""`blossom-edge ollama create`: a Blossom model in your running Ollama, from one command.

Examples:
    blossom-edge ollama create 4b                                  # quantize q4_k_m, create blossom-v5-4b:q4_k_m
    blossom-edge ollama create 4b q5_k_m --gpu                     # blossom-v5-4b:q5_k_m-gpu, every layer on the GPU
    blossom-edge ollama create 4b --publish                        # the publisher's azure99/blossom:4b, said so
    blossom-edge ollama create ./Blossom-V6.1-8B q4_k_m            # a checkpoint: its own chat template, proved
    blossom-edge ollama create ./blossom-v5-4b-Q4_K_M.gguf --name me/blossom:test
    OLLAMA_HOST=192.168.1.20:11434 blossom-edge ollama create 9b --name me/blossom:9b --push
"""

from __future__ import annotations

from typing import Annotated

import typer

from blossom_edge.cli.options import CtxOpt, GpuOpt, JsonOpt, MmprojOpt, ModelOpt, OutputDirOpt, SystemOpt

ollama_app = typer.Typer(
    name="ollama",
    help="Put Blossom models into a running Ollama server.\n\nExample: blossom-edge ollama create 4b q4_k_m",
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


@ollama_app.command("create")
def create(
    source: CreateSourceArg,
    qtype: CreateQTypeArg = None,
    gpu: GpuOpt = False,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Ollama model name (default: a local one, e.g. blossom-v5-4b:q4_k_m)."),
    ] = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Create under the publisher's name (azure99/…), replacing a pulled one.")
    ] = False,
    push: Annotated[bool, typer.Option("--push", help="Push the model to ollama.com when created.")] = False,
    ctx: CtxOpt = None,
    system: SystemOpt = None,
    model: ModelOpt = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Ollama server (default: OLLAMA_HOST, else 127.0.0.1:11434).")
    ] = None,
    output_dir: OutputDirOpt = None,
    mmproj: MmprojOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Quantize if needed, write the Modelfile, create the model in Ollama and check what it stored.

    Example: blossom-edge ollama create 4b --gpu
    """
    from blossom_edge.cli.output import Output
    from blossom_edge.ollama.create import create_in_ollama

    out = Output(json_output)
    result = create_in_ollama(source, qtype, gpu=gpu, name=name, publish=publish, push=push, num_ctx=ctx,
                              system=system, alias=model, host=host, output_dir=output_dir, mmproj=mmproj,
                              progress=out.progress, warn=out.note)
    created = result.created

    def render() -> None:
        for line in created.notes:
            out.note(f"note: {line}")
        verb = "created and pushed" if created.pushed else "created"
        source = result.gguf.name + (f" and its projector {result.projector.name}" if result.projector else "")
        out.print(f"{verb} {created.name} from {source}; try: ollama run {created.name}", markup=False,
                  soft_wrap=True)

    out.data({"name": created.name, "gguf": str(result.gguf), "modelfile": str(result.modelfile),
              "digest": created.digest, "uploaded": created.uploaded, "pushed": created.pushed,
              "notes": created.notes, "server": result.server,
              "projector": str(result.projector) if result.projector else None,
              "projector_digest": created.projector_digest}, render)


def register(app: typer.Typer) -> None:
    app.add_typer(ollama_app, name="ollama")
