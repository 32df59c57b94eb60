"""`blossom-edge models`: the Blossom family this tool knows, grouped by release line.

Examples:
    blossom-edge models
    blossom-edge models --json | jq '.[] | select(.line == "v6.3") | {alias, repo_id, sources}'
"""

from __future__ import annotations

import typer

from blossom_edge.cli.options import JsonOpt

# How a fact no source was found for is shown: marked, never stated plainly.
UNVERIFIED_MARK = "?"


def models(json_output: JsonOpt = False) -> None:
    """List every Blossom release by line: repository, base model, Ollama name; `?` marks an unsourced fact.

    `--json` carries each fact's source and the list of unverified facts.

    Example: blossom-edge models --json
    """
    from blossom_edge.cli.output import Output
    from blossom_edge.model.catalog import MODELS

    out = Output(json_output)
    out.data([m.to_dict() for m in MODELS], lambda: _render(out))


def _render(out) -> None:
    from blossom_edge.cli.records import Column, paragraph, table
    from blossom_edge.model.catalog import LINES, MODELS

    def shown(model, fact: str, text: str) -> str:
        return f"{text} {UNVERIFIED_MARK}" if fact in model.unverified else text

    columns = ["alias", "repository", "ollama", "base model", "arch", Column("params", right=True), "kind",
               Column("ctx", right=True), "chat"]
    for line in LINES:
        rows = [[", ".join((m.alias, *m.other_aliases)),
                 shown(m, "repo_id", m.repo_id), shown(m, "ollama", m.published or "—"),
                 shown(m, "base_model", m.base_model),
                 shown(m, "architecture", m.architecture.removesuffix("ForCausalLM")),
                 shown(m, "params_b", f"{m.params_b:g}B"), m.kind,
                 shown(m, "context_length", str(m.context_length)),
                 shown(m, "chat_format", m.chat.name if m.chat else "from checkpoint")]
                for m in MODELS if m.line == line]
        table(out, columns, rows, title=f"Blossom {line}")
        out.print("")
    paragraph(out, f"{UNVERIFIED_MARK} = no source found for this fact (unverified); "
                   "`blossom-edge models --json` lists every fact's source.")


def register(app: typer.Typer) -> None:
    app.command("models")(models)
