"""The command line: the typer app, shared options and one module per command."""

from blossom_edge.cli.app import app, main

__all__ = ["app", "main"]
