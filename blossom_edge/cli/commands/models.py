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
    from rich.table import Table

    from blossom_edge.model.catalog import LINES, MODELS

    def shown(model, fact: str, text: str) -> str:
        return f"{text} {UNVERIFIED_MARK}" if fact in model.unverified else text

    # The repository and Ollama name are never cut: their column is as wide as the longest one;
    # the other columns wrap at word boundaries on a narrow terminal.
    ids = max(len(text) for m in MODELS for text in (m.repo_id + " ?", (m.published or "") + " ?"))
    for line in LINES:
        table = Table(title=f"Blossom {line}", title_justify="left")
        table.add_column("alias", overflow="fold")
        table.add_column("repository / ollama", no_wrap=True, min_width=ids)
        for col in ("base model", "arch", "params", "kind", "ctx", "chat"):
            table.add_column(col, justify="right" if col in ("params", "ctx") else "left", overflow="fold")
        for m in (m for m in MODELS if m.line == line):
            table.add_row(", ".join((m.alias, *m.other_aliases)),
                          shown(m, "repo_id", m.repo_id) + "\n" + shown(m, "ollama", m.published or "—"),
                          shown(m, "base_model", m.base_model),
                          shown(m, "architecture", m.architecture.removesuffix("ForCausalLM")),
                          shown(m, "params_b", f"{m.params_b:g}B"), m.kind,
                          shown(m, "context_length", str(m.context_length)),
                          shown(m, "chat_format", m.chat.name if m.chat else "from checkpoint"))
        out.print(table)
    out.print(f"{UNVERIFIED_MARK} = no source found for this fact (unverified); "
              "`blossom-edge models --json` lists every fact's source.")


def register(app: typer.Typer) -> None:
    app.command("models")(models)
