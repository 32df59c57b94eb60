"""`blossom-edge models`: the Blossom family this tool knows.

Examples:
    blossom-edge models
    blossom-edge models --json | jq '.[] | select(.architecture == "Qwen2ForCausalLM") | .alias'
"""

from __future__ import annotations

import typer

from blossom_edge.options import JsonOpt


def models(json_output: JsonOpt = False) -> None:
    """List every Blossom release with its aliases, base model and Ollama name.

    Example: blossom-edge models --json
    """
    from blossom_edge.catalog import MODELS
    from blossom_edge.output import out_console, print_json

    if json_output:
        print_json([m.to_dict() for m in MODELS])
        return
    from rich.table import Table

    table = Table(title="Blossom models")
    for col in ("alias", "repository", "base model", "arch", "params", "ctx", "chat", "ollama"):
        table.add_column(col, justify="right" if col in ("params", "ctx") else "left")
    for m in MODELS:
        aliases = ", ".join((m.alias, *m.other_aliases))
        table.add_row(aliases, m.repo_id, m.base_model, m.architecture.removesuffix("ForCausalLM"),
                      f"{m.params_b:.1f}B", str(m.context_length), m.chat.name, m.ollama_name())
    out_console().print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
