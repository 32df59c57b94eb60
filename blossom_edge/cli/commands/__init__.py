"""One module per command group; each exposes `register(app)`.

Only typer and the standard library may be imported at module level here and in the
command modules: everything heavy is imported inside the command functions.
"""

from __future__ import annotations

from importlib import import_module

import typer

COMMAND_MODULES = (
    # In the order a user meets them: try it, pick a model, make a GGUF, ship it, measure it.
    "demo", "models",
    "convert", "quantize", "imatrix", "inspect", "quality",
    "chat", "modelfile", "ollama", "release",
    "device", "bench", "fit", "report",
    "termux",
)


def register_all(app: typer.Typer) -> None:
    """Attach every command group to the root app, in the order `--help` lists them."""
    for name in COMMAND_MODULES:
        import_module(f"blossom_edge.cli.commands.{name}").register(app)
